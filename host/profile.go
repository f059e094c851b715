package host

import "time"

// OpTime is the device time of one kind of launch over a profiled stretch
// of work: the op and the kernel it launched (or the GEMM's shape), how
// many times, and their summed device time.
type OpTime struct {
	Op     string        `json:"op"`
	Calls  int           `json:"calls"`
	Device time.Duration `json:"device_ns"`
}

// Profiler is implemented by a backend that can time every launch it
// issues on its device (the GPU backend). StartProfile begins recording;
// StopProfile waits for the device and returns the device time of each
// kind of launch since, the longest first. Recording brackets each launch
// with two events, which costs the host a few microseconds a launch: a
// profiled step is slower than an unprofiled one, but the device times are
// the kernels' own.
type Profiler interface {
	StartProfile() error
	StopProfile() ([]OpTime, error)
}
