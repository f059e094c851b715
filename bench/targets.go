package bench

// The kernel target of issue 6: the fused LSTM gates, the attention softmax
// and the cross-entropy at ≥ 70% of the measured copy bandwidth at the
// larger shapes. Targets reads it off a report, so that one bench run says
// whether it is met.

// TargetOps are the ops the kernel target names.
var TargetOps = []string{"LSTMGatesForward", "LSTMGatesBackward", "SoftmaxForward", "SoftmaxBackward", "CrossEntropy"}

// TargetVariants names, for a target op benchmarked in more than one form,
// the form the models run, which is the one judged.
var TargetVariants = map[string]string{
	"LSTMGatesForward":  lstmVariant(true),
	"LSTMGatesBackward": lstmVariant(true),
}

// TargetPct is the share of its yardstick a target op must reach.
const TargetPct = 70

// Target is one target op at the largest shape of a report.
type Target struct {
	Op    string `json:"op"`
	Shape string `json:"shape"`
	Bytes int64  `json:"bytes"`
	// Yardstick is "copy" when the op's bytes at the copy bandwidth take
	// longer than the launch floor, so that bandwidth is what bounds it,
	// and "bound" when they do not (a 4-class cross-entropy moves 26 kB at
	// B = 512): then no kernel can approach the bandwidth and the op is
	// judged by PctBound, its time against the launch floor.
	Yardstick string  `json:"yardstick"`
	Pct       float64 `json:"pct"` // PctCopy or PctBound, by Yardstick
	Met       bool    `json:"met"` // Pct ≥ TargetPct
	// MedianNS is the op's time.
	MedianNS float64 `json:"median_ns"`
	// SameBytesCopyNS is the time of the faster of a Copy and a Scale in
	// place that move the op's bytes (half read, half written), timed as
	// the ops are; PctOfSameBytesCopy is 100·SameBytesCopyNS / MedianNS.
	// That is the least a kernel moving these bytes takes, its fixed costs included (the launch,
	// the first loads' latency, the last stores' drain), which the copy
	// bandwidth of two large buffers leaves out: near 100%, the op moves
	// its bytes as fast as anything of its size can. RunKernels measures
	// it; Targets leaves it zero.
	SameBytesCopyNS    float64 `json:"same_bytes_copy_ns,omitempty"`
	PctOfSameBytesCopy float64 `json:"pct_of_same_bytes_copy,omitempty"`
}

// Targets returns each target op of rep at its largest validated shape (the
// most bytes) in the form the models run (TargetVariants), in TargetOps'
// order; ops not in rep are left out.
func Targets(rep *KernelReport) []Target {
	var out []Target
	for _, op := range TargetOps {
		var best *KernelResult
		for i := range rep.Results {
			r := &rep.Results[i]
			if v, ok := TargetVariants[op]; ok && r.Variant != v {
				continue
			}
			if r.Op == op && r.Error == "" && r.MedianNS > 0 && (best == nil || r.Bytes > best.Bytes) {
				best = r
			}
		}
		if best == nil {
			continue
		}
		t := Target{Op: op, Shape: best.Shape, Bytes: best.Bytes, Yardstick: "copy", Pct: best.PctCopy, MedianNS: best.MedianNS}
		if c := rep.Ceilings; c.CopyGBps > 0 {
			copyNS := float64(best.Bytes) / c.CopyGBps // GB/s is bytes per ns
			if copyNS < c.LaunchNS {
				t.Yardstick, t.Pct = "bound", best.PctBound
			}
		}
		t.Met = t.Pct >= TargetPct
		out = append(out, t)
	}
	return out
}
