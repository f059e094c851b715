package main

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/emotionlab/emotion/bench"
	"github.com/emotionlab/emotion/host"
	"github.com/emotionlab/emotion/model"
)

// tinyKernels are the flags of a fast kernel benchmark.
var tinyKernels = []string{"bench", "kernels", "--device", "cpu", "--shapes", "tiny", "--budget", "1ms",
	"--copy-mib", "1", "--gemm-n", "32", "--rotate-mib", "1"}

// tinyTrain are the flags of a fast training benchmark.
var tinyTrain = []string{"--device", "cpu", "--steps", "2", "--warmup", "1", "--batch-size", "4", "--vocab", "40",
	"--embed", "8", "--hidden", "4", "--dense", "4", "--dialog-hidden", "4", "--heads", "2", "--attn-dim", "8"}

func TestBenchCommandLine(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		out, err []string
	}{
		{[]string{"bench"}, 2, nil, []string{"name what to benchmark: kernels or train"}},
		{[]string{"bench", "nope"}, 2, nil, []string{`unknown benchmark "nope"`}},
		{[]string{"bench", "--help"}, 0, []string{"Usage: emotion bench kernels|train|compare [flags]", "emotion bench kernels times", "emotion bench compare OLD.json NEW.json", "Examples:"}, nil},
		{[]string{"help", "bench"}, 0, []string{"Usage: emotion bench kernels|train", "--dump-batches"}, nil},
		// help of a subcommand is the subcommand's (it was bench's overview).
		{[]string{"help", "bench", "kernels"}, 0, []string{"Usage: emotion bench kernels [flags]", "--shapes"}, nil},
		// A size no model can have is a usage error, as in train.
		{[]string{"bench", "train", "--hidden", "-1", "--steps", "1"}, 2, nil, []string{"--hidden -1, must be positive", "Run 'emotion bench train --help'"}},
		{[]string{"bench", "kernels", "--help"}, 0, []string{"Usage: emotion bench kernels [flags]", "--shapes", "--ops", "--rotate-mib", "Examples:\n  emotion bench kernels\n"}, nil},
		{[]string{"bench", "train", "--help"}, 0, []string{"Usage: emotion bench train [flags]", "--steps", "--dump-batches", "--model", "Examples:\n  emotion bench train --model dialog"}, nil},
		{[]string{"bench", "compare", "--help"}, 0, []string{"Usage: emotion bench compare OLD.json NEW.json [flags]", "geometric mean", "--json", "Examples:\n  emotion bench compare --json old.json new.json"}, nil},
		{[]string{"bench", "kernels", "--shapes", "huge"}, 2, nil, []string{`unknown shape set "huge"`}},
		{[]string{"bench", "kernels", "--ops", "("}, 2, nil, []string{"--ops: error parsing regexp"}},
		{[]string{"bench", "kernels", "--quick", "--shapes", "full"}, 2, nil, []string{"--quick and --shapes full"}},
		{[]string{"bench", "kernels", "--device", "tpu"}, 2, nil, []string{`unknown --device "tpu"`, "Run 'emotion bench kernels --help'"}},
		{[]string{"bench", "train", "--model", "poem"}, 2, nil, []string{`unknown --model "poem"`}},
		{[]string{"bench", "train", "--steps", "0"}, 2, nil, []string{"--steps 0 only writes --dump-batches", "Run 'emotion bench train --help'"}},
		{[]string{"bench", "train", "--batch-size", "0"}, 2, nil, []string{"--batch-size must be positive"}},
		{[]string{"bench", "train", "--vocab", "2"}, 2, nil, []string{"--vocab at least 3"}},
		{[]string{"bench", "train", "--threads", "-1", "--steps", "1", "--device", "cpu"}, 2, nil, []string{"--threads must not be negative"}},
		{[]string{"bench", "kernels", "--threads", "-1", "--device", "cpu", "--shapes", "tiny"}, 2, nil, []string{"--threads must not be negative"}},
		{[]string{"bench", "kernels", "--rotate-mib", "-2", "--device", "cpu", "--shapes", "tiny"}, 2, nil, []string{"--rotate-mib, --copy-mib and --gemm-n must not be negative"}},
		{[]string{"bench", "train", "--device", "cpu", "--profile", "--steps", "1"}, 2, nil, []string{"--profile times launches on a GPU; cpu"}},
		{[]string{"bench", "kernels", "--list", "--ops", "^LSTMGates"}, 0, []string{"LSTMGatesForward (2 directions, in place)\nLSTMGatesForward (2 directions)\nLSTMGatesBackward (2 directions, in place)\nLSTMGatesBackward (2 directions)\n"}, nil},
		// A typo (the names are case-sensitive) ran nothing and passed.
		{append(slices.Clone(tinyKernels), "--ops", "lstm"), 2, nil, []string{`--ops "lstm" matches no case of the tiny shapes`, "--list"}},
	}
	for _, tc := range tests {
		code, out, errOut := runEmotion(t, tc.args...)
		if code != tc.code {
			t.Errorf("%q: exit %d, want %d (stderr %q)", tc.args, code, tc.code, errOut)
		}
		for _, w := range tc.out {
			if !strings.Contains(out, w) {
				t.Errorf("%q: stdout lacks %q:\n%s", tc.args, w, out)
			}
		}
		for _, w := range tc.err {
			if !strings.Contains(errOut, w) {
				t.Errorf("%q: stderr lacks %q:\n%s", tc.args, w, errOut)
			}
		}
	}
}

