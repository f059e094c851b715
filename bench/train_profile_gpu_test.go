//go:build cuda || cudaemu

package bench

import (
	"math"
	"strings"
	"testing"

	"github.com/emotionlab/emotion/host"
	"github.com/emotionlab/emotion/model"
)

// TestProfileTrainGPU profiles a few training steps of each model on the
// GPU backend: every step's launches are counted under their op and
// kernel, and the device time per step is the sum over them.
func TestProfileTrainGPU(t *testing.T) {
	g, err := host.NewGPU(0)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	const steps = 2
	for _, tc := range []struct {
		kind  string
		lstms int // LSTM passes per step: one whole-sequence launch each way
	}{{model.KindSentence, 1}, {model.KindDialog, 2}} {
		b, err := Synthetic(tc.kind, 3, 1, 4, SynthOptions{Vocab: 60, Seed: 4, Bucket: true})
		if err != nil {
			t.Fatal(err)
		}
		p, err := ProfileTrain(g, b, tinyConfig(tc.kind, b.Vocab), steps)
		if err != nil {
			t.Fatal(err)
		}
		calls := map[string]int{} // by op, whichever kernel it launched
		var sum float64
		for _, o := range p.Ops {
			op, _, _ := strings.Cut(o.Op, " (")
			calls[op] += o.Calls
			sum += o.Device.Seconds() * 1e3 / steps
		}
		want := map[string]int{
			"CrossEntropy":         steps,
			"LSTMSequenceForward":  tc.lstms * steps,
			"LSTMSequenceBackward": tc.lstms * steps,
		}
		for op, n := range want {
			if calls[op] != n {
				t.Errorf("%s: %s launched %d times in %d steps, want %d (profile %+v)", tc.kind, op, calls[op], steps, n, p.Ops)
			}
		}
		if p.Steps != steps || !(p.DeviceMsPerStep > 0) || math.Abs(p.DeviceMsPerStep-sum) > 1e-9*sum || !(p.MsPerStep > 0) {
			t.Errorf("%s: %d steps, %g ms of device time per step (ops sum to %g), %g ms wall", tc.kind, p.Steps, p.DeviceMsPerStep, sum, p.MsPerStep)
		}
	}
}
