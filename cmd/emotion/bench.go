package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emotionlab/emotion/bench"
	"github.com/emotionlab/emotion/dataset"
	"github.com/emotionlab/emotion/host"
	"github.com/emotionlab/emotion/model"
	"github.com/emotionlab/emotion/model/metrics"
	"github.com/spf13/pflag"
)

func init() {
	register(&command{
		name:    "bench",
		summary: "Benchmark the backend's ops (kernels) and the models' training steps (train)",
		usage:   "kernels|train|compare [flags]",
		help: `emotion bench kernels times every op of the compute backend at the shapes the
two models use, after checking its outputs against the CPU backend, and prints
per op and shape the median time, the bytes moved and FLOPs (counted as the
bench package documents), the rate reached, and that rate as a percentage of
the device's copy bandwidth and SGEMM rate, measured first by the same run.
A mismatch is reported and makes the command fail. Shapes: quick (batch 32;
the default on the CPU), large (batch 512, hidden 512, sequence 100,
attention rows 100: where the bandwidth targets apply), full (batch
32/128/512, hidden 64-512, sequence 10/50/100, attention rows 10/100; the
default on a GPU), tiny (the smallest of each op, for a quick check).

emotion bench train trains a model for --steps steps on synthetic batches of
IEMOCAP's shape (or on the session5 training split of --data) and prints
utterances/s, time per step split into forward, backward and optimizer, and
peak memory (host, Go heap, the backend's pool). --dump-batches writes the
batches and the architecture to a file that tests/pytorch_bench.py trains
PyTorch on, for a side-by-side comparison.

emotion bench compare OLD.json NEW.json compares two reports of one of them
(--json or --json-out), case by case: the speedup of every kernel case in
both and their geometric mean, the target before and after, or a training
step's throughput and split.

Run 'emotion bench kernels --help', 'emotion bench train --help' or 'emotion
bench compare --help' for the flags.`,
		examples: `emotion bench kernels
emotion bench kernels --ops 'LSTM|Softmax' --json
emotion bench kernels --device cuda --shapes full
emotion bench train --model dialog --threads 2
emotion bench train --model sentence --data ../shared/data/iemocap --device cuda
emotion bench train --model dialog --dump-batches /tmp/dialog.batches --json
emotion bench kernels --device cuda --json-out new.json && emotion bench compare old.json new.json
emotion bench compare --json old.json new.json`,
		run: runBench,
	})
}

// benchWrap, when set (tests), wraps the backend under test.
var benchWrap func(host.Backend) host.Backend

func runBench(args []string) error {
	if len(args) == 0 {
		return usagef("bench: name what to benchmark: kernels or train (or compare two reports)")
	}
	sub := map[string]func([]string) error{"kernels": runBenchKernels, "train": runBenchTrain, "compare": runBenchCompare}
	if run, ok := sub[args[0]]; ok {
		err := run(args[1:])
		var ue usageError
		if errors.As(err, &ue) && ue.help == "" {
			ue.help = "bench " + args[0] // its flags are there, not under bench --help
			return ue
		}
		return err
	}
	switch args[0] {
	case "-h", "--help", "-help", "help":
		printCommandHelp(helpOut{}, commands["bench"], nil)
		return pflag.ErrHelp
	}
	return usagef("bench: unknown benchmark %q (want kernels, train or compare)", args[0])
}

// benchFlagSet is the flag set of "emotion bench sub", whose --help prints
// help and the flags.
func benchFlagSet(sub, help string) *pflag.FlagSet {
	fs := newFlagSet("bench")
	fs.Usage = func() {
		fmt.Fprintf(helpOut{}, "Usage: emotion bench %s [flags]\n\n%s\n\nFlags:\n%s", sub, strings.TrimSpace(help), fs.FlagUsages())
		var examples []string // bench's own that run this one
		prefix := "emotion bench " + strings.Fields(sub)[0] + " "
		for line := range strings.Lines(commands["bench"].examples) {
			if line = strings.TrimSpace(line); strings.HasPrefix(line+" ", prefix) {
				examples = append(examples, "  "+line)
			}
		}
		if len(examples) > 0 {
			fmt.Fprintf(helpOut{}, "\nExamples:\n%s\n", strings.Join(examples, "\n"))
		}
	}
	return fs
}

