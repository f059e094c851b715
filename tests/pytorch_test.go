package tests

import (
	"encoding/json"
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
	py := python(t)
	if py == "" {
		t.Skip("no python3 with torch (Debian: apt-get install python3-torch)")
	}
	for _, kind := range []string{model.KindSentence, model.KindDialog} {
		t.Run(kind, func(t *testing.T) {
			be := host.NewCPU(0)
			cfg := model.DefaultConfig(kind, 57, 3)
			cfg.Embed, cfg.Hidden, cfg.Dense, cfg.DialogHid, cfg.AttnDim, cfg.Heads, cfg.Seed = 11, 9, 13, 10, 7, 4, 5
			net, err := model.New(be, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer net.Release()
			net.SetTraining(false)
			turns := 1
			if kind == model.KindDialog {
				turns = 6
			}
			in := randomInputs(rand.New(rand.NewPCG(8, 8)), 9, turns, 12, cfg.Vocab, cfg.SpeakerDim)
			logits, err := net.Forward(&in)
			if err != nil {
				t.Fatal(err)
			}
			want := make([]float32, logits.Len())
			be.Download(want, logits)

			dir := t.TempDir()
			ckpt := filepath.Join(dir, "model.safetensors")
			vocab := make([]string, cfg.Vocab)
			for i := range vocab {
				vocab[i] = string(rune(0x4e00 + i))
			}
			if err := model.SaveModel(ckpt, be, net, nil, model.Meta{Vocab: vocab, Labels: []string{"angry", "happy", "neutral", "sad"}}, false); err != nil {
				t.Fatal(err)
			}
			inputs, _ := json.Marshal(map[string]any{"size": in.Size, "turns": in.Turns, "max_len": in.MaxLen,
				"tokens": in.Tokens, "lengths": in.Lengths, "turn_counts": in.TurnCounts, "speaker": in.Speaker})
			inPath := filepath.Join(dir, "inputs.json")
			if err := os.WriteFile(inPath, inputs, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(py, "pytorch_check.py", ckpt, inPath).Output()
			if err != nil {
				if ee, ok := err.(*exec.ExitError); ok {
					t.Fatalf("pytorch_check.py: %v\n%s", err, ee.Stderr)
				}
				t.Fatal(err)
			}
			var got struct{ Logits [][]float64 }
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			worst := 0.0
			for i, row := range got.Logits {
				for k, v := range row {
					w := float64(want[i*4+k])
					worst = max(worst, math.Abs(v-w)/math.Max(1e-3, math.Abs(w)))
				}
			}
			t.Logf("%s model: worst relative difference to PyTorch %.2g", kind, worst)
			if len(got.Logits) != in.Size || worst > 1e-4 {
				t.Errorf("PyTorch's logits differ from emotion's: worst relative difference %.3g\nPyTorch %v\nemotion %v", worst, got.Logits, want)
			}
		})
	}
}
