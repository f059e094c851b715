package model

import (
	"fmt"

	"github.com/emotionlab/emotion/host"
)

// checkParamMemory checks, before anything is allocated, that copies
// float32 copies of a model's params parameters (what needs them is
// what) fit in the memory this process may use (host.PhysicalMemory). A model larger than memory would
// otherwise end the process with Go's fatal out-of-memory error.
func checkParamMemory(params int64, copies int, what string) error {
	total, ok := host.PhysicalMemory()
	if !ok {
		return nil
	}
	if need := params * 4 * int64(copies); params > 0 && (need/params != 4*int64(copies) || need > total) {
		return fmt.Errorf("model: %d parameters: %s alone need %.1f GB, more than the %.1f GB of memory this process may use; make the model smaller",
			params, what, float64(params)*4*float64(copies)/1e9, float64(total)/1e9)
	}
	return nil
}
