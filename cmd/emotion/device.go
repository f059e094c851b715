package main

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/emotionlab/emotion/host"
)

// cpuThreads is the CPU backend's thread count (0: every core); the
// --threads of train, eval, predict and serve sets it.
var cpuThreads int

// addThreadsFlag adds --threads to fs.
func addThreadsFlag(fs *pflag.FlagSet) {
	fs.IntVar(&cpuThreads, "threads", 0, "CPU backend threads (0: every core)")
}

// checkThreads refuses a negative --threads.
func checkThreads() error {
	if cpuThreads < 0 {
		return usagef("--threads must not be negative, not %d (0: every core)", cpuThreads)
	}
	return nil
}

// dependentLaunch is --dependent-launch: launch kernels with programmatic
// dependent launch where the GPU has it (compute capability 9.0 and newer).
var dependentLaunch = true

// addDependentLaunchFlag adds --dependent-launch to fs.
func addDependentLaunchFlag(fs *pflag.FlagSet) {
	fs.BoolVar(&dependentLaunch, "dependent-launch", true,
		"on a GPU of compute capability 9.0 or newer (H100, H200), let each kernel's launch overlap the kernel before it (programmatic dependent launch); --dependent-launch=false launches in plain stream order")
}

// gpuEmulated reports whether the GPU backend of this build is the CPU
// emulation (the cudaemu build), whose timings are the emulator's.
var gpuEmulated bool

// newGPUBackend opens the GPU backend; it is set by device_gpu.go in the
// cuda and cudaemu builds and nil in the default build.
var newGPUBackend func() (host.Backend, error)

// newBackend returns the backend --device names: cpu, cuda, or auto (the
// GPU when this binary was built with it, else the CPU).
func newBackend(device string) (host.Backend, error) {
	switch device {
	case "cpu":
		return host.NewCPU(cpuThreads), nil
	case "cuda", "gpu":
		if newGPUBackend == nil {
			return nil, fmt.Errorf("--device %s: this binary was built without CUDA; rebuild with 'go build -tags cuda ./cmd/emotion' (see README) or use --device cpu", device)
		}
		be, err := newGPUBackend()
		if err == nil {
			noteThreads(be)
		}
		return be, err
	case "auto", "":
		if newGPUBackend != nil {
			if be, err := newGPUBackend(); err == nil {
				noteThreads(be)
				return be, nil
			}
		}
		return host.NewCPU(cpuThreads), nil
	}
	return nil, usagef("unknown --device %q (want cpu, cuda or auto)", device)
}

// noteThreads says that --threads, given, does not apply to the GPU
// backend be.
func noteThreads(be host.Backend) {
	if cpuThreads > 0 {
		fmt.Fprintf(stderr, "note: --threads sets the CPU backend's threads; %s does not use it\n", be.Name())
	}
}
