//go:build cuda || cudaemu

package tests

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/emotionlab/emotion/host"
	"github.com/emotionlab/emotion/model"
)

// TestTrainingStepsParity trains each model for three steps on the CPU
// backend and on the GPU backend (real, or emulated under cudaemu) from the
// same initial parameters, with dropout, on the same batches: the losses
// must agree to 1e-4 relative, and so must every parameter's gradient of
// the first step, which sees a wrong backward long before the losses do:
// ‖g_gpu − g_cpu‖ ≤ 1e-4·‖g_cpu‖ + 1e-6·‖all of g_cpu‖. The second term is
// for gradients that are rounding noise: at initialisation the attention
// outputs barely differ between turns (the scores are near zero), so the
// attention pooling's gradients cancel to ~1e-11, and two correct float32
// computations disagree on them completely. A second run on the GPU must
// give the same losses and gradients bit for bit. Each model runs again
// with its embedding frozen (the LSTM then computes no input gradient).
func TestTrainingStepsParity(t *testing.T) {
	for _, run := range []struct {
		kind   string
		frozen bool
	}{{model.KindSentence, false}, {model.KindDialog, false}, {model.KindSentence, true}, {model.KindDialog, true}} {
		kind, name := run.kind, run.kind
		if run.frozen {
			name += "-frozen-embedding"
		}
		t.Run(name, func(t *testing.T) {
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
			type param struct {
				name string
				grad []float32
			}
			losses := func(be host.Backend) ([]float64, []param) {
				net, err := model.New(be, cfg)
				if err != nil {
					t.Fatal(err)
				}
				defer net.Release()
				tr, err := model.NewTrainer(be, net, model.TrainConfig{Epochs: 1, LR: 3e-3, ClassWeights: []float32{1, 0.7, 1.3, 0.9},
					FreezeEmbeddings: run.frozen})
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
				var grads []param
				v := make([]float32, 1)
				for i := range batches {
					logits, err := net.Forward(&batches[i])
					if err != nil {
						t.Fatal(err)
					}
					be.Download(v, loss.Forward(batches[i].Size, logits, net.Labels()))
					net.Backward(loss.Grad())
					if i == 0 {
						for _, p := range net.Params() {
							g := make([]float32, p.Len())
							be.Download(g, p.Grad)
							grads = append(grads, param{p.Name, g})
						}
					}
					tr.Opt.Update()
					if err := be.Sync(); err != nil {
						t.Fatal(err)
					}
					out = append(out, float64(v[0]))
				}
				return out, grads
			}
			want, wantGrads := losses(host.NewCPU(0))
			got, gotGrads := losses(gpu)
			// The GPU is deterministic too: no op sums in an order that
			// depends on scheduling (the embedding backward sorts its
			// positions by id instead of adding them with atomics).
			again, againGrads := losses(gpu)
			if !slices.Equal(again, got) {
				t.Errorf("a second GPU run gave losses %v, the first %v", again, got)
			}
			for i, p := range gotGrads {
				if !slices.Equal(againGrads[i].grad, p.grad) {
					t.Errorf("a second GPU run gave another gradient of %s", p.name)
				}
			}
			var total float64
			for _, w := range wantGrads {
				for _, x := range w.grad {
					total += float64(x) * float64(x)
				}
			}
			worst := 0.0
			for i, w := range wantGrads {
				var diff, norm float64
				for k, x := range w.grad {
					d := float64(gotGrads[i].grad[k]) - float64(x)
					diff += d * d
					norm += float64(x) * float64(x)
				}
				diff, norm = math.Sqrt(diff), math.Sqrt(norm)
				if diff > 1e-4*norm+1e-6*math.Sqrt(total) {
					t.Errorf("step 1: gradient of %s (norm %.3g) differs by %.3g between GPU and CPU", w.name, norm, diff)
				}
				if norm > 1e-3*math.Sqrt(total) {
					worst = max(worst, diff/norm)
				}
			}
			t.Logf("step 1: worst relative gradient difference %.1e over the %d parameters", worst, len(wantGrads))
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
