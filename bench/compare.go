package bench

import (
	"fmt"
	"math"
)

// Comparing two reports of one benchmark: a change measured as before and
// after (two commits, two launch modes, two devices), case by case, as
// benchstat does for go test -bench.

// Side names one report of a comparison.
type Side struct {
	Backend  string `json:"backend"`
	Launches string `json:"launches,omitempty"`
	Timing   string `json:"timing,omitempty"` // a kernel report's: held or host-paced
	Date     string `json:"date,omitempty"`
}

// KernelChange is one case timed in both kernel reports.
type KernelChange struct {
	Op      string  `json:"op"`
	Variant string  `json:"variant"`
	Shape   string  `json:"shape"`
	OldNS   float64 `json:"old_ns"`
	NewNS   float64 `json:"new_ns"`
	Speedup float64 `json:"speedup"` // OldNS / NewNS: above 1 when the new one is faster
	OldPct  float64 `json:"old_pct_copy"`
	NewPct  float64 `json:"new_pct_copy"`
}

// Name is "Op (variant)".
func (c KernelChange) Name() string {
	return KernelResult{Op: c.Op, Variant: c.Variant}.Name()
}

// TargetChange is a target op in both reports (at each report's largest
// shape, which may differ). Each report judges it by its own yardstick
// (Target.Yardstick: "copy" or "bound", which follows that run's launch
// floor), so OldPct and NewPct are comparable only where the yardsticks
// are the same.
type TargetChange struct {
	Op           string  `json:"op"`
	OldShape     string  `json:"old_shape"`
	NewShape     string  `json:"new_shape"`
	OldYardstick string  `json:"old_yardstick"`
	NewYardstick string  `json:"new_yardstick"`
	OldPct       float64 `json:"old_pct"`
	NewPct       float64 `json:"new_pct"`
	OldMet       bool    `json:"old_met"`
	NewMet       bool    `json:"new_met"`
}

// KernelComparison is the outcome of CompareKernels.
type KernelComparison struct {
	Old     Side           `json:"old"`
	New     Side           `json:"new"`
	Changes []KernelChange `json:"changes"`
	// OnlyOld and OnlyNew count the timed cases of one report only.
	OnlyOld int `json:"only_old"`
	OnlyNew int `json:"only_new"`
	// GeoMean is the geometric mean of the speedups (0 without changes).
	GeoMean float64        `json:"geomean_speedup"`
	Targets []TargetChange `json:"targets"`
}

// CompareKernels pairs the timed cases of two kernel reports by op,
// variant and shape, in old's order; cases that failed validation or were
// not timed are left out.
func CompareKernels(old, new *KernelReport) *KernelComparison {
	type key struct{ op, variant, shape string }
	timed := func(r KernelResult) bool { return r.Error == "" && r.MedianNS > 0 }
	newer := map[key]KernelResult{}
	for _, r := range new.Results {
		if timed(r) {
			newer[key{r.Op, r.Variant, r.Shape}] = r
		}
	}
	cmp := &KernelComparison{
		Old: Side{Backend: old.Backend, Launches: old.Launches, Timing: old.Timing, Date: old.Date},
		New: Side{Backend: new.Backend, Launches: new.Launches, Timing: new.Timing, Date: new.Date},
	}
	logSum := 0.0
	for _, o := range old.Results {
		if !timed(o) {
			continue
		}
		k := key{o.Op, o.Variant, o.Shape}
		n, ok := newer[k]
		if !ok {
			cmp.OnlyOld++
			continue
		}
		delete(newer, k)
		c := KernelChange{Op: o.Op, Variant: o.Variant, Shape: o.Shape, OldNS: o.MedianNS, NewNS: n.MedianNS,
			Speedup: o.MedianNS / n.MedianNS, OldPct: o.PctCopy, NewPct: n.PctCopy}
		cmp.Changes = append(cmp.Changes, c)
		logSum += math.Log(c.Speedup)
	}
	cmp.OnlyNew = len(newer)
	if len(cmp.Changes) > 0 {
		cmp.GeoMean = math.Exp(logSum / float64(len(cmp.Changes)))
	}
	for _, o := range old.Targets {
		for _, n := range new.Targets {
			if n.Op == o.Op {
				cmp.Targets = append(cmp.Targets, TargetChange{Op: o.Op, OldShape: o.Shape, NewShape: n.Shape,
					OldYardstick: o.Yardstick, NewYardstick: n.Yardstick, OldPct: o.Pct, NewPct: n.Pct, OldMet: o.Met, NewMet: n.Met})
			}
		}
	}
	return cmp
}

// TrainComparison is the outcome of CompareTrain: the headline pass and
// its split, before and after.
type TrainComparison struct {
	Model         string  `json:"model"`
	Old           Side    `json:"old"`
	New           Side    `json:"new"`
	OldUttPerSec  float64 `json:"old_utt_per_sec"`
	NewUttPerSec  float64 `json:"new_utt_per_sec"`
	Speedup       float64 `json:"speedup"` // NewUttPerSec / OldUttPerSec
	OldMsPerStep  float64 `json:"old_ms_per_step"`
	NewMsPerStep  float64 `json:"new_ms_per_step"`
	OldForwardMs  float64 `json:"old_forward_ms"`
	NewForwardMs  float64 `json:"new_forward_ms"`
	OldBackwardMs float64 `json:"old_backward_ms"`
	NewBackwardMs float64 `json:"new_backward_ms"`
	OldOptimMs    float64 `json:"old_optimizer_ms"`
	NewOptimMs    float64 `json:"new_optimizer_ms"`
}

// CompareTrain compares two training reports of one model; reports of
// different models, batch sizes, sources, parameter counts (architecture
// flags) or batches (rows, tokens and padded slots per step) are an error:
// their steps are not the same work.
func CompareTrain(old, new *TrainReport) (*TrainComparison, error) {
	if old.Model != new.Model || old.BatchSize != new.BatchSize || old.Source != new.Source {
		return nil, fmt.Errorf("the reports time different work: %s model, %s batches of %d against %s model, %s batches of %d",
			old.Model, old.Source, old.BatchSize, new.Model, new.Source, new.BatchSize)
	}
	if old.Params != new.Params || old.RowsPerStep != new.RowsPerStep || old.TokensPerStep != new.TokensPerStep ||
		old.PaddedPerStep != new.PaddedPerStep {
		return nil, fmt.Errorf("the reports time different work: %d parameters, %g rows, %g tokens (%g with padding) a step against %d, %g, %g (%g)",
			old.Params, old.RowsPerStep, old.TokensPerStep, old.PaddedPerStep, new.Params, new.RowsPerStep, new.TokensPerStep, new.PaddedPerStep)
	}
	if !(old.UttPerSec > 0) || !(new.UttPerSec > 0) {
		return nil, fmt.Errorf("a report has no throughput (%g and %g utterances/s)", old.UttPerSec, new.UttPerSec)
	}
	return &TrainComparison{
		Model:        old.Model,
		Old:          Side{Backend: old.Backend, Launches: old.Launches},
		New:          Side{Backend: new.Backend, Launches: new.Launches},
		OldUttPerSec: old.UttPerSec, NewUttPerSec: new.UttPerSec, Speedup: new.UttPerSec / old.UttPerSec,
		OldMsPerStep: old.MsPerStep, NewMsPerStep: new.MsPerStep,
		OldForwardMs: old.ForwardMs, NewForwardMs: new.ForwardMs,
		OldBackwardMs: old.BackwardMs, NewBackwardMs: new.BackwardMs,
		OldOptimMs: old.OptimizerMs, NewOptimMs: new.OptimizerMs,
	}, nil
}
