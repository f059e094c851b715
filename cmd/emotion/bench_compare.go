package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/emotionlab/emotion/bench"
)

const benchCompareHelp = `Compares two reports of one benchmark, written by 'emotion bench kernels
--json' or 'emotion bench train --json' (or their --json-out): before and
after a change, two launch modes, two devices. For kernels, every case timed
in both (same op, variant and shape) with its old and new median time, the
speedup (old time over new) and the percentage of the copy bandwidth, their
geometric mean, and the kernel target before and after; for training, the
throughput, the time per step and its split.`

func runBenchCompare(args []string) error {
	fs := benchFlagSet("compare OLD.json NEW.json", benchCompareHelp)
	jsonOut := fs.Bool("json", false, "print the comparison as JSON")
	if err := parseFlags(fs, args, true); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return usagef("bench compare: want two reports, OLD.json and NEW.json, got %s", plural(fs.NArg(), "argument", "arguments"))
	}
	oldPath, newPath := fs.Arg(0), fs.Arg(1)
	oldKind, err := reportKind(oldPath)
	if err != nil {
		return err
	}
	newKind, err := reportKind(newPath)
	if err != nil {
		return err
	}
	if oldKind != newKind {
		return fmt.Errorf("bench compare: %s is a %s report, %s a %s report", oldPath, oldKind, newPath, newKind)
	}
	if oldKind == "kernels" {
		var o, n bench.KernelReport
		if err := readReport(oldPath, &o); err != nil {
			return err
		}
		if err := readReport(newPath, &n); err != nil {
			return err
		}
		c := bench.CompareKernels(&o, &n)
		if *jsonOut {
			return writeJSON(stdout, c)
		}
		out := &errWriter{w: stdout}
		printKernelComparison(out, oldPath, newPath, c)
		return out.err
	}
	var o, n bench.TrainReport
	if err := readReport(oldPath, &o); err != nil {
		return err
	}
	if err := readReport(newPath, &n); err != nil {
		return err
	}
	c, err := bench.CompareTrain(&o, &n)
	if err != nil {
		return fmt.Errorf("bench compare %s %s: %w", oldPath, newPath, err)
	}
	if *jsonOut {
		return writeJSON(stdout, c)
	}
	out := &errWriter{w: stdout}
	printTrainComparison(out, oldPath, newPath, c)
	return out.err
}

// reportKind reads the JSON object at path and says which benchmark wrote
// it: "kernels" (it has results) or "train" (it has utt_per_sec).
func reportKind(path string) (string, error) {
	var fields map[string]json.RawMessage
	if err := readReport(path, &fields); err != nil {
		return "", err
	}
	switch {
	case fields["results"] != nil:
		return "kernels", nil
	case fields["utt_per_sec"] != nil:
		return "train", nil
	}
	return "", fmt.Errorf("%s: not a report of 'emotion bench kernels' or 'emotion bench train' (no results, no utt_per_sec)", path)
}

// readReport decodes the JSON file at path into v.
func readReport(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// side names a report: its file, backend, launch mode and timing.
func side(path string, s bench.Side) string {
	out := fmt.Sprintf("%s (%s", path, s.Backend)
	if s.Launches != "" {
		out += ", " + s.Launches + " launches"
	}
	if s.Timing != "" {
		out += ", " + s.Timing + " timing"
	}
	return out + ")"
}

func printKernelComparison(w io.Writer, oldPath, newPath string, c *bench.KernelComparison) {
	fmt.Fprintf(w, "old: %s\nnew: %s\n\n", side(oldPath, c.Old), side(newPath, c.New))
	fmt.Fprintf(w, "%-58s %-24s %10s %10s %8s  %s\n", "op", "shape", "old", "new", "speedup", "%copy old → new")
	for _, ch := range c.Changes {
		fmt.Fprintf(w, "%-58s %-24s %10s %10s %7.2f×  %5.1f → %5.1f\n", ch.Name(), ch.Shape,
			fmtDuration(ch.OldNS), fmtDuration(ch.NewNS), ch.Speedup, ch.OldPct, ch.NewPct)
	}
	fmt.Fprintf(w, "\n%d cases in both", len(c.Changes))
	if len(c.Changes) > 0 {
		fmt.Fprintf(w, ", geometric mean speedup %.3f×", c.GeoMean)
	}
	fmt.Fprintf(w, "; %d only in %s, %d only in %s\n", c.OnlyOld, filepath.Base(oldPath), c.OnlyNew, filepath.Base(newPath))
	if len(c.Targets) > 0 {
		verdict := map[bool]string{true: "met", false: "not met"}
		fmt.Fprintf(w, "target (≥ %d%%):\n", bench.TargetPct)
		for _, t := range c.Targets {
			changed := ""
			if t.OldYardstick != t.NewYardstick {
				changed = "  (measured against different yardsticks: not comparable)"
			}
			fmt.Fprintf(w, "  %-18s %-22s %5.1f%% %-7s %-7s → %-22s %5.1f%% %-7s %s%s\n", t.Op, t.OldShape, t.OldPct, yardstickName(t.OldYardstick), verdict[t.OldMet],
				t.NewShape, t.NewPct, yardstickName(t.NewYardstick), verdict[t.NewMet], changed)
		}
	}
}

// yardstickName is how a target's yardstick is printed, as printTargets
// prints it: "of copy", or "bound" (the least time the ceilings allow).
func yardstickName(y string) string {
	if y == "bound" {
		return "bound"
	}
	return "of copy"
}

func printTrainComparison(w io.Writer, oldPath, newPath string, c *bench.TrainComparison) {
	fmt.Fprintf(w, "%s model\nold: %s\nnew: %s\n", c.Model, side(oldPath, c.Old), side(newPath, c.New))
	fmt.Fprintf(w, "  throughput  %.1f → %.1f utt/s, %.3f×\n", c.OldUttPerSec, c.NewUttPerSec, c.Speedup)
	fmt.Fprintf(w, "  per step    %.2f → %.2f ms\n", c.OldMsPerStep, c.NewMsPerStep)
	fmt.Fprintf(w, "  split       forward %.2f → %.2f, backward %.2f → %.2f, optimizer %.2f → %.2f ms\n",
		c.OldForwardMs, c.NewForwardMs, c.OldBackwardMs, c.NewBackwardMs, c.OldOptimMs, c.NewOptimMs)
}
