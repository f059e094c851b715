//go:build cuda || cudaemu

package tests

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/emotionlab/emotion/host"
	"github.com/emotionlab/emotion/model"
)

// fixedData serves the same training batches every epoch.
type fixedData struct{ train, val []model.Inputs }

func (d fixedData) Train(int) []model.Inputs { return d.train }
func (d fixedData) Val() []model.Inputs      { return d.val }

// TestTrainerRunParity runs whole epochs through Trainer.Run (training,
// validation, keeping the best epoch) on the CPU backend and on the GPU
// backend from the same initial parameters, with a moving average of the
// weights and without: every epoch's training and validation losses must
// agree to 1e-3 relative, and so must the kept weights, as a whole
// (‖best_gpu − best_cpu‖ ≤ 1e-3·‖best_cpu‖). With the average, the kept
// weights are the averaged ones, which the network swaps in to validate
// and out to train on.
func TestTrainerRunParity(t *testing.T) {
	for _, ema := range []float32{0, 0.9} {
		for _, kind := range []string{model.KindSentence, model.KindDialog} {
			t.Run(fmt.Sprintf("%s/ema=%g", kind, ema), func(t *testing.T) {
				cfg := model.DefaultConfig(kind, 211, 3)
				cfg.Embed, cfg.Hidden, cfg.Dense, cfg.DialogHid, cfg.AttnDim = 24, 13, 17, 15, 19
				cfg.Heads, cfg.Seed = 3, 5
				turns := 1
				if kind == model.KindDialog {
					turns = 4
				}
				r := rand.New(rand.NewPCG(9, 3))
				var data fixedData
				for _, size := range []int{9, 6, 4} {
					data.train = append(data.train, randomInputs(r, size, turns, 7, cfg.Vocab, cfg.SpeakerDim))
				}
				data.val = append(data.val, randomInputs(r, 11, turns, 7, cfg.Vocab, cfg.SpeakerDim))
				run := func(be host.Backend) ([]model.EpochLog, [][]float32) {
					net, err := model.New(be, cfg)
					if err != nil {
						t.Fatal(err)
					}
					defer net.Release()
					tr, err := model.NewTrainer(be, net, model.TrainConfig{Epochs: 3, LR: 3e-3,
						ClassWeights: []float32{1, 0.7, 1.3, 0.9}, EMA: ema})
					if err != nil {
						t.Fatal(err)
					}
					defer tr.Release()
					if err := tr.Run(context.Background(), data); err != nil {
						t.Fatal(err)
					}
					return tr.State.History, tr.Best
				}
				gpu, err := host.NewGPU(0)
				if err != nil {
					t.Fatal(err)
				}
				defer gpu.Close()
				want, wantBest := run(host.NewCPU(0))
				got, gotBest := run(gpu)
				rel := func(a, b float64) float64 { return math.Abs(a-b) / math.Abs(b) }
				for i, w := range want {
					g := got[i]
					if rel(g.TrainLoss, w.TrainLoss) > 1e-3 || rel(g.ValLoss, w.ValLoss) > 1e-3 {
						t.Errorf("ema %g, epoch %d: losses %.6f / %.6f on the GPU, %.6f / %.6f on the CPU",
							ema, i+1, g.TrainLoss, g.ValLoss, w.TrainLoss, w.ValLoss)
					}
				}
				var diff, norm float64
				for i := range wantBest {
					for j, x := range wantBest[i] {
						d := float64(gotBest[i][j]) - float64(x)
						diff += d * d
						norm += float64(x) * float64(x)
					}
				}
				t.Logf("ema %g: kept weights differ by %.1e relative", ema, math.Sqrt(diff/norm))
				if math.Sqrt(diff) > 1e-3*math.Sqrt(norm) {
					t.Errorf("ema %g: the kept weights differ by %.3g (norm %.3g) between GPU and CPU", ema, math.Sqrt(diff), math.Sqrt(norm))
				}
			})
		}
	}
}