// benchBackend opens the backend of --device with threads CPU threads (0:
// all) and returns it with a function that closes it.
func benchBackend(device string, threads int) (host.Backend, func(), error) {
	if threads < 0 {
		return nil, nil, usagef("--threads must not be negative")
	}
	if threads > 0 {
		runtime.GOMAXPROCS(threads)
	}
	be, err := newBackend(device)
	if err != nil {
		return nil, nil, err
	}
	closeBE := func() {}
	if c, ok := be.(interface{ Close() error }); ok {
		closeBE = func() { c.Close() }
	}
	if benchWrap != nil {
		be = benchWrap(be)
	}
	return be, closeBE, nil
}

// isCPU reports whether be is the CPU backend (or a wrapper of it).
func isCPU(be host.Backend) bool { return strings.HasPrefix(be.Name(), "cpu") }

const benchKernelsHelp = `Times every op of the backend at the shapes the two models use. First the
device's ceilings: the copy bandwidth (Copy of two buffers of --copy-mib),
the SGEMM rate (the faster of the square A·B and A·Bᵀ of size --gemm-n) and
the launch floor (a Fill of one float, back to back). Then each op and
shape: its outputs are compared with the CPU backend's (one thread when the
device is the CPU), copies of its inputs are made until they fill
--rotate-mib (more than the caches), and groups of calls cycling through
them are timed, the median time per call reported with the bytes and FLOPs
of one call and the rate reached, as a percentage of each ceiling, and as
%bound: the least time the ceilings allow the op over its time.

On a GPU a group is timed with CUDA events and held: the stream waits
behind a spinning kernel until the host has issued the whole group, then
runs it back to back (nvbench's blocking kernel), so the time is the
device's, as in a training step where the host runs ahead. The issue
column is the host's time to issue one call; with --host-paced the groups
run as they are issued, and an op faster than its issue waits for the host. A case whose
outputs differ is reported and not timed, and the command then fails. Last,
the kernel target: the LSTM gates, softmax and cross-entropy at their
largest shape run, each at ≥ 70% of the copy bandwidth (of %bound where its
bytes take less than a launch) or not.`

