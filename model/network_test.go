package model

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/emotionlab/emotion/dataset"
	"github.com/emotionlab/emotion/host"
)

// toyInputs makes a batch whose target label is written in its tokens: the
// target utterance contains token 2+label, so a model can learn it.
func toyInputs(r *rand.Rand, size, turns, maxLen, vocab, speakerDim int) Inputs {
	in := Inputs{Size: size, Turns: turns, MaxLen: maxLen}
	in.Tokens = make([]int32, size*turns*maxLen)
	in.Lengths = make([]int32, size*turns)
	in.TurnCounts = make([]int32, size)
	in.Speaker = make([]float32, size*turns*speakerDim)
	in.Labels = make([]int32, size)
	for b := range size {
		tc := 1 + r.IntN(turns)
		in.TurnCounts[b] = int32(tc)
		in.Labels[b] = int32(r.IntN(4))
		for t := range tc {
			n := 1 + r.IntN(maxLen)
			in.Lengths[b*turns+t] = int32(n)
			for k := range n {
				in.Tokens[(b*turns+t)*maxLen+k] = int32(6 + r.IntN(vocab-6))
			}
			if t == tc-1 {
				in.Tokens[(b*turns+t)*maxLen+r.IntN(n)] = 2 + in.Labels[b]
			}
			for s := range speakerDim {
				in.Speaker[(b*turns+t)*speakerDim+s] = float32(r.IntN(2))
			}
		}
	}
	return in
}

func smallConfig(kind string) Config {
	c := DefaultConfig(kind, 23, 3)
	c.Embed, c.Hidden, c.Dense, c.DialogHid, c.Heads, c.AttnDim, c.Window = 7, 5, 6, 6, 3, 5, 4
	return c
}

// lossOf runs a forward pass in evaluation mode and returns the loss.
func lossOf(t *testing.T, be host.Backend, net Network, loss *CrossEntropyLoss, in *Inputs) float64 {
	t.Helper()
	logits, err := net.Forward(in)
	if err != nil {
		t.Fatal(err)
	}
	v := make([]float32, 1)
	be.Download(v, loss.Forward(in.Size, logits, net.Labels()))
	if err := be.Sync(); err != nil {
		t.Fatal(err)
	}
	return float64(v[0])
}

// TestModelGradients checks each model's whole backward pass against a
// central finite difference of its loss along random directions (the
// layers are checked one by one against float64 references elsewhere; this
// checks how the models wire them together).
func TestModelGradients(t *testing.T) {
	for _, tc := range []struct {
		kind      string
		noSpeaker bool // speaker_dim 0: a model without speaker features
	}{{KindSentence, false}, {KindDialog, false}, {KindSentence, true}, {KindDialog, true}} {
		kind, name := tc.kind, tc.kind
		if tc.noSpeaker {
			name += "/no-speaker"
		}
		t.Run(name, func(t *testing.T) {
			be := host.NewCPU(1)
			cfg := smallConfig(kind)
			cfg.Dropout = 0
			if tc.noSpeaker {
				cfg.SpeakerDim = 0 // its inputs' empty speaker buffer panicked on the first Forward
			}
			net, err := New(be, withSeed(cfg, 3))
			if err != nil {
				t.Fatal(err)
			}
			defer net.Release()
			net.SetTraining(false)
			r := rand.New(rand.NewPCG(1, 2))
			turns := 1
			if kind == KindDialog {
				turns = 4
			}
			in := toyInputs(r, 5, turns, 6, cfg.Vocab, cfg.SpeakerDim)
			loss, err := NewCrossEntropyLoss(be, 4, []float32{0.5, 1, 1.5, 2})
			if err != nil {
				t.Fatal(err)
			}
			defer loss.Release()
			lossOf(t, be, net, loss, &in)
			net.Backward(loss.Grad())
			params := net.Params()
			grads := make([][]float32, len(params))
			vals := make([][]float32, len(params))
			for i, p := range params {
				grads[i] = make([]float32, p.Len())
				vals[i] = make([]float32, p.Len())
				be.Download(grads[i], p.Grad)
				be.Download(vals[i], p.Value)
			}
			worst := 0.0
			for trial := range 6 {
				// A random direction over all parameters (the embedding's
				// padding row stays fixed: it gets no gradient).
				dir := make([][]float32, len(params))
				var analytic float64
				for i := range params {
					// Each parameter moves in proportion to its own scale,
					// so that small tensors (the embeddings) are not swamped.
					var rms float64
					for _, v := range vals[i] {
						rms += float64(v) * float64(v)
					}
					rms = math.Sqrt(rms / float64(len(vals[i])))
					if rms == 0 {
						rms = 1
					}
					dir[i] = make([]float32, len(vals[i]))
					for j := range dir[i] {
						dir[i][j] = float32(rms * r.NormFloat64())
						analytic += float64(dir[i][j]) * float64(grads[i][j])
					}
				}
				const eps = 3e-3
				shifted := func(s float64) float64 {
					for i, p := range params {
						x := make([]float32, len(vals[i]))
						for j := range x {
							x[j] = vals[i][j] + float32(s)*dir[i][j]
						}
						be.Upload(p.Value, x)
					}
					return lossOf(t, be, net, loss, &in)
				}
				numeric := (shifted(eps) - shifted(-eps)) / (2 * eps)
				rel := math.Abs(numeric-analytic) / math.Max(math.Abs(analytic), 1e-3)
				worst = max(worst, rel)
				if rel > 5e-3 {
					t.Errorf("direction %d: analytic %.6g, finite difference %.6g (relative error %.2g)", trial, analytic, numeric, rel)
				}
			}
			t.Logf("%s model: worst relative error of directional derivatives %.2g", kind, worst)
		})
	}
}

