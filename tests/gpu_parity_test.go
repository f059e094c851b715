//go:build cuda || cudaemu

package tests

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/emotionlab/emotion/host"
	"github.com/emotionlab/emotion/model"
)

// TestTrainingStepsParity trains each model for three steps on the CPU
// backend and on the GPU backend (real, or emulated under cudaemu) from the
// same initial parameters, with dropout, on the same batches: the losses
// must agree to 1e-4 relative.
func TestTrainingStepsParity(t *testing.T) {
	for _, kind := range []string{model.KindSentence, model.KindDialog} {
		t.Run(kind, func(t *testing.T) {
			cfg := model.DefaultConfig(kind, 301, 3)
			cfg.Embed, cfg.Hidden, cfg.Dense, cfg.DialogHid, cfg.AttnDim = 37, 19, 23, 21, 29
			cfg.Heads, cfg.Seed = 3, 17
			turns := 1
			if kind == model.KindDialog {
				turns = 5
			}
			r := rand.New(rand.NewPCG(4, 2))
			var batches []model.Inputs
			for _, size := range []int{13, 7, 1} {
				batches = append(batches, randomInputs(r, size, turns, 11, cfg.Vocab, cfg.SpeakerDim))
			}
			gpu, err := host.NewGPU(0)
			if err != nil {
				t.Fatal(err)
			}
			defer gpu.Close()
			losses := func(be host.Backend) []float64 {
				net, err := model.New(be, cfg)
				if err != nil {
					t.Fatal(err)
				}
				defer net.Release()
				tr, err := model.NewTrainer(be, net, model.TrainConfig{Epochs: 1, LR: 3e-3, ClassWeights: []float32{1, 0.7, 1.3, 0.9}})
				if err != nil {
					t.Fatal(err)
				}
				defer tr.Release()
				loss, err := model.NewCrossEntropyLoss(be, 4, []float32{1, 0.7, 1.3, 0.9})
				if err != nil {
					t.Fatal(err)
				}
				defer loss.Release()
				var out []float64
				v := make([]float32, 1)
				for i := range batches {
					logits, err := net.Forward(&batches[i])
					if err != nil {
						t.Fatal(err)
					}
					be.Download(v, loss.Forward(batches[i].Size, logits, net.Labels()))
					net.Backward(loss.Grad())
					tr.Opt.Update()
					if err := be.Sync(); err != nil {
						t.Fatal(err)
					}
					out = append(out, float64(v[0]))
				}
				return out
			}
			want, got := losses(host.NewCPU(0)), losses(gpu)
			for i := range want {
				rel := math.Abs(got[i]-want[i]) / math.Abs(want[i])
				t.Logf("step %d: cpu %.7f, gpu %.7f (relative %.1e)", i+1, want[i], got[i], rel)
				if rel > 1e-4 {
					t.Errorf("step %d: loss %.7f on the GPU, %.7f on the CPU", i+1, got[i], want[i])
				}
			}
		})
	}
}