func runBenchKernels(args []string) error {
	fs := benchFlagSet("kernels", benchKernelsHelp)
	device := fs.String("device", "auto", "compute device: cpu, cuda or auto")
	shapes := fs.String("shapes", "", "shape set: quick, large, full or tiny (default quick on the CPU, full on a GPU, tiny on the emulated one)")
	quick := fs.Bool("quick", false, "the quick shape set (same as --shapes quick)")
	ops := fs.String("ops", "", "only the cases whose 'Op (variant)' name matches this regular expression")
	list := fs.Bool("list", false, "list the cases' names and exit")
	budget := fs.Duration("budget", 100*time.Millisecond, "time spent timing each case (about)")
	rotate := fs.Int("rotate-mib", -1, "rotate through copies of the inputs filling this much memory: 0 for none, -1 for the device's default, 64 on the CPU and 256 on a GPU (0 emulated)")
	copyMiB := fs.Int("copy-mib", 0, "size of each buffer of the copy-bandwidth ceiling (default 64 on the CPU, 512 on a GPU, 1 emulated)")
	gemmN := fs.Int("gemm-n", 0, "size of the square SGEMMs of the ceiling (default 1024 on the CPU, 4096 on a GPU, 64 emulated)")
	threads := fs.Int("threads", 0, "CPU threads (GOMAXPROCS; 0: all)")
	addDependentLaunchFlag(fs)
	noValidate := fs.Bool("no-validate", false, "skip the comparison with the CPU backend")
	hostPaced := fs.Bool("host-paced", false, "time groups of calls as the host issues them, not held until issued (GPU)")
	jsonOut := fs.Bool("json", false, "print the report as JSON")
	jsonFile := fs.String("json-out", "", "also write the report as JSON to this file (for emotion bench compare)")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	if *quick {
		if *shapes != "" && *shapes != "quick" {
			return usagef("--quick and --shapes %s", *shapes)
		}
		*shapes = "quick"
	}
	var re *regexp.Regexp
	if *ops != "" {
		var err error
		if re, err = regexp.Compile(*ops); err != nil {
			return usagef("--ops: %v", err)
		}
	}
	if *rotate < -1 || *copyMiB < 0 || *gemmN < 0 || *budget <= 0 {
		return usagef("--rotate-mib, --copy-mib and --gemm-n must not be negative, --budget must be positive")
	}
	if *list {
		name := *shapes
		if name == "" {
			name = "quick"
		}
		s, err := bench.ShapesNamed(name)
		if err != nil {
			return usageError{err: err}
		}
		for _, n := range bench.CaseNames(s) {
			if re == nil || re.MatchString(n) {
				if _, err := fmt.Fprintln(stdout, n); err != nil {
					return err
				}
			}
		}
		return nil
	}

	be, closeBE, err := benchBackend(*device, *threads)
	if err != nil {
		return err
	}
	defer closeBE()
	cpu := isCPU(be)
	// On the emulated GPU (the cudaemu build) a 512 MiB copy and a 4096²
	// SGEMM would take the emulator hours: its defaults are the smallest,
	// for checking every op against the CPU, its times being the
	// emulator's.
	emulated := !cpu && gpuEmulated
	// auto returns v, or when v is unset the default for the device.
	auto := func(v, unset, onCPU, onGPU, onEmulated int) int {
		switch {
		case v != unset:
			return v
		case cpu:
			return onCPU
		case emulated:
			return onEmulated
		}
		return onGPU
	}
	if *shapes == "" {
		switch {
		case cpu:
			*shapes = "quick"
		case emulated:
			*shapes = "tiny"
		default:
			*shapes = "full"
		}
	}
	s, err := bench.ShapesNamed(*shapes)
	if err != nil {
		return usageError{err: err}
	}
	if re != nil && !slices.ContainsFunc(bench.CaseNames(s), re.MatchString) {
		// Before the ceilings take their seconds: a typo would time
		// nothing and pass.
		return usagef("--ops %q matches no case of the %s shapes (names are case-sensitive; --list lists them)", *ops, s.Name)
	}
	o := bench.KernelOptions{Shapes: s, Ops: re, Budget: *budget,
		RotateBytes: int64(auto(*rotate, -1, 64, 256, 0)) << 20,
		CopyBytes:   int64(auto(*copyMiB, 0, 64, 512, 1)) << 20,
		GemmN:       auto(*gemmN, 0, 1024, 4096, 64),
		NoValidate:  *noValidate,
		HostPaced:   *hostPaced}
	ref := host.Backend(host.NewCPU(0))
	if cpu {
		ref = host.NewCPU(1)
	}

	ceil, err := bench.MeasureCeilings(be, o)
	if err != nil {
		return err
	}
	// The text report is printed as the cases run; a write that fails
	// (a full disk) is the command's error once the report is done, and
	// --json-out is written.
	out := &errWriter{w: stdout}
	each := func(bench.KernelResult) {}
	if !*jsonOut {
		fmt.Fprintf(out, "emotion bench kernels on %s, shapes %s", be.Name(), s.Name)
		if m := bench.LaunchMode(be); m != "" {
			fmt.Fprintf(out, ", %s launches, %s timing", m, bench.TimingMode(o))
		}
		if !o.NoValidate {
			fmt.Fprintf(out, ", checked against %s", ref.Name())
		}
		fmt.Fprintf(out, "\nceilings: copy %.2f GB/s (2 buffers of %d MiB), SGEMM %.2f GFLOP/s (n = %d), launch floor %s (Fill of 1 float; the host issues one in %s)\n",
			ceil.CopyGBps, ceil.CopyBytes>>20, ceil.SgemmGFlops, ceil.SgemmN, fmtDuration(ceil.LaunchNS), fmtDuration(ceil.HostLaunchNS))
		fmt.Fprintf(out, "host link: upload %.2f GB/s, download %.2f GB/s (1 buffer of %d MiB); Upload and Download rows take these in place of the copy rate\n",
			ceil.UploadGBps, ceil.DownloadGBps, ceil.LinkBytes>>20)
		fmt.Fprintf(out, "%%bound: the least time these allow the op (its bytes at the copy rate, its FLOPs at the SGEMM rate, or the launch floor) over its time\n\n")
		each = kernelPrinter(out)
	}
	rep, err := bench.RunKernels(be, ref, o, ceil, each)
	if err != nil {
		return err
	}
	if *jsonFile != "" {
		if err := metrics.WriteJSON(*jsonFile, rep); err != nil {
			return fmt.Errorf("--json-out: %w", err)
		}
	}
	var printErr error
	if *jsonOut {
		printErr = writeJSON(stdout, rep)
	} else {
		fmt.Fprintf(out, "\n%d cases, %d failed validation\n", len(rep.Results), rep.Failed)
		printTargets(out, rep.Targets)
		printErr = out.err
	}
	if rep.Failed > 0 {
		return errors.Join(printErr, fmt.Errorf("bench kernels: %d of %d cases differ from the reference backend", rep.Failed, len(rep.Results)))
	}
	return printErr
}