// forwardLogits runs net forward on in and returns its logits.
func forwardLogits(t *testing.T, be host.Backend, net Network, in *Inputs) []float32 {
	t.Helper()
	logits, err := net.Forward(in)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, logits.Len())
	be.Download(out, logits)
	if err := be.Sync(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDialogPaddingInvariance checks that padding a batch with more turns
// and longer utterances does not change any prediction.
func TestDialogPaddingInvariance(t *testing.T) {
	be := host.NewCPU(2)
	cfg := smallConfig(KindDialog)
	net, err := New(be, withSeed(cfg, 5))
	if err != nil {
		t.Fatal(err)
	}
	defer net.Release()
	net.SetTraining(false)
	r := rand.New(rand.NewPCG(3, 4))
	in := toyInputs(r, 4, 3, 5, cfg.Vocab, cfg.SpeakerDim)
	// The same windows with 2 more padded turns and 3 more padded tokens.
	wide := Inputs{Size: in.Size, Turns: in.Turns + 2, MaxLen: in.MaxLen + 3, TurnCounts: in.TurnCounts, Labels: in.Labels}
	wide.Tokens = make([]int32, wide.Size*wide.Turns*wide.MaxLen)
	wide.Lengths = make([]int32, wide.Size*wide.Turns)
	wide.Speaker = make([]float32, wide.Size*wide.Turns*cfg.SpeakerDim)
	for b := range in.Size {
		for tt := range in.Turns {
			src, dst := b*in.Turns+tt, b*wide.Turns+tt
			wide.Lengths[dst] = in.Lengths[src]
			copy(wide.Tokens[dst*wide.MaxLen:], in.Tokens[src*in.MaxLen:(src+1)*in.MaxLen])
			copy(wide.Speaker[dst*cfg.SpeakerDim:], in.Speaker[src*cfg.SpeakerDim:(src+1)*cfg.SpeakerDim])
		}
	}
	a, b := forwardLogits(t, be, net, &in), forwardLogits(t, be, net, &wide)
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > 1e-5*math.Max(1, math.Abs(float64(a[i]))) {
			t.Fatalf("logit %d: %g unpadded, %g padded", i, a[i], b[i])
		}
	}
}

// toyData serves fixed toy batches to a trainer, shuffled per epoch.
type toyData struct {
	train []Inputs
	val   []Inputs
}

