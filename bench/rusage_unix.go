//go:build unix

package bench

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"strconv"
	"syscall"
)

// peakRSS returns the process's peak resident set size in bytes, or 0 when
// it cannot be read. On Linux it is VmHWM of /proc/self/status, the peak
// of this program's own memory: getrusage's ru_maxrss keeps the peak of
// the process before execve, so a program started by a large one (a
// Python script that loaded PyTorch) would report its parent's. Elsewhere
// it is ru_maxrss.
func peakRSS() int64 {
	if kb, ok := vmHWM(); ok {
		return kb * 1024
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	if runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
		return int64(ru.Maxrss) // bytes there
	}
	return int64(ru.Maxrss) * 1024 // KiB elsewhere
}

// vmHWM reads the "VmHWM: N kB" line of /proc/self/status.
func vmHWM() (int64, bool) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmHWM:")); ok {
			fields := bytes.Fields(rest)
			if len(fields) == 2 && string(fields[1]) == "kB" {
				kb, err := strconv.ParseInt(string(fields[0]), 10, 64)
				return kb, err == nil
			}
			return 0, false
		}
	}
	return 0, false
}