// kernelPrinter returns a function that prints each result as a row of a
// table (a header every 40 rows), as it comes, so that a long run shows
// its progress.
func kernelPrinter(w io.Writer) func(bench.KernelResult) {
	rows := 0
	return func(r bench.KernelResult) {
		if rows%40 == 0 {
			fmt.Fprintf(w, "%s  %s  %10s  %10s  %9s  %9s  %8s  %8s  %6s  %6s  %6s  %s\n", pad("op", 58), pad("shape", 20),
				"median", "issue", "bytes", "FLOPs", "GB/s", "GFLOP/s", "%copy", "%sgemm", "%bound", "copies")
		}
		rows++
		if r.Error != "" {
			fmt.Fprintf(w, "%s  %s  MISMATCH: %s\n", pad(r.Name(), 58), pad(r.Shape, 20), r.Error)
			return
		}
		paced := ""
		if r.HostPaced {
			paced = "  (host-paced: waits for the device)"
		}
		fmt.Fprintf(w, "%s  %s  %10s  %10s  %9s  %9s  %8.2f  %8.2f  %6.1f  %6.1f  %6.1f  %d%s\n", pad(r.Name(), 58), pad(r.Shape, 20),
			fmtDuration(r.MedianNS), fmtDuration(r.IssueNS), fmtSI(float64(r.Bytes), "B"), fmtSI(float64(r.Flops), ""),
			r.GBps, r.GFlops, r.PctCopy, r.PctSgemm, r.PctBound, r.Copies, paced)
	}
}

// pad pads s with spaces to width runes.
func pad(s string, width int) string {
	if n := utf8.RuneCountInString(s); n < width {
		return s + strings.Repeat(" ", width-n)
	}
	return s
}

// fmtDuration writes nanoseconds as "12.3 µs", "4.56 ms", "1.23 s".
func fmtDuration(ns float64) string {
	switch {
	case ns < 1e3:
		return fmt.Sprintf("%.0f ns", ns)
	case ns < 1e6:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	case ns < 1e9:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	}
	return fmt.Sprintf("%.2f s", ns/1e9)
}

