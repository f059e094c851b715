package host

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// PhysicalMemory is the memory this process may use, in bytes, and
// whether it is known: the machine's, or its container's limit (cgroup
// v2 memory.max or v1 memory.limit_in_bytes) where that is lower. It is
// what the CPU backend's buffers can never exceed, and what a model's
// parameters are checked against before they are allocated (an
// allocation beyond it ends a Go program with a fatal error, or the
// kernel's OOM killer ends it, not an error it can return).
func PhysicalMemory() (int64, bool) {
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil || si.Totalram == 0 {
		return 0, false
	}
	total := int64(si.Totalram) * int64(si.Unit)
	for _, f := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		if b, err := os.ReadFile(f); err == nil {
			if limit, ok := parseMemoryLimit(string(b)); ok && limit < total {
				total = limit
			}
		}
	}
	return total, true
}

// parseMemoryLimit reads a cgroup memory limit: a byte count, or "max"
// (cgroup v2) for none; v1's "no limit" is a count near 2⁶³, above any
// machine's memory.
func parseMemoryLimit(s string) (int64, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 {
		return 0, false
	}
	return n, true
}
