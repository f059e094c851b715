package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emotionlab/emotion/bench"
)

// TestBenchCompare writes reports with --json-out, compares them in text
// and JSON, and checks the errors of bad arguments and files.
func TestBenchCompare(t *testing.T) {
	dir := t.TempDir()
	k1, k2 := filepath.Join(dir, "k1.json"), filepath.Join(dir, "k2.json")
	for _, path := range []string{k1, k2} {
		args := append(append([]string{}, tinyKernels...), "--ops", `^(Tanh|LSTMGatesForward)`, "--json-out", path)
		if code, _, errOut := runEmotion(t, args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
	}
	var rep bench.KernelReport
	if err := readReport(k1, &rep); err != nil || len(rep.Results) == 0 {
		t.Fatalf("--json-out wrote %d results: %v", len(rep.Results), err)
	}
	code, out, errOut := runEmotion(t, "bench", "compare", k1, k2)
	if code != 0 {
		t.Fatalf("compare: exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "old: "+k1+" (cpu") || !strings.Contains(out, "LSTMGatesForward (2 directions)") ||
		!strings.Contains(out, fmt.Sprintf("%d cases in both, geometric mean speedup", len(rep.Results))) || !strings.Contains(out, "target (≥ 70%):") {
		t.Errorf("compare output:\n%s", out)
	}
	code, out, errOut = runEmotion(t, "bench", "compare", "--json", k1, k2)
	var c bench.KernelComparison
	if code != 0 || json.Unmarshal([]byte(out), &c) != nil || len(c.Changes) != len(rep.Results) || !(c.GeoMean > 0) {
		t.Fatalf("compare --json: exit %d, %d changes, geomean %g: %s\n%s", code, len(c.Changes), c.GeoMean, errOut, out)
	}

	t1, t2, tSentence := filepath.Join(dir, "t1.json"), filepath.Join(dir, "t2.json"), filepath.Join(dir, "ts.json")
	for _, run := range []struct{ model, path string }{{"dialog", t1}, {"dialog", t2}, {"sentence", tSentence}} {
		args := append([]string{"bench", "train", "--model", run.model, "--json-out", run.path}, tinyTrain...)
		if code, _, errOut := runEmotion(t, args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
	}
	code, out, errOut = runEmotion(t, "bench", "compare", t1, t2)
	if code != 0 || !strings.HasPrefix(out, "dialog model\n") || !strings.Contains(out, "utt/s,") || !strings.Contains(out, "backward") {
		t.Errorf("train compare: exit %d: %s\n%s", code, errOut, out)
	}

	notReport, malformed := filepath.Join(dir, "other.json"), filepath.Join(dir, "bad.json")
	os.WriteFile(notReport, []byte(`{"epoch": 3}`), 0o644)
	os.WriteFile(malformed, []byte(`{"results": [`), 0o644)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{k1}, 2, "want two reports"},
		{[]string{k1, k2, t1}, 2, "want two reports"},
		{[]string{k1, filepath.Join(dir, "missing.json")}, 1, "missing.json"},
		{[]string{k1, malformed}, 1, "bad.json"},
		{[]string{notReport, k1}, 1, "other.json: not a report"},
		{[]string{k1, t1}, 1, "is a kernels report"},
		{[]string{t1, tSentence}, 1, "different work"},
	} {
		code, _, errOut := runEmotion(t, append([]string{"bench", "compare"}, tc.args...)...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("compare %v: exit %d, %q; want exit %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
}

// TestPrintTargetYardsticks: a target's row says what each side measured
// it against, and flags sides measured against different yardsticks
// (%bound in one run, %copy in the other) as not comparable.
func TestPrintTargetYardsticks(t *testing.T) {
	var b strings.Builder
	printKernelComparison(&b, "a.json", "b.json", &bench.KernelComparison{Targets: []bench.TargetChange{
		{Op: "LSTMGatesForward", OldShape: "B=512", NewShape: "B=512", OldYardstick: "copy", NewYardstick: "copy", OldPct: 60, NewPct: 72, NewMet: true},
		{Op: "SoftmaxBackward", OldShape: "B=3", NewShape: "B=3", OldYardstick: "bound", NewYardstick: "copy", OldPct: 49, NewPct: 7.2},
	}})
	lines := strings.Split(b.String(), "\n")
	var gates, softmax string
	for _, l := range lines {
		if strings.Contains(l, "LSTMGatesForward") {
			gates = l
		}
		if strings.Contains(l, "SoftmaxBackward") {
			softmax = l
		}
	}
	if !strings.Contains(gates, "60.0% of copy") || !strings.Contains(gates, "72.0% of copy met") || strings.Contains(gates, "not comparable") {
		t.Errorf("same yardstick: %q", gates)
	}
	if !strings.Contains(softmax, "49.0% bound") || !strings.Contains(softmax, "7.2% of copy") || !strings.Contains(softmax, "not comparable") {
		t.Errorf("different yardsticks: %q", softmax)
	}
}