// fmtSI writes v with an SI prefix: "1.23 M", "456 kB".
func fmtSI(v float64, unit string) string {
	prefixes := []string{"", "k", "M", "G", "T", "P"}
	i := 0
	for v >= 999.5 && i < len(prefixes)-1 {
		v /= 1000
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f %s", v, unit)
	}
	return fmt.Sprintf("%.3g %s%s", v, prefixes[i], unit)
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

const benchTrainHelp = `Trains a model for --steps steps and measures it. The batches are synthetic,
of IEMOCAP's shape (utterance lengths, labels, speakers and dialog windows
drawn as the bench package documents, batched and bucketed as emotion train
does), or with --data the session5 training split of a source. The first
--warmup batches warm up, then an untimed pass of --steps steps over the other
batches; then a split pass synchronises the device after the forward (with
the loss), the backward and the optimizer of each step; then the headline pass
times the same steps whole (each reading its loss back).
Printed: utterances/s and ms per step (headline), the split, and memory: the
peak resident set, the Go heap, bytes allocated per step, the backend's pool
(device memory on a GPU).

--dump-batches writes the batches and the architecture for
tests/pytorch_bench.py, which trains PyTorch on the same batches and prints
the same figures (with --steps 0 only the file is written).

--profile (GPU only) then runs --steps more steps with every kernel launch
and GEMM between two CUDA events and prints the device time per step of each
kind of launch (op and kernel, or GEMM shape), the longest first: where a
step's time goes. The events cost the host a few microseconds a launch.`

func runBenchTrain(args []string) (err error) {
	fs := benchFlagSet("train", benchTrainHelp)
	mf := addModelFlags(fs)
	device := fs.String("device", "auto", "compute device: cpu, cuda or auto")
	steps := fs.Int("steps", 30, "timed steps of each pass, one batch each")
	warmup := fs.Int("warmup", 3, "warm-up steps before timing")
	batchSize := fs.Int("batch-size", 32, "utterances (or dialog windows) per batch")
	data := fs.String("data", "", "train on the session5 training split of this source instead of synthetic batches")
	vocab := fs.Int("vocab", bench.DefaultVocab, "vocabulary size of the synthetic batches")
	bucket := fs.Bool("bucket", true, "batch utterances of similar length together (as emotion train)")
	seed := fs.Int64("seed", 1, "seed of the batches and the model")
	threads := fs.Int("threads", 0, "CPU threads (GOMAXPROCS; 0: all)")
	addDependentLaunchFlag(fs)
	dump := fs.String("dump-batches", "", "write the batches and the architecture to this file (for tests/pytorch_bench.py)")
	jsonOut := fs.Bool("json", false, "print the report as JSON")
	jsonFile := fs.String("json-out", "", "also write the report as JSON to this file (for emotion bench compare)")
	cpuProfile := fs.String("cpuprofile", "", "write a Go CPU profile of the passes to this file (go tool pprof)")
	profile := fs.Bool("profile", false, "then run --steps more steps timing every launch on the device (GPU only): where a step's device time goes")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	if *steps < 0 || *warmup < 0 || *batchSize < 1 || *vocab < 3 {
		return usagef("--steps and --warmup must not be negative, --batch-size must be positive, --vocab at least 3")
	}
	if *steps == 0 && *dump == "" {
		return usagef("--steps 0 only writes --dump-batches")
	}
	opts := dataset.DefaultOptions()
	count := *warmup + max(*steps, 1)
	var b *bench.Batches
	if *data != "" {
		ctx, stop := signalContext() // while loading: Ctrl-C then stops the steps at once
		b, err = bench.RealBatches(ctx, *data, mf.kind, count, *warmup, *batchSize, *bucket, *seed)
		stop()
	} else {
		if mf.kind != model.KindSentence && mf.kind != model.KindDialog {
			return usagef("unknown --model %q (want sentence or dialog)", mf.kind)
		}
		b, err = bench.Synthetic(mf.kind, count, *warmup, *batchSize,
			bench.SynthOptions{Vocab: *vocab, Window: opts.Window, MaxLen: opts.MaxLen, Bucket: *bucket, Seed: uint64(*seed)})
	}
	if err != nil {
		return err
	}
	cfg, err := mf.config(b.Vocab, opts)
	if err != nil {
		return flagError(err)
	}
	cfg.Seed = seedOf(*seed, 0)
	if *dump != "" {
		if err := dumpBatches(*dump, b, cfg); err != nil {
			return fmt.Errorf("--dump-batches: %w", err)
		}
	}
	if *steps == 0 {
		return nil
	}
	be, closeBE, err := benchBackend(*device, *threads)
	if err != nil {
		return err
	}
	defer closeBE()
	if _, ok := be.(host.Profiler); *profile && !ok {
		return usagef("--profile times launches on a GPU; %s has none (use --device cuda with a cuda build)", be.Name())
	}
	if *cpuProfile != "" {
		stop, perr := startCPUProfile(*cpuProfile)
		if perr != nil {
			return fmt.Errorf("--cpuprofile: %w", perr)
		}
		defer stopCPUProfile(stop, &err) // err: the command's, not a shadow
	}
	rep, err := bench.RunTrain(be, b, cfg, *steps)
	if err != nil {
		return err
	}
	if *profile {
		if rep.Profile, err = bench.ProfileTrain(be, b, cfg, *steps); err != nil {
			return err
		}
	}
	if *jsonFile != "" {
		if err := metrics.WriteJSON(*jsonFile, rep); err != nil {
			return fmt.Errorf("--json-out: %w", err)
		}
	}
	if *jsonOut {
		return writeJSON(stdout, rep)
	}
	out := &errWriter{w: stdout}
	printTrainReport(out, rep)
	return out.err
}

// dumpBatches writes the batch file through a temporary file renamed
// into place: a failed dump leaves no partial file, nor truncates an
// earlier one.
func dumpBatches(path string, b *bench.Batches, cfg model.Config) error {
	return metrics.WriteAtomic(path, func(w io.Writer) error { return bench.WriteBatches(w, b, cfg) })
}

func printTrainReport(w io.Writer, r *bench.TrainReport) {
	mb := func(b int64) string { return fmtSI(float64(b), "B") }
	on := r.Backend
	if r.Launches != "" {
		on += ", " + r.Launches + " launches"
	}
	fmt.Fprintf(w, "emotion bench train: %s model (%d parameters) on %s, %s batches of %d; %d warm-up, %d timed steps per pass\n",
		r.Model, r.Params, on, r.Source, r.BatchSize, r.Warmup, r.Steps)
	fmt.Fprintf(w, "  per step     %.0f utterances, %.0f tokens (%.0f with padding)\n", r.RowsPerStep, r.TokensPerStep, r.PaddedPerStep)
	fmt.Fprintf(w, "  throughput   %.1f utt/s, %.2f ms/step (%.2f s)\n", r.UttPerSec, r.MsPerStep, r.Seconds)
	fmt.Fprintf(w, "  split        forward %.2f ms, backward %.2f ms, optimizer %.2f ms per step (synchronised between phases)\n",
		r.ForwardMs, r.BackwardMs, r.OptimizerMs)
	fmt.Fprintf(w, "  memory       peak RSS %s, Go heap peak %s (%s from the OS), %s allocated per step, pool %s",
		mb(r.PeakRSSBytes), mb(r.HeapPeakBytes), mb(r.HeapSysBytes), mb(int64(r.AllocBytesPerStep)), mb(r.PoolBytes))
	if r.DeviceMallocs > 0 {
		fmt.Fprintf(w, " on the device in %d allocations", r.DeviceMallocs)
	}
	if r.LaunchesPerStep > 0 {
		fmt.Fprintf(w, "\n  launches     %.0f kernels and GEMMs per step", r.LaunchesPerStep)
	}
	fmt.Fprintf(w, "\n  final loss   %.4f\n", r.FinalLoss)
	if p := r.Profile; p != nil {
		printTrainProfile(w, p)
	}
}

// printTrainProfile prints where a profiled step's device time went, the
// longest kinds of launch first.
func printTrainProfile(w io.Writer, p *bench.TrainProfile) {
	fmt.Fprintf(w, "\nprofile: %d more steps, every launch between two events: %.3f ms of device time per step (%.2f ms wall with the events)\n",
		p.Steps, p.DeviceMsPerStep, p.MsPerStep)
	fmt.Fprintf(w, "  %10s %10s %6s  %s\n", "µs/step", "calls/step", "%", "op (kernel, or GEMM shape)")
	steps := float64(p.Steps)
	const shown = 30 // GEMMs are listed by shape, which changes with the batch
	var restUS float64
	var restCalls int
	for i, o := range p.Ops {
		us := o.Device.Seconds() * 1e6 / steps
		if i >= shown {
			restUS += us
			restCalls += o.Calls
			continue
		}
		fmt.Fprintf(w, "  %10.1f %10.1f %6.1f  %s\n", us, float64(o.Calls)/steps, 100*us/(p.DeviceMsPerStep*1e3), o.Op)
	}
	if n := len(p.Ops) - shown; n > 0 {
		fmt.Fprintf(w, "  %10.1f %10.1f %6.1f  (%d more kinds of launch; --json lists them all)\n",
			restUS, float64(restCalls)/steps, 100*restUS/(p.DeviceMsPerStep*1e3), n)
	}
}

// printTargets prints the kernel target's ops at their largest shape run.
func printTargets(w io.Writer, targets []bench.Target) {
	if len(targets) == 0 {
		return
	}
	fmt.Fprintf(w, "\ntarget: ≥ %d%% of the copy bandwidth at the largest shape (%%bound where the bytes take less than a launch)\n", bench.TargetPct)
	fmt.Fprintf(w, "same-size copy: the faster of a Copy and a Scale moving the op's bytes, timed alike, over the op's time (near 100%%: as fast as anything moving these bytes)\n")
	for _, t := range targets {
		verdict := "not met"
		if t.Met {
			verdict = "met"
		}
		fmt.Fprintf(w, "  %-18s %-22s %10s  %5.1f%% %-7s same-size copy %s, %4.0f%%  %s\n",
			t.Op, t.Shape, fmtSI(float64(t.Bytes), "B"), t.Pct, yardstickName(t.Yardstick), fmtDuration(t.SameBytesCopyNS), t.PctOfSameBytesCopy, verdict)
	}
}
