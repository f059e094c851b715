package tests

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/emotionlab/emotion/host"
	"github.com/emotionlab/emotion/model"
)

// python is the interpreter with PyTorch (Debian's python3-torch), or ""
// when there is none.
func python(t *testing.T) string {
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(p, "-c", "import torch").Run() == nil {
			return p
		}
	}
	return ""
}

// TestCheckpointsLoadIntoPyTorch saves each model as a checkpoint, loads it
// into the PyTorch modules of tests/pytorch_baseline.py with
// load_state_dict(strict=True), and checks that PyTorch computes the same
// logits as emotion on the same inputs: the names, the layouts and the
// formulas (gate order, packed reverse direction, masked attention, pooling)
// are PyTorch's. It runs where PyTorch is installed (python3-torch) and is
// skipped elsewhere.
func TestCheckpointsLoadIntoPyTorch(t *testing.T) {
	forEachModel(t, func(t *testing.T, py, kind string) {
		c := newPyTorchCase(t, kind, 1)
		logits, err := c.net.Forward(&c.in)
		if err != nil {
			t.Fatal(err)
		}
		want := download(t, c.be, logits)
		got := c.run(t, py, nil)
		worst := worstRelative(got.Logits, want)
		t.Logf("%s model: worst relative difference to PyTorch %.2g", kind, worst)
		if len(got.Logits) != c.in.Size || worst > 1e-4 {
			t.Errorf("PyTorch's logits differ from emotion's: worst relative difference %.3g\nPyTorch %v\nemotion %v", worst, got.Logits, want)
		}
	})
}

// TestTrainingStepMatchesPyTorch trains one step of each model as the
// Trainer does (class-weighted cross-entropy with an ignored label, the
// hand-written backward of every layer, gradient clipping, Adam) and the
// same step in PyTorch on the same checkpoint and batch (autograd,
// clip_grad_norm_, torch.optim.Adam): the loss, every parameter's gradient
// and every parameter after the update must agree with PyTorch's float64
// step. Dropout is off on both sides, its masks being emotion's own. Each
// model runs without label smoothing and with label_smoothing=0.1.
func TestTrainingStepMatchesPyTorch(t *testing.T) {
	forEachModel(t, func(t *testing.T, py, kind string) {
		for _, smoothing := range []float32{0, 0.1} {
			t.Run(fmt.Sprintf("label_smoothing=%g", smoothing), func(t *testing.T) { trainingStepMatchesPyTorch(t, py, kind, smoothing) })
		}
	})
}

func trainingStepMatchesPyTorch(t *testing.T, py, kind string, smoothing float32) {
	// Weights three times their initial size: at the initial ones
	// the attention pooling is nearly uniform and its gradients
	// are rounding noise (1e-11), which Adam's first step, g/|g|,
	// would blow up to differences of lr·1e-3.
	c := newPyTorchCase(t, kind, 3)
	c.in.Labels[1] = -1 // ignored, as a context-only utterance
	weights := []float32{1.15, 0.9, 0.81, 1.28}
	// Adam's ε well above rounding noise: the key bias of the
	// attention has a gradient of exactly 0 (a constant added to
	// every score), computed as ±1e-9 on both sides, which the
	// first step, g/(|g| + ε), would otherwise make ±lr.
	const lr, eps, clip = 0.01, 1e-4, 0.5
	logits, err := c.net.Forward(&c.in)
	if err != nil {
		t.Fatal(err)
	}
	loss, err := model.NewCrossEntropyLoss(c.be, 4, weights)
	if err != nil {
		t.Fatal(err)
	}
	defer loss.Release()
	loss.Smoothing = smoothing
	lossV := download(t, c.be, loss.Forward(c.in.Size, logits, c.net.Labels()))
	c.net.Backward(loss.Grad())
	params := c.net.Params()
	grads := map[string][]float32{}
	for _, p := range params {
		grads[p.Name] = download(t, c.be, p.Grad)
	}
	opt := model.NewAdam(c.be, params, lr)
	opt.Eps, opt.ClipNorm = eps, clip
	opt.Update()
	got := c.run(t, py, map[string]any{"labels": c.in.Labels, "class_weights": weights, "lr": lr, "eps": eps, "clip": clip,
		"label_smoothing": smoothing})

	if d := math.Abs(got.Loss - float64(lossV[0])); d > 1e-5*math.Abs(got.Loss) {
		t.Errorf("loss: emotion %v, PyTorch %v", lossV[0], got.Loss)
	}
	if len(got.Grads) != len(params) || len(got.Updated) != len(params) {
		t.Fatalf("PyTorch has %d gradients and %d parameters, emotion %d parameters", len(got.Grads), len(got.Updated), len(params))
	}
	worstGrad, worstStep := 0.0, 0.0
	for _, p := range params {
		// Each tensor to its own scale, the largest of PyTorch's
		// values, and within three times the farthest PyTorch's own
		// float32 gradient is off its float64 one (float32's
		// rounding on this tensor: up to 6e-4 where the attention
		// pooling's gradients cancel) or 1e-4. The farthest of four
		// float32 runs, the parameters as given and nudged by an ulp
		// three times: one run alone lands anywhere from 9e-5 to
		// 4.3e-4 off on the attention pooling's context vector.
		rounding := 0.0
		for _, g32 := range got.Grads32 {
			rounding = max(rounding, tensorDiff(nil, "", got.Grads[p.Name], float32s(g32[p.Name]), 0))
		}
		tol := max(1e-4, 3*rounding)
		g := tensorDiff(t, p.Name+" gradient", got.Grads[p.Name], grads[p.Name], tol)
		u := tensorDiff(t, p.Name+" after the step", got.Updated[p.Name], download(t, c.be, p.Value), 1e-5)
		worstGrad, worstStep = max(worstGrad, g), max(worstStep, u)
	}
	t.Logf("%s model: loss %.6f; worst gradient difference %.2g of its tensor's largest, worst parameter after the step %.2g", kind, lossV[0], worstGrad, worstStep)
}

