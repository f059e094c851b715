package bench

import (
	"reflect"
	"testing"
)

// TestTargets: each target op is judged at its largest validated shape,
// against the copy bandwidth or, where its bytes move in less than a
// launch, the launch floor; it is met at TargetPct or more, so a result of
// exactly 70% (checked against both yardsticks) meets the target. An op
// with forms is judged in the form the models run.
func TestTargets(t *testing.T) {
	inPlace, apart := lstmVariant(true), lstmVariant(false)
	rep := &KernelReport{
		Ceilings: Ceilings{CopyGBps: 100, LaunchNS: 5000}, // 100 B/ns: 500 kB in a launch floor
		Results: []KernelResult{
			{Op: "LSTMGatesForward", Variant: inPlace, Shape: "B=32", Bytes: 1e6, MedianNS: 2e4, PctCopy: 50},
			{Op: "LSTMGatesForward", Variant: inPlace, Shape: "B=512", Bytes: 2e7, MedianNS: 3e5, PctCopy: 71},
			// Larger and faster, but not the form the model runs.
			{Op: "LSTMGatesForward", Variant: apart, Shape: "B=1024", Bytes: 4e7, MedianNS: 5e5, PctCopy: 80},
			// The largest, but it failed validation: not a measurement.
			{Op: "LSTMGatesForward", Variant: inPlace, Shape: "B=4096", Bytes: 1e9, MedianNS: 1e7, PctCopy: 99, Error: "mismatch"},
			{Op: "LSTMGatesBackward", Variant: apart, Shape: "B=512", Bytes: 2e7, MedianNS: 3e5, PctCopy: 90},
			{Op: "LSTMGatesBackward", Variant: inPlace, Shape: "B=512", Bytes: 2e7, MedianNS: 4e5, PctCopy: 69.9},
			// Exactly at the target, by either yardstick.
			{Op: "SoftmaxForward", Shape: "B=512", Bytes: 2e7, MedianNS: 2.9e5, PctCopy: 70},
			{Op: "SoftmaxBackward", Shape: "B=512", Bytes: 26000, MedianNS: 7000, PctCopy: 3.7, PctBound: 70},
			// 26 kB move in 260 ns at the copy rate, under the 5 µs floor.
			{Op: "CrossEntropy", Shape: "B=512", Bytes: 26000, MedianNS: 6000, PctCopy: 4.3, PctBound: 83},
			{Op: "Gemm", Shape: "B=512", Bytes: 1e8, MedianNS: 1e6, PctCopy: 100},
		},
	}
	want := []Target{
		{Op: "LSTMGatesForward", Shape: "B=512", Bytes: 2e7, Yardstick: "copy", Pct: 71, Met: true, MedianNS: 3e5},
		{Op: "LSTMGatesBackward", Shape: "B=512", Bytes: 2e7, Yardstick: "copy", Pct: 69.9, Met: false, MedianNS: 4e5},
		{Op: "SoftmaxForward", Shape: "B=512", Bytes: 2e7, Yardstick: "copy", Pct: 70, Met: true, MedianNS: 2.9e5},
		{Op: "SoftmaxBackward", Shape: "B=512", Bytes: 26000, Yardstick: "bound", Pct: 70, Met: true, MedianNS: 7000},
		{Op: "CrossEntropy", Shape: "B=512", Bytes: 26000, Yardstick: "bound", Pct: 83, Met: true, MedianNS: 6000},
	}
	if got := Targets(rep); !reflect.DeepEqual(got, want) {
		t.Errorf("Targets:\n got %+v\nwant %+v", got, want)
	}
}
