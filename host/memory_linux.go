package host

import "syscall"

// PhysicalMemory is the machine's memory in bytes, and whether it is
// known: what the CPU backend's buffers can never exceed, and what a
// model's parameters are checked against before they are allocated (an
// allocation beyond it ends a Go program with a fatal error, not an
// error it can return).
func PhysicalMemory() (int64, bool) {
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil || si.Totalram == 0 {
		return 0, false
	}
	return int64(si.Totalram) * int64(si.Unit), true
}