// forEachModel runs f as a subtest for each model kind with py, the
// interpreter with PyTorch; without one the test is skipped.
func forEachModel(t *testing.T, f func(t *testing.T, py, kind string)) {
	py := python(t)
	if py == "" {
		t.Skip("no python3 with torch (Debian: apt-get install python3-torch)")
	}
	for _, kind := range []string{model.KindSentence, model.KindDialog} {
		t.Run(kind, func(t *testing.T) { f(t, py, kind) })
	}
}

// pytorchCase is a small network of one kind with a random batch, saved as
// a checkpoint for tests/pytorch_check.py.
type pytorchCase struct {
	be   host.Backend
	net  model.Network
	in   model.Inputs
	ckpt string
}

// newPyTorchCase builds it with its initial parameters times scale.
func newPyTorchCase(t *testing.T, kind string, scale float32) *pytorchCase {
	t.Helper()
	be := host.NewCPU(0)
	cfg := model.DefaultConfig(kind, 57, 3)
	cfg.Embed, cfg.Hidden, cfg.Dense, cfg.DialogHid, cfg.AttnDim, cfg.Heads, cfg.Seed = 11, 9, 13, 10, 7, 4, 5
	net, err := model.New(be, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(net.Release)
	net.SetTraining(false)
	if scale != 1 {
		for _, p := range net.Params() {
			be.Scale(scale, p.Value)
		}
	}
	turns := 1
	if kind == model.KindDialog {
		turns = 6
	}
	c := &pytorchCase{be: be, net: net, in: randomInputs(rand.New(rand.NewPCG(8, 8)), 9, turns, 12, cfg.Vocab, cfg.SpeakerDim)}
	c.ckpt = filepath.Join(t.TempDir(), "model.safetensors")
	vocab := make([]string, cfg.Vocab)
	for i := range vocab {
		vocab[i] = string(rune(0x4e00 + i))
	}
	if err := model.SaveModel(c.ckpt, be, net, nil, model.Meta{Vocab: vocab, Labels: []string{"angry", "happy", "neutral", "sad"}}, false); err != nil {
		t.Fatal(err)
	}
	return c
}

// pytorchResult is what tests/pytorch_check.py prints.
type pytorchResult struct {
	Logits         [][]float64
	Loss           float64
	Grads, Updated map[string][]float64
	Grads32        []map[string][]float64 // PyTorch's float32 gradients, as given, then three times nudged by an ulp
}

// run runs tests/pytorch_check.py on c's checkpoint and batch, with the
// training fields extra (nil: logits only).
func (c *pytorchCase) run(t *testing.T, py string, extra map[string]any) pytorchResult {
	t.Helper()
	in := map[string]any{"size": c.in.Size, "turns": c.in.Turns, "max_len": c.in.MaxLen,
		"tokens": c.in.Tokens, "lengths": c.in.Lengths, "turn_counts": c.in.TurnCounts, "speaker": c.in.Speaker}
	maps.Copy(in, extra)
	b, _ := json.Marshal(in)
	inPath := filepath.Join(t.TempDir(), "inputs.json")
	if err := os.WriteFile(inPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, "pytorch_check.py", c.ckpt, inPath).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("pytorch_check.py: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var r pytorchResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return r
}

func download(t *testing.T, be host.Backend, b *host.F32) []float32 {
	t.Helper()
	v := make([]float32, b.Len())
	be.Download(v, b)
	if err := be.Sync(); err != nil {
		t.Fatal(err)
	}
	return v
}

// worstRelative is the largest |got − want| / max(|want|, 1e-3) over rows
// of 4 logits.
func worstRelative(got [][]float64, want []float32) float64 {
	worst := 0.0
	for i, row := range got {
		for k, v := range row {
			w := float64(want[i*4+k])
			worst = max(worst, math.Abs(v-w)/math.Max(1e-3, math.Abs(w)))
		}
	}
	return worst
}

// tensorDiff returns the largest |ours − PyTorch's| over the largest
// |PyTorch value| (or 1e-8), and reports name when that exceeds tol (not
// when t is nil).
func tensorDiff(t *testing.T, name string, torch []float64, ours []float32, tol float64) float64 {
	if len(torch) != len(ours) {
		if t != nil {
			t.Errorf("%s: PyTorch has %d values, emotion %d", name, len(torch), len(ours))
		}
		return math.Inf(1)
	}
	scale, worst, at := 1e-8, 0.0, 0
	for _, v := range torch {
		scale = max(scale, math.Abs(v))
	}
	for i, v := range torch {
		if d := math.Abs(float64(ours[i]) - v); d > worst {
			worst, at = d, i
		}
	}
	if t != nil && worst/scale > tol {
		t.Errorf("%s: element %d is %v, PyTorch %v (%.2g of the tensor's largest, %v)", name, at, ours[at], torch[at], worst/scale, scale)
	}
	return worst / scale
}

func float32s(x []float64) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(v)
	}
	return out
}