func (d *toyData) Train(epoch int) []Inputs {
	out := append([]Inputs(nil), d.train...)
	r := rand.New(rand.NewPCG(uint64(epoch), 9))
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func (d *toyData) Val() []Inputs { return d.val }

func newToyData(kind string, cfg Config) *toyData {
	r := rand.New(rand.NewPCG(11, 12))
	turns := 1
	if kind == KindDialog {
		turns = 3
	}
	d := &toyData{}
	for range 8 {
		d.train = append(d.train, toyInputs(r, 8, turns, 6, cfg.Vocab, cfg.SpeakerDim))
	}
	for range 2 {
		d.val = append(d.val, toyInputs(r, 16, turns, 6, cfg.Vocab, cfg.SpeakerDim))
	}
	return d
}

func newToyTrainer(t testing.TB, be host.Backend, kind string, epochs int) *Trainer {
	t.Helper()
	return newToyTrainerEMA(t, be, kind, epochs, 0)
}

// newToyTrainerEMA is newToyTrainer with a moving average of the weights
// of decay ema (0: none).
func newToyTrainerEMA(t testing.TB, be host.Backend, kind string, epochs int, ema float32) *Trainer {
	t.Helper()
	cfg := smallConfig(kind)
	cfg.Dropout, cfg.WordDropout = 0.1, 0.05
	net, err := New(be, withSeed(cfg, 7))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrainer(be, net, TrainConfig{Epochs: epochs, LR: 0.02, ClassWeights: []float32{1, 1.2, 0.8, 1}, EMA: ema})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestTrainingLearns checks that both models learn the toy task (the label
// is a token of the target utterance) far above chance.
func TestTrainingLearns(t *testing.T) {
	for _, kind := range []string{KindSentence, KindDialog} {
		t.Run(kind, func(t *testing.T) {
			be := host.NewCPU(0)
			tr := newToyTrainer(t, be, kind, 25)
			defer tr.Net.Release()
			defer tr.Release()
			data := newToyData(kind, tr.Net.Config())
			if err := tr.Run(context.Background(), data); err != nil {
				t.Fatal(err)
			}
			h := tr.State.History
			first, last := h[0], h[len(h)-1]
			t.Logf("%s: train loss %.3f → %.3f, best val acc %.3f (epoch %d)", kind, first.TrainLoss, last.TrainLoss, tr.State.BestValAcc, tr.State.BestEpoch)
			if !(last.TrainLoss < 0.5*first.TrainLoss) {
				t.Errorf("train loss went from %.4f to %.4f: not learning", first.TrainLoss, last.TrainLoss)
			}
			if tr.State.BestValAcc < 0.8 {
				t.Errorf("best validation accuracy %.3f, want ≥ 0.8 on the toy task", tr.State.BestValAcc)
			}
		})
	}
}

// TestResumeMatchesUninterrupted stops a run in the middle of an epoch,
// saves it, loads it into a fresh trainer and finishes: the history and the
// parameters (and, with a moving average, the best epoch's averaged
// weights) must equal those of an uninterrupted run exactly.
func TestResumeMatchesUninterrupted(t *testing.T) {
	for _, tc := range []struct {
		kind   string
		ema    float32
		stopAt int // the step after which the run is interrupted
	}{{KindSentence, 0, 13}, {KindDialog, 0, 13}, {KindSentence, 0.9, 13}, {KindDialog, 0.8, 13},
		// A state saved after exactly one step still holds its average.
		{KindSentence, 0.9, 1}} {
		kind := tc.kind
		t.Run(fmt.Sprintf("%s/ema=%g/step=%d", kind, tc.ema, tc.stopAt), func(t *testing.T) {
			be := host.NewCPU(2)
			full := newToyTrainerEMA(t, be, kind, 3, tc.ema)
			data := newToyData(kind, full.Net.Config())
			if err := full.Run(context.Background(), data); err != nil {
				t.Fatal(err)
			}

			part := newToyTrainerEMA(t, be, kind, 3, tc.ema)
			ctx, cancel := context.WithCancel(context.Background())
			steps := 0
			part.OnBatch = func(done, total, seen int, loss, acc float64) {
				steps++
				if steps == tc.stopAt { // 13: epoch 2, batch 5
					cancel()
				}
			}
			if err := part.Run(ctx, data); err != ErrInterrupted {
				t.Fatalf("Run = %v, want ErrInterrupted", err)
			}
			if part.Opt.Step != tc.stopAt {
				t.Fatalf("interrupted after %d steps, want %d", part.Opt.Step, tc.stopAt)
			}
			path := filepath.Join(t.TempDir(), "state.safetensors")
			meta := Meta{Vocab: make([]string, part.Net.Config().Vocab), Labels: dataset.LabelNames[:]}
			if err := SaveTraining(path, be, part, meta, true); err != nil {
				t.Fatal(err)
			}
			part.Net.Release()
			part.Release()

			loaded, _, err := LoadTraining(path, be)
			if err != nil {
				t.Fatal(err)
			}
			// Saved again before it runs (nothing changed), it must load
			// to the same state: the moving average too.
			again := filepath.Join(t.TempDir(), "again.safetensors")
			if err := SaveTraining(again, be, loaded, meta, false); err != nil {
				t.Fatal(err)
			}
			loaded.Net.Release()
			loaded.Release()
			resumed, _, err := LoadTraining(again, be)
			if err != nil {
				t.Fatal(err)
			}
			if err := resumed.Run(context.Background(), data); err != nil {
				t.Fatal(err)
			}
			if len(resumed.State.History) != len(full.State.History) {
				t.Fatalf("%d epochs resumed, %d uninterrupted", len(resumed.State.History), len(full.State.History))
			}
			for i, h := range full.State.History {
				g := resumed.State.History[i]
				if g.TrainLoss != h.TrainLoss || g.ValLoss != h.ValLoss || g.ValAcc != h.ValAcc {
					t.Errorf("epoch %d: resumed %+v, uninterrupted %+v", i+1, g, h)
				}
			}
			fp, rp := full.Net.Params(), resumed.Net.Params()
			for i := range fp {
				a, b := make([]float32, fp[i].Len()), make([]float32, rp[i].Len())
				be.Download(a, fp[i].Value)
				be.Download(b, rp[i].Value)
				for j := range a {
					if a[j] != b[j] {
						t.Fatalf("%s[%d]: resumed %g, uninterrupted %g", fp[i].Name, j, b[j], a[j])
					}
				}
				if !slices.Equal(full.Best[i], resumed.Best[i]) {
					t.Fatalf("%s: the best epoch's weights differ after resuming", fp[i].Name)
				}
			}
		})
	}
}

// TestCheckpointRoundTrip saves a model and loads it back: the same logits
// come out, and a truncated file is refused.
func TestCheckpointRoundTrip(t *testing.T) {
	be := host.NewCPU(2)
	cfg := smallConfig(KindDialog)
	net, err := New(be, withSeed(cfg, 21))
	if err != nil {
		t.Fatal(err)
	}
	net.SetTraining(false)
	r := rand.New(rand.NewPCG(5, 6))
	in := toyInputs(r, 3, 4, 5, cfg.Vocab, cfg.SpeakerDim)
	logits := func(n Network) []float32 {
		l, err := n.Forward(&in)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]float32, l.Len())
		be.Download(out, l)
		return out
	}
	want := logits(net)
	vocab := make([]string, cfg.Vocab)
	for i := range vocab {
		vocab[i] = string(rune('a' + i))
	}
	path := filepath.Join(t.TempDir(), "model.safetensors")
	if err := SaveModel(path, be, net, nil, Meta{Vocab: vocab, Labels: []string{"angry", "happy", "neutral", "sad"}, Run: "{}"}, false); err != nil {
		t.Fatal(err)
	}
	back, meta, err := LoadModel(path, be)
	if err != nil {
		t.Fatal(err)
	}
	back.SetTraining(false)
	if meta.Config != withSeed(cfg, 21) || meta.Run != "{}" || meta.Vocab[3] != "d" {
		t.Errorf("meta = %+v", meta)
	}
	got := logits(back)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("logit %d: %g after loading, %g before", i, got[i], want[i])
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.safetensors")
	if err := os.WriteFile(cut, data[:len(data)-100], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadModel(cut, be); err == nil {
		t.Error("a truncated checkpoint loaded without error")
	} else {
		t.Logf("truncated checkpoint: %v", err)
	}
	names := map[string]bool{}
	for _, p := range back.Params() {
		names[p.Name] = true
	}
	for _, n := range []string{"embedding.weight", "utterance_lstm.weight_ih_l0", "dialog_lstm.weight_hh_l0_reverse",
		"attention.in_proj_weight", "attention.out_proj.bias", "attention_pool.context.weight", "out.weight"} {
		if !names[n] {
			t.Errorf("no parameter %q", n)
		}
	}
}

func withSeed(c Config, seed uint64) Config {
	c.Seed = seed
	return c
}

// TestTrainingDeterministic trains the same toy run twice: every parameter
// must come out bit for bit the same (the CPU backend is deterministic for
// a seed, whatever its thread count and wherever its buffers land).
func TestTrainingDeterministic(t *testing.T) {
	for _, kind := range []string{KindSentence, KindDialog} {
		var ref [][]float32
		for run := range 3 {
			be := host.NewCPU(1 + run%2)
			tr := newToyTrainer(t, be, kind, 2)
			if err := tr.Run(context.Background(), newToyData(kind, tr.Net.Config())); err != nil {
				t.Fatal(err)
			}
			for i, p := range tr.Net.Params() {
				v := make([]float32, p.Len())
				be.Download(v, p.Value)
				if run == 0 {
					ref = append(ref, v)
					continue
				}
				for j := range v {
					if v[j] != ref[i][j] {
						t.Fatalf("%s run %d: %s[%d] = %g, first run %g", kind, run+1, p.Name, j, v[j], ref[i][j])
					}
				}
			}
			tr.Net.Release()
			tr.Release()
		}
	}
}

func TestWordDropout(t *testing.T) {
	be := host.NewCPU(1)
	w, err := newWordDropout(be, 0.25, 99)
	if err != nil {
		t.Fatal(err)
	}
	in := Inputs{Tokens: make([]int32, 20000)}
	for i := range in.Tokens {
		in.Tokens[i] = int32(i % 7) // 0 (pad) and 1 (unk) among them
	}
	out := w.apply(&in)
	dropped, eligible := 0, 0
	for i, tok := range out.Tokens {
		orig := in.Tokens[i]
		switch {
		case orig <= 1 && tok != orig:
			t.Fatalf("token %d: padding or <unk> %d became %d", i, orig, tok)
		case orig > 1:
			eligible++
			if tok == 1 {
				dropped++
			} else if tok != orig {
				t.Fatalf("token %d: %d became %d", i, orig, tok)
			}
		}
	}
	if rate := float64(dropped) / float64(eligible); rate < 0.23 || rate > 0.27 {
		t.Errorf("dropped %.3f of the tokens, want about 0.25", rate)
	}
	again := append([]int32(nil), out.Tokens...)
	if second := w.apply(&in); slices.Equal(second.Tokens, again) {
		t.Error("two batches drew the same mask")
	}
	w.SetCounter(0)
	if third := w.apply(&in); !slices.Equal(third.Tokens, again) {
		t.Error("the same counter drew another mask")
	}
	w.SetTraining(false)
	if w.apply(&in) != &in {
		t.Error("word dropout changed tokens in evaluation mode")
	}
}

// TestNetworkPacksParams checks that a network's parameters lie one after
// another in one allocation, values and gradients, so that Adam updates
// them all with one op, and that releasing the network returns every
// buffer to the pool.
func TestNetworkPacksParams(t *testing.T) {
	for _, kind := range []string{KindSentence, KindDialog} {
		t.Run(kind, func(t *testing.T) {
			be := host.NewCPU(1)
			net, err := New(be, smallConfig(kind))
			if err != nil {
				t.Fatal(err)
			}
			ps := net.Params()
			for i := 1; i < len(ps); i++ {
				if !host.Adjacent(ps[i-1].Value, ps[i].Value) || !host.Adjacent(ps[i-1].Grad, ps[i].Grad) {
					t.Errorf("%s does not follow %s", ps[i].Name, ps[i-1].Name)
				}
			}
			opt := NewAdam(be, ps, 1e-3)
			if len(opt.runs) != 1 {
				t.Errorf("Adam updates %d runs, want 1", len(opt.runs))
			}
			opt.Release()
			net.Release()
			if err := be.Err(); err != nil {
				t.Fatal(err)
			}
			if n := be.LiveBuffers(); n != 0 {
				t.Errorf("%d buffers still allocated after Release", n)
			}
		})
	}
}

// uploadCounter counts a backend's uploads.
type uploadCounter struct {
	host.Backend
	f32, i32 int
}

func (u *uploadCounter) Upload(dst *host.F32, src []float32) {
	u.f32++
	u.Backend.Upload(dst, src)
}

func (u *uploadCounter) UploadI32(dst *host.I32, src []int32) {
	u.i32++
	u.Backend.UploadI32(dst, src)
}

// TestForwardUploadsOnce checks that a forward pass puts its batch on the
// device in two uploads (every int32 input in one, the speaker features in
// the other; on a GPU each upload is a round trip between two steps), and
// that a view into the packed buffer holds its input: the labels the loss
// reads. (The losses of bench train's runs did not move by a bit with the
// packing.)
func TestForwardUploadsOnce(t *testing.T) {
	for _, kind := range []string{KindSentence, KindDialog} {
		t.Run(kind, func(t *testing.T) {
			cfg := smallConfig(kind)
			turns := 1
			if kind == KindDialog {
				turns = cfg.Window
			}
			r := rand.New(rand.NewPCG(5, 6))
			be := &uploadCounter{Backend: host.NewCPU(1)}
			net, err := New(be, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer net.Release()
			for step := range 3 {
				in := toyInputs(r, 5+step, turns, 7, cfg.Vocab, cfg.SpeakerDim)
				be.f32, be.i32 = 0, 0
				if _, err := net.Forward(&in); err != nil {
					t.Fatal(err)
				}
				if be.f32 != 1 || be.i32 != 1 {
					t.Errorf("step %d: %d float and %d int32 uploads, want 1 and 1", step, be.f32, be.i32)
				}
				labels := make([]int32, in.Size)
				be.DownloadI32(labels, net.Labels())
				if !slices.Equal(labels, in.Labels) {
					t.Errorf("step %d: labels on the device %v, want %v", step, labels, in.Labels)
				}
			}
		})
	}
}

// TestConfigValidateEmbedStd: the embeddings' initial standard deviation
// must be a finite non-negative number. NaN and +Inf passed, and train
// failed its vocabulary check with "json: unsupported value: NaN" and a
// hint to raise --min-count.
func TestConfigValidateEmbedStd(t *testing.T) {
	for _, std := range []float32{0, 0.1, 1} {
		cfg := DefaultConfig(KindSentence, 10, 3)
		cfg.EmbedStd = std
		if err := cfg.Validate(); err != nil {
			t.Errorf("embed_init_std %v: %v", std, err)
		}
	}
	for _, std := range []float32{-1, float32(math.NaN()), float32(math.Inf(1))} {
		cfg := DefaultConfig(KindDialog, 10, 3)
		cfg.EmbedStd = std
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "embed_init_std") {
			t.Errorf("embed_init_std %v: error %v, want one naming embed_init_std", std, err)
		}
	}
}

// TestForwardChecksInputSizes: inputs whose slices do not match their
// sizes are an error from Forward, naming what is wrong, for both models.
func TestForwardChecksInputSizes(t *testing.T) {
	for _, kind := range []string{KindSentence, KindDialog} {
		t.Run(kind, func(t *testing.T) {
			be := host.NewCPU(1)
			cfg := smallConfig(kind)
			net, err := New(be, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer net.Release()
			good := toyInputs(rand.New(rand.NewPCG(7, 8)), 3, 2, 4, cfg.Vocab, cfg.SpeakerDim)
			if _, err := net.Forward(&good); err != nil {
				t.Fatalf("good inputs: %v", err)
			}
			for _, tc := range []struct {
				name string
				edit func(*Inputs)
				want string
			}{
				{"no windows", func(in *Inputs) { in.Size = 0 }, "inputs of size 0×2×4"},
				{"no turns", func(in *Inputs) { in.Turns = 0 }, "inputs of size 3×0×4"},
				{"no tokens per utterance", func(in *Inputs) { in.MaxLen = 0 }, "inputs of size 3×2×0"},
				// 3·2·(2⁶²·2/3 rounded) wraps around to a small count:
				// no token slice could hold it.
				{"a size that overflows", func(in *Inputs) { in.MaxLen = 1 << 62 }, "inputs of size 3×2×4611686018427387904"},
				{"turns that overflow", func(in *Inputs) { in.Turns = math.MaxInt/2 + 1 }, "inputs of size 3×4611686018427387904×4"},
				{"a token short", func(in *Inputs) { in.Tokens = in.Tokens[1:] }, "23 tokens for 3×2×4 inputs"},
				{"a length short", func(in *Inputs) { in.Lengths = in.Lengths[1:] }, "5 lengths for 6 utterances"},
				{"a turn count short", func(in *Inputs) { in.TurnCounts = in.TurnCounts[1:] }, "2 turn counts for 3 windows"},
				{"a speaker feature over", func(in *Inputs) { in.Speaker = append(in.Speaker, 0) }, "19 speaker features for 6 utterances of 3"},
				{"a label short", func(in *Inputs) { in.Labels = in.Labels[1:] }, "2 labels for 3 windows"},
				// The sentence model read a window's last turn at
				// TurnCounts−1: out of its window, or a panic.
				{"a window of no turns", func(in *Inputs) { in.TurnCounts = withValue(in.TurnCounts, 1, 0) }, "window 1 has 0 turns, want 1 to 2"},
				{"a window of too many turns", func(in *Inputs) { in.TurnCounts = withValue(in.TurnCounts, 2, 3) }, "window 2 has 3 turns, want 1 to 2"},
				{"a negative length", func(in *Inputs) { in.Lengths = withValue(in.Lengths, 4, -1) }, "utterance 4 has length -1, want 0 to 4"},
				{"a length over MaxLen", func(in *Inputs) { in.Lengths = withValue(in.Lengths, 0, 5) }, "utterance 0 has length 5, want 0 to 4"},
			} {
				in := good
				tc.edit(&in)
				if _, err := net.Forward(&in); err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%s: Forward = %v, want an error saying %q", tc.name, err, tc.want)
				}
			}
		})
	}
}

// TestModelsSkipPadding: both models run their utterance LSTM on the batch
// sorted by length, so that it computes exactly the real tokens, Σ lengths
// rows over all steps, and no padding, whatever the order of the batch.
func TestModelsSkipPadding(t *testing.T) {
	for _, kind := range []string{KindSentence, KindDialog} {
		t.Run(kind, func(t *testing.T) {
			be := host.NewCPU(1)
			cfg := smallConfig(kind)
			net, err := New(be, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer net.Release()
			turns := 1
			if kind == KindDialog {
				turns = 3
			}
			in := toyInputs(rand.New(rand.NewPCG(13, 14)), 6, turns, 7, cfg.Vocab, cfg.SpeakerDim)
			if slices.IsSortedFunc(in.Lengths, func(a, b int32) int { return int(b - a) }) {
				t.Fatal("test batch already sorted")
			}
			if _, err := net.Forward(&in); err != nil {
				t.Fatal(err)
			}
			var lstm *LSTM
			switch m := net.(type) {
			case *Sentence:
				lstm = m.lstm
			case *Dialog:
				lstm = m.utt
			}
			var rows, tokens int
			for _, n := range lstm.active {
				rows += n
			}
			for _, n := range in.Lengths {
				tokens += int(n)
			}
			if rows != tokens {
				t.Errorf("the utterance LSTM computed %d rows over its steps for %d tokens", rows, tokens)
			}
		})
	}
}

// withValue is a copy of s with s[i] = v.
func withValue(s []int32, i int, v int32) []int32 {
	c := slices.Clone(s)
	c[i] = v
	return c
}

// TestSpeakerFeaturesReachLogits: every speaker feature of every model
// feeds its prediction. The gradient checks cannot see a feature the
// forward pass leaves out (the features have no gradient), so each is
// changed alone and the logits must move.
func TestSpeakerFeaturesReachLogits(t *testing.T) {
	be := host.NewCPU(1)
	for _, kind := range []string{KindSentence, KindDialog} {
		t.Run(kind, func(t *testing.T) {
			cfg := smallConfig(kind)
			if cfg.SpeakerDim < 2 {
				t.Fatalf("speaker_dim %d", cfg.SpeakerDim)
			}
			net, err := New(be, withSeed(cfg, 9))
			if err != nil {
				t.Fatal(err)
			}
			defer net.Release()
			net.SetTraining(false)
			turns := 1
			if kind == KindDialog {
				turns = 3
			}
			in := toyInputs(rand.New(rand.NewPCG(5, 6)), 4, turns, 5, cfg.Vocab, cfg.SpeakerDim)
			base := forwardLogits(t, be, net, &in)
			for k := range cfg.SpeakerDim {
				changed := in
				changed.Speaker = slices.Clone(in.Speaker)
				for i := k; i < len(changed.Speaker); i += cfg.SpeakerDim {
					changed.Speaker[i] = 1 - changed.Speaker[i] + 0.5
				}
				moved := 0.0
				for i, v := range forwardLogits(t, be, net, &changed) {
					moved = max(moved, math.Abs(float64(v-base[i])))
				}
				if moved < 1e-6 {
					t.Errorf("speaker feature %d of %d: the logits did not move (%g)", k, cfg.SpeakerDim, moved)
				}
			}
		})
	}
}
