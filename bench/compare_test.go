package bench

import (
	"math"
	"strings"
	"testing"
)

func TestCompareKernels(t *testing.T) {
	old := &KernelReport{Backend: "cuda:0 (H200)", Launches: "stream", Date: "d1",
		Results: []KernelResult{
			{Op: "LSTMGatesForward", Variant: "2 directions", Shape: "B=512 H=512", MedianNS: 9000, PctCopy: 60},
			{Op: "LSTMGatesForward", Variant: "2 directions", Shape: "B=32 H=64", MedianNS: 6000, PctCopy: 1},
			{Op: "Tanh", Shape: "n=1", MedianNS: 100},                   // only in old
			{Op: "Copy", Shape: "n=1", MedianNS: 50, Error: "mismatch"}, // failed: left out
		},
		Targets: []Target{{Op: "LSTMGatesForward", Shape: "B=512 H=512", Yardstick: "copy", Pct: 60},
			{Op: "CrossEntropy", Shape: "B=512 C=4", Yardstick: "bound", Pct: 49}}}
	new := &KernelReport{Backend: "cuda:0 (H200)", Launches: "dependent", Date: "d2",
		Results: []KernelResult{
			{Op: "LSTMGatesForward", Variant: "2 directions", Shape: "B=32 H=64", MedianNS: 3000, PctCopy: 2},
			{Op: "LSTMGatesForward", Variant: "2 directions", Shape: "B=512 H=512", MedianNS: 7500, PctCopy: 72},
			{Op: "ReLU", Shape: "n=1", MedianNS: 10}, // only in new
			{Op: "Copy", Shape: "n=1", MedianNS: 50},
		},
		Targets: []Target{{Op: "LSTMGatesForward", Shape: "B=512 H=512", Yardstick: "copy", Pct: 72, Met: true},
			{Op: "CrossEntropy", Shape: "B=512 C=4", Yardstick: "copy", Pct: 7.2}}}
	c := CompareKernels(old, new)
	if c.Old.Launches != "stream" || c.New.Launches != "dependent" || c.New.Date != "d2" {
		t.Errorf("sides %+v %+v", c.Old, c.New)
	}
	if len(c.Changes) != 2 || c.OnlyOld != 1 || c.OnlyNew != 2 {
		t.Fatalf("%d changes, %d only old, %d only new: %+v", len(c.Changes), c.OnlyOld, c.OnlyNew, c)
	}
	big, small := c.Changes[0], c.Changes[1] // old's order
	if big.Shape != "B=512 H=512" || big.Speedup != 1.2 || big.OldPct != 60 || big.NewPct != 72 || small.Speedup != 2 {
		t.Errorf("changes %+v", c.Changes)
	}
	if want := math.Sqrt(1.2 * 2); math.Abs(c.GeoMean-want) > 1e-12 {
		t.Errorf("geometric mean %g, want %g", c.GeoMean, want)
	}
	if len(c.Targets) != 2 || c.Targets[0].OldPct != 60 || c.Targets[0].NewPct != 72 || c.Targets[0].OldMet || !c.Targets[0].NewMet {
		t.Errorf("targets %+v", c.Targets)
	}
	// Each side keeps the yardstick its own run judged by (a run's launch
	// floor decides it), so that a switch is not read as a regression.
	if ce := c.Targets[1]; ce.OldYardstick != "bound" || ce.NewYardstick != "copy" || ce.OldPct != 49 || ce.NewPct != 7.2 {
		t.Errorf("a target judged by another yardstick in each report: %+v", ce)
	}
	if got := CompareKernels(old, &KernelReport{}); len(got.Changes) != 0 || got.GeoMean != 0 || got.OnlyOld != 3 {
		t.Errorf("against an empty report: %+v", got)
	}
}

func TestCompareTrain(t *testing.T) {
	old := &TrainReport{Model: "dialog", Source: "synthetic", BatchSize: 32, Backend: "cuda:0", Launches: "stream",
		Params: 843900, RowsPerStep: 32, TokensPerStep: 4551, PaddedPerStep: 14059,
		UttPerSec: 1000, MsPerStep: 3, ForwardMs: 1, BackwardMs: 1.8, OptimizerMs: 0.2}
	new := *old
	new.Launches, new.UttPerSec, new.MsPerStep = "dependent", 1250, 2.4
	c, err := CompareTrain(old, &new)
	if err != nil {
		t.Fatal(err)
	}
	if c.Speedup != 1.25 || c.Old.Launches != "stream" || c.New.Launches != "dependent" || c.NewMsPerStep != 2.4 || c.OldBackwardMs != 1.8 {
		t.Errorf("%+v", c)
	}
	for _, tc := range []struct {
		name string
		edit func(r *TrainReport)
		want string
	}{
		{"another model", func(r *TrainReport) { r.Model = "sentence" }, "different work"},
		{"another batch size", func(r *TrainReport) { r.BatchSize = 128 }, "different work"},
		{"another source", func(r *TrainReport) { r.Source = "data" }, "different work"},
		{"another architecture", func(r *TrainReport) { r.Params = 10116 }, "10116"},
		{"other batches", func(r *TrainReport) { r.TokensPerStep, r.PaddedPerStep = 487, 2091 }, "against 843900, 32, 487 (2091)"},
		{"other padding", func(r *TrainReport) { r.PaddedPerStep = 9000 }, "against 843900, 32, 4551 (9000)"},
		{"other rows", func(r *TrainReport) { r.RowsPerStep = 31.5 }, "against 843900, 31.5, 4551 (14059)"},
		{"no throughput", func(r *TrainReport) { r.UttPerSec = 0 }, "no throughput"},
	} {
		other := *old
		tc.edit(&other)
		if _, err := CompareTrain(old, &other); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}
