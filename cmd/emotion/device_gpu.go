//go:build cuda || cudaemu

package main

import "github.com/emotionlab/emotion/host"

func init() {
	newGPUBackend = func() (host.Backend, error) {
		g, err := host.NewGPU(0)
		if err != nil {
			return nil, err
		}
		return g, nil
	}
}
