//go:build linux

package main

import (
	"bytes"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestBenchDumpBatchesNotHalfWritten: a --dump-batches that fails part-way
// (a full disk; here a file size limit) leaves the file that was there,
// not the first bytes of the new one: the dump was written in place, and a
// failed one truncated the earlier dump to a file tests/pytorch_bench.py
// cannot read.
func TestBenchDumpBatchesNotHalfWritten(t *testing.T) {
	dump := filepath.Join(t.TempDir(), "x.batches")
	earlier := []byte("an earlier dump\n")
	if err := os.WriteFile(dump, earlier, 0o644); err != nil {
		t.Fatal(err)
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Skip("getrlimit:", err)
	}
	// Past the limit a write fails with EFBIG instead of the signal
	// killing the test.
	signal.Ignore(syscall.SIGXFSZ)
	defer signal.Reset(syscall.SIGXFSZ)
	small := lim
	small.Cur = 64
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &small); err != nil {
		t.Skip("setrlimit:", err)
	}
	code, _, errOut := runEmotion(t, append([]string{"bench", "train", "--model", "sentence", "--dump-batches", dump}, append(tinyTrain, "--steps", "0")...)...)
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatal(err)
	}
	if code != 1 || !strings.Contains(errOut, dump) {
		t.Errorf("exit %d, stderr %q: want 1 and an error naming %s", code, errOut, dump)
	}
	if got, err := os.ReadFile(dump); err != nil || !bytes.Equal(got, earlier) {
		t.Errorf("after the failed dump %s holds %q (%v), want the earlier %q", dump, got, err, earlier)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(dump), ".*tmp*")); len(left) > 0 {
		t.Errorf("temporary files left: %q", left)
	}
}
