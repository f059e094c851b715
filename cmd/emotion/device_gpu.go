//go:build cuda || cudaemu

package main

import (
	"github.com/emotionlab/emotion/cuda"
	"github.com/emotionlab/emotion/host"
)

func init() {
	gpuEmulated = cuda.Emulated
	newGPUBackend = func() (host.Backend, error) {
		g, err := host.NewGPU(0)
		if err != nil {
			return nil, err
		}
		if !dependentLaunch {
			if err := g.Device().SetDependentLaunch(false); err != nil {
				g.Close()
				return nil, err
			}
		}
		return g, nil
	}
}
