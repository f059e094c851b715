//go:build cudaemu

package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emotionlab/emotion/bench"
)

// TestBenchOnEmulatedGPU runs both benchmarks with --device cuda on the
// emulated device: every kernel is validated against the CPU backend, and
// a training step reports the device pool.
func TestBenchOnEmulatedGPU(t *testing.T) {
	args := []string{"bench", "kernels", "--device", "cuda", "--shapes", "tiny", "--budget", "1ms",
		"--copy-mib", "1", "--gemm-n", "32", "--rotate-mib", "0", "--json"}
	code, out, errOut := runEmotion(t, args...)
	if code != 0 {
		t.Fatalf("kernels: exit %d: %s\n%s", code, errOut, out)
	}
	var rep bench.KernelReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	s, _ := bench.ShapesNamed("tiny")
	if !strings.HasPrefix(rep.Backend, "cuda:0") || rep.Reference == "" || rep.Failed != 0 || len(rep.Results) < len(bench.CaseNames(s)) {
		t.Fatalf("kernels on %q against %q: %d results, %d failed", rep.Backend, rep.Reference, len(rep.Results), rep.Failed)
	}
	for _, r := range rep.Results {
		if !r.Validated || !(r.MedianNS > 0) {
			t.Errorf("%s: %+v", r.Name(), r)
		}
	}
	if rep.Launches != "dependent" {
		t.Errorf("launches %q by default, want dependent", rep.Launches)
	}

	// The sentence model, one step (and one profiled): the emulated LSTM is
	// slow.
	code, out, errOut = runEmotion(t, append([]string{"bench", "train", "--model", "sentence", "--json", "--profile"},
		append(tinyTrain, "--device", "cuda", "--steps", "1", "--warmup", "0")...)...)
	if code != 0 {
		t.Fatalf("train: exit %d: %s", code, errOut)
	}
	var tr bench.TrainReport
	if err := json.Unmarshal([]byte(out), &tr); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tr.Backend, "cuda:0") || tr.Launches != "dependent" || tr.PoolBytes <= 0 || tr.DeviceMallocs <= 0 || !(tr.UttPerSec > 0) {
		t.Errorf("train on the emulated GPU: %+v", tr)
	}
	if p := tr.Profile; p == nil || p.Steps != 1 || len(p.Ops) == 0 || !(p.DeviceMsPerStep > 0) {
		t.Errorf("--profile on the emulated GPU: %+v", p)
	}
}

// TestDependentLaunchFlag checks that --dependent-launch=false reaches the
// device and the reports, in text and JSON, and that the next command is
// back to the default.
func TestDependentLaunchFlag(t *testing.T) {
	args := []string{"bench", "kernels", "--device", "cuda", "--shapes", "tiny", "--ops", "^Fill", "--budget", "1ms",
		"--copy-mib", "1", "--gemm-n", "32", "--rotate-mib", "0"}
	for _, tc := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--dependent-launch=false"}, "stream"},
		{nil, "dependent"},
		{[]string{"--dependent-launch=false", "--json"}, "stream"},
	} {
		code, out, errOut := runEmotion(t, append(append([]string{}, args...), tc.flags...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", tc.flags, code, errOut)
		}
		if strings.Contains(strings.Join(tc.flags, " "), "--json") {
			var rep bench.KernelReport
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatal(err)
			}
			if rep.Launches != tc.want {
				t.Errorf("%v: launches %q, want %q", tc.flags, rep.Launches, tc.want)
			}
		} else if first, _, _ := strings.Cut(out, "\n"); !strings.Contains(first, ", "+tc.want+" launches") {
			t.Errorf("%v: heading %q does not say %s launches", tc.flags, first, tc.want)
		}
	}
}

// TestBenchEmulatedDefaults: without sizing flags, bench kernels on the
// emulated GPU takes the emulator's small defaults (tiny shapes, a 1 MiB
// copy, a 64² SGEMM, no rotation), not a GPU's, which would take it hours.
func TestBenchEmulatedDefaults(t *testing.T) {
	code, out, errOut := runEmotion(t, "bench", "kernels", "--device", "cuda", "--ops", "^Fill", "--budget", "1ms")
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, errOut, out)
	}
	for _, want := range []string{"shapes tiny", "2 buffers of 1 MiB", "n = 64"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestThreadsNoteOnGPU: --threads, which sets the CPU backend's threads,
// is said not to apply where the GPU backend runs, and not said on the CPU.
func TestThreadsNoteOnGPU(t *testing.T) {
	data, _ := writeFixture(t)
	for _, device := range []string{"cuda", "cpu"} {
		args := append([]string{"train", "--data", data, "--out", filepath.Join(t.TempDir(), "run")}, tinyRun...)
		args = append(args, "--threads", "1", "--device", device) // after tinyRun's --device cpu
		code, _, e := runEmotion(t, args...)
		if code != 0 {
			t.Fatalf("--device %s: exit %d: %s", device, code, e)
		}
		if got := strings.Contains(e, "note: --threads sets the CPU backend's threads; cuda:0"); got != (device == "cuda") {
			t.Errorf("--device %s --threads 1: the note shown %v: %s", device, got, e)
		}
	}
}

// TestThreadsNoteOnGPUDevices: the note that --threads does not apply to
// the GPU is said where --threads is given, whichever --device (cuda, its
// alias gpu, or auto) opened the GPU, and not without --threads.
func TestThreadsNoteOnGPUDevices(t *testing.T) {
	oldThreads, oldErr := cpuThreads, stderr
	defer func() { cpuThreads, stderr = oldThreads, oldErr }()
	for _, tc := range []struct {
		device  string
		threads int
		note    bool
	}{
		{"cuda", 0, false},
		{"auto", 0, false},
		{"gpu", 0, false},
		{"cuda", 2, true},
		{"auto", 2, true},
		{"gpu", 2, true},
	} {
		var e bytes.Buffer
		stderr, cpuThreads = &e, tc.threads
		be, err := newBackend(tc.device)
		if err != nil {
			t.Errorf("--device %s: %v", tc.device, err)
			continue
		}
		if c, ok := be.(interface{ Close() error }); ok {
			c.Close()
		}
		if !strings.HasPrefix(be.Name(), "cuda:0") {
			t.Errorf("--device %s: backend %q, want the GPU", tc.device, be.Name())
		}
		if got := strings.Contains(e.String(), "note: --threads sets the CPU backend's threads; cuda:0"); got != tc.note {
			t.Errorf("--device %s --threads %d: the note shown %v: %q", tc.device, tc.threads, got, e.String())
		}
	}
}
