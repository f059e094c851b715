package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestCPUProfileWriteError: a --cpuprofile that cannot be written (a
// full disk; /dev/full here) fails the command, naming the profile, where
// it exited 0 with the profile lost (runtime/pprof drops its write
// errors); a profile that can be written still is.
func TestCPUProfileWriteError(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full:", err)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	data, _ := writeFixture(t)
	train := func(profile string) []string {
		return []string{"train", "--data", data, "--out", filepath.Join(t.TempDir(), "run"), "--epochs", "1", "--max-batches", "1",
			"--quiet", "--device", "cpu", "--embed", "8", "--hidden", "4", "--dense", "4", "--min-count", "1", "--cpuprofile", profile}
	}
	benchTrain := func(profile string) []string {
		return append([]string{"bench", "train", "--threads", "1", "--cpuprofile", profile}, tinyTrain...)
	}
	for name, args := range map[string]func(string) []string{"train": train, "bench train": benchTrain} {
		code, _, errOut := runEmotion(t, args("/dev/full")...)
		if code != 1 || !strings.Contains(errOut, "cpu profile /dev/full") || !strings.Contains(errOut, "no space left on device") {
			t.Errorf("%s --cpuprofile /dev/full: exit %d, stderr %q", name, code, errOut)
		}
		good := filepath.Join(t.TempDir(), "cpu.pprof")
		if code, _, errOut := runEmotion(t, args(good)...); code != 0 {
			t.Errorf("%s --cpuprofile %s: exit %d, stderr %q", name, good, code, errOut)
		}
		if fi, err := os.Stat(good); err != nil || fi.Size() == 0 {
			t.Errorf("%s: profile %s: %v", name, good, err)
		}
	}
}
