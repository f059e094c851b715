//go:build !linux

package host

// PhysicalMemory is the memory this process may use, in bytes, and whether it is
// known; on this system it is not.
func PhysicalMemory() (int64, bool) { return 0, false }