func TestBenchKernelsText(t *testing.T) {
	code, out, errOut := runEmotion(t, append(tinyKernels, "--ops", `^(Axpy|Softmax)`)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for _, w := range []string{
		"emotion bench kernels on cpu (",
		"shapes tiny, checked against cpu (1 thread)",
		"ceilings: copy ",
		"GB/s (2 buffers of 1 MiB), SGEMM ",
		"GFLOP/s (n = 32)",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	var rows []string
	for _, l := range lines {
		if strings.HasPrefix(l, "Axpy") || strings.HasPrefix(l, "Softmax") {
			rows = append(rows, l)
		}
	}
	// Header: op, shape, median, issue, bytes, FLOPs, GB/s, GFLOP/s, %copy, %sgemm, %bound, copies.
	if len(rows) != 3 || !strings.Contains(out, "median") || !strings.Contains(out, "%sgemm") {
		t.Fatalf("want 3 rows and a header:\n%s", out)
	}
	// Axpy over B·T·2H = 240 elements: 2.88 kB and 480 FLOPs.
	if f := strings.Fields(rows[0]); len(f) < 10 || f[0] != "Axpy" || f[2] != "B=3" || !strings.Contains(rows[0], "2.88 kB") || !strings.Contains(rows[0], " 480 ") {
		t.Errorf("Axpy row %q", rows[0])
	}
	if !slices.Contains(lines, "3 cases, 0 failed validation") {
		t.Errorf("no line %q:\n%s", "3 cases, 0 failed validation", out)
	}
	// Then the kernel target's ops among those run, at their largest shape.
	tail := lines[len(lines)-4:]
	if !strings.HasPrefix(tail[0], "target: ≥ 70% of the copy bandwidth") || !strings.HasPrefix(tail[1], "same-size copy: ") ||
		!strings.HasPrefix(strings.TrimSpace(tail[2]), "SoftmaxForward ") || !strings.HasPrefix(strings.TrimSpace(tail[3]), "SoftmaxBackward ") ||
		!strings.Contains(tail[2], "B=3 R=3 H=8") || !strings.Contains(tail[2], "same-size copy ") || !strings.HasSuffix(tail[3], "met") {
		t.Errorf("target lines:\n%s", strings.Join(tail, "\n"))
	}
}

func TestBenchKernelsJSON(t *testing.T) {
	code, out, errOut := runEmotion(t, append(tinyKernels, "--ops", `LSTM|Embedding`, "--json")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep bench.KernelReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	s, _ := bench.ShapesNamed("tiny")
	want := 0
	for _, n := range bench.CaseNames(s) {
		if strings.Contains(n, "LSTM") || strings.Contains(n, "Embedding") {
			want++ // one shape each in the tiny set
		}
	}
	if len(rep.Results) != want || rep.Failed != 0 || rep.Shapes.Name != "tiny" || rep.Ceilings.SgemmN != 32 || !(rep.Ceilings.CopyGBps > 0) {
		t.Fatalf("%d results (want %d), %d failed, shapes %q, ceilings %+v", len(rep.Results), want, rep.Failed, rep.Shapes.Name, rep.Ceilings)
	}
	for _, r := range rep.Results {
		if !r.Validated || !(r.MedianNS > 0) || r.Bytes <= 0 || len(r.Dims) == 0 {
			t.Errorf("%s: %+v", r.Name(), r)
		}
	}
	// The LSTM gates are target ops: both directions' step, forward and backward.
	if len(rep.Targets) != 2 || rep.Targets[0].Op != "LSTMGatesForward" || rep.Targets[1].Op != "LSTMGatesBackward" {
		t.Errorf("targets %+v", rep.Targets)
	}
	// The raw JSON carries the documented field names.
	for _, k := range []string{`"targets"`, `"yardstick"`, `"median_ns"`, `"gb_per_s"`, `"gflop_per_s"`, `"pct_copy"`, `"pct_sgemm"`, `"copy_gb_per_s"`, `"sgemm_gflop_per_s"`, `"max_rel_err"`} {
		if !strings.Contains(out, k) {
			t.Errorf("JSON lacks %s", k)
		}
	}
}

// brokenTanh spoils Tanh's output, as a kernel with a bug would.
type brokenTanh struct{ host.Backend }

func (b brokenTanh) Tanh(x, y *host.F32) {
	b.Backend.Tanh(x, y)
	b.Scale(1.01, y)
}

func TestBenchKernelsReportsMismatch(t *testing.T) {
	benchWrap = func(be host.Backend) host.Backend { return brokenTanh{be} }
	defer func() { benchWrap = nil }()
	code, out, errOut := runEmotion(t, append(tinyKernels, "--ops", `^Tanh`)...)
	if code != 1 {
		t.Fatalf("exit %d, want 1: %s", code, errOut)
	}
	if !strings.Contains(out, "Tanh ([B,T,2H])") || !strings.Contains(out, "MISMATCH: outputs differ from the reference") ||
		!strings.Contains(out, "TanhBackward") || !strings.Contains(out, "2 cases, 1 failed validation") {
		t.Errorf("output:\n%s", out)
	}
	if !strings.Contains(errOut, "emotion: bench kernels: 1 of 2 cases differ from the reference backend") {
		t.Errorf("stderr %q", errOut)
	}
}

// nanTanh makes Tanh's output NaN, as a kernel that leaves its output
// unwritten does on the emulated device (fresh memory is NaN there).
type nanTanh struct{ host.Backend }

func (b nanTanh) Tanh(x, y *host.F32) {
	b.Backend.Tanh(x, y)
	b.Scale(float32(math.NaN()), y)
}

// TestBenchKernelsJSONWithNaN checks that a mismatch whose error is NaN
// still gives the JSON report, on stdout and in the --json-out file, with
// the failure in it, and the command's error for the mismatch.
func TestBenchKernelsJSONWithNaN(t *testing.T) {
	benchWrap = func(be host.Backend) host.Backend { return nanTanh{be} }
	defer func() { benchWrap = nil }()
	file := filepath.Join(t.TempDir(), "kernels.json")
	code, out, errOut := runEmotion(t, append(tinyKernels, "--ops", `^Tanh`, "--json", "--json-out", file)...)
	if code != 1 || !strings.Contains(errOut, "emotion: bench kernels: 1 of 2 cases differ from the reference backend") {
		t.Fatalf("exit %d, stderr %q; want 1 and the mismatch", code, errOut)
	}
	saved, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"stdout": []byte(out), "--json-out": saved} {
		var rep bench.KernelReport
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatalf("%s: %v:\n%s", name, err, b)
		}
		if rep.Failed != 1 || len(rep.Results) != 2 || rep.Results[0].Op != "Tanh" || !strings.Contains(rep.Results[0].Error, "NaN") {
			t.Errorf("%s: %d failed, results %+v", name, rep.Failed, rep.Results)
		}
	}
}

func TestBenchTrain(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	dir := t.TempDir()
	for _, kind := range []string{model.KindSentence, model.KindDialog} {
		dump := filepath.Join(dir, kind+".batches")
		args := append([]string{"bench", "train", "--model", kind, "--threads", "1", "--dump-batches", dump, "--json"}, tinyTrain...)
		code, out, errOut := runEmotion(t, args...)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", kind, code, errOut)
		}
		var rep bench.TrainReport
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("%s: %v:\n%s", kind, err, out)
		}
		if rep.Model != kind || rep.Steps != 2 || rep.Warmup != 1 || rep.BatchSize != 4 || rep.Threads != 1 ||
			rep.Backend != "cpu (1 thread)" || !(rep.UttPerSec > 0) || !(rep.ForwardMs > 0) || rep.Source != "synthetic" {
			t.Errorf("%s: report %+v", kind, rep)
		}
		f, err := os.Open(dump)
		if err != nil {
			t.Fatal(err)
		}
		b, cfg, err := bench.ReadBatches(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if b.Kind != kind || len(b.Inputs) != 3 || b.Warmup != 1 || b.Vocab != 40 || cfg.Kind != kind || cfg.Hidden != 4 || cfg.Vocab != 40 || cfg.Dropout != 0.5 {
			t.Errorf("%s: dumped %d batches, warm-up %d, vocab %d, config %+v", kind, len(b.Inputs), b.Warmup, b.Vocab, cfg)
		}
		if rep.Params == 0 {
			t.Errorf("%s: no parameters", kind)
		}
	}
}

// TestBenchTrainSeed: bench train's --seed seeds the model: the dumped
// configurations of two seeds differ in their init seed.
func TestBenchTrainSeed(t *testing.T) {
	dir := t.TempDir()
	seeds := map[string]uint64{}
	for _, seed := range []string{"1", "2"} {
		dump := filepath.Join(dir, seed+".batches")
		args := append([]string{"bench", "train", "--model", "sentence", "--dump-batches", dump}, append(tinyTrain, "--steps", "0", "--seed", seed)...)
		if code, _, errOut := runEmotion(t, args...); code != 0 {
			t.Fatalf("--seed %s: exit %d: %s", seed, code, errOut)
		}
		f, err := os.Open(dump)
		if err != nil {
			t.Fatal(err)
		}
		_, cfg, err := bench.ReadBatches(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		seeds[seed] = cfg.Seed
	}
	if seeds["1"] != seedOf(1, 0) || seeds["2"] != seedOf(2, 0) {
		t.Errorf("dumped init seeds %v, want %d and %d", seeds, seedOf(1, 0), seedOf(2, 0))
	}
}

// TestBenchKernelsRotateDefault: on the CPU, bench kernels rotates each
// op's inputs through 64 MiB of copies by default, and --rotate-mib 0
// turns the rotation off (one copy).
func TestBenchKernelsRotateDefault(t *testing.T) {
	args := []string{"bench", "kernels", "--device", "cpu", "--shapes", "tiny", "--budget", "1ms",
		"--copy-mib", "1", "--gemm-n", "32", "--ops", "^Axpy", "--no-validate", "--json"}
	for _, tc := range []struct {
		flags []string
		many  bool
	}{{nil, true}, {[]string{"--rotate-mib", "0"}, false}} {
		code, out, errOut := runEmotion(t, append(slices.Clone(args), tc.flags...)...)
		if code != 0 {
			t.Fatalf("%q: exit %d: %s", tc.flags, code, errOut)
		}
		var rep bench.KernelReport
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		if len(rep.Results) == 0 {
			t.Fatalf("%q: no results:\n%s", tc.flags, out)
		}
		for _, r := range rep.Results {
			if (r.Copies > 1) != tc.many {
				t.Errorf("%q: %s rotated through %d copies", tc.flags, r.Name(), r.Copies)
			}
		}
	}
}

func TestBenchTrainText(t *testing.T) {
	code, out, errOut := runEmotion(t, append([]string{"bench", "train", "--model", "dialog"}, tinyTrain...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, w := range []string{
		"emotion bench train: dialog model (",
		"synthetic batches of 4; 1 warm-up, 2 timed steps per pass",
		"per step     4 utterances",
		"utt/s",
		"split        forward ",
		"memory       peak RSS ",
		"final loss   1.",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

func TestBenchTrainDumpOnlyAndData(t *testing.T) {
	dir := t.TempDir()
	dump := filepath.Join(dir, "only.batches")
	code, out, errOut := runEmotion(t, append([]string{"bench", "train", "--model", "sentence", "--dump-batches", dump}, append(tinyTrain, "--steps", "0")...)...)
	if code != 0 || out != "" {
		t.Fatalf("--steps 0: exit %d, stdout %q, stderr %s", code, out, errOut)
	}
	if st, err := os.Stat(dump); err != nil || st.Size() < 100 {
		t.Fatalf("dump: %v", err)
	}

	data, _ := writeFixture(t)
	code, out, errOut = runEmotion(t, append([]string{"bench", "train", "--model", "dialog", "--data", data, "--json"}, tinyTrain...)...)
	if code != 0 {
		t.Fatalf("--data: exit %d: %s", code, errOut)
	}
	var rep bench.TrainReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Source != data || rep.Steps != 2 || rep.RowsPerStep != 4 {
		t.Errorf("--data report %+v", rep)
	}
	code, _, errOut = runEmotion(t, "bench", "train", "--data", filepath.Join(dir, "missing"), "--steps", "1")
	if code != 1 || !strings.Contains(errOut, "missing") {
		t.Errorf("missing data: exit %d, %s", code, errOut)
	}
}

// TestPyTorchBenchReadsBatches runs tests/pytorch_bench.py on a dumped
// file when PyTorch is installed.
func TestPyTorchBenchReadsBatches(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import torch, numpy").Run(); err != nil {
		t.Skip("no PyTorch: ", err)
	}
	dir := t.TempDir()
	for _, kind := range []string{model.KindSentence, model.KindDialog} {
		dump := filepath.Join(dir, kind+".batches")
		ours := filepath.Join(dir, kind+".json")
		code, out, errOut := runEmotion(t, append([]string{"bench", "train", "--model", kind, "--dump-batches", dump, "--json"}, tinyTrain...)...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		if err := os.WriteFile(ours, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(py, "../../tests/pytorch_bench.py", "--batches", dump, "--ours", ours, "--threads", "1", "--json")
		res, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		var got struct {
			PyTorch map[string]any `json:"pytorch"`
			Emotion map[string]any `json:"emotion"`
			Ratio   float64        `json:"ratio_utt_per_sec"`
		}
		if err := json.Unmarshal(res, &got); err != nil {
			t.Fatalf("%s: %v:\n%s", kind, err, res)
		}
		p := got.PyTorch
		var rep bench.TrainReport
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		// The same architecture: PyTorch counts as many parameters.
		if p["params"] != float64(rep.Params) || p["model"] != kind || p["steps"] != 2.0 || p["warmup"] != 1.0 || p["threads"] != 1.0 ||
			p["rows_per_step"] != rep.RowsPerStep || p["tokens_per_step"] != rep.TokensPerStep || p["padded_tokens_per_step"] != rep.PaddedPerStep {
			t.Errorf("%s: PyTorch %v\nemotion %+v", kind, p, rep)
		}
		if !(got.Ratio > 0) || got.Emotion["framework"] != "emotion" {
			t.Errorf("%s: ratio %g", kind, got.Ratio)
		}
	}
}
