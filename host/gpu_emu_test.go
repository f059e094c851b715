//go:build cudaemu

package host

import (
	"errors"
	"strings"
	"testing"

	"github.com/emotionlab/emotion/cuda"
)

// TestGPUOutOfMemory checks that running the device out of memory is the
// backend's error, after the pool gave back its spare memory, not a crash.
func TestGPUOutOfMemory(t *testing.T) {
	g, err := NewGPU(0)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	dev := g.Device()
	_, total, _ := dev.MemInfo()
	defer dev.SetMemoryLimit(total)
	free, _, _ := dev.MemInfo()
	dev.SetMemoryLimit(total - free + 1<<20) // 1 MiB left

	// Spare pool memory is given back when it is needed.
	for range 3 {
		g.Free(g.Alloc(100_000)) // 512 KiB class
	}
	a := g.Alloc(200_000) // 1 MiB class: fits only once the spare 512 KiB is freed
	if err := g.Sync(); err != nil {
		t.Fatalf("allocation that fits after trimming the pool: %v", err)
	}
	if a == nil {
		t.Fatal("nil buffer")
	}
	if b := g.Alloc(300_000); b != nil {
		t.Errorf("allocation past the device's memory returned a buffer")
	}
	err = g.Sync()
	if !errors.Is(err, cuda.ErrOutOfMemory) || !strings.Contains(err.Error(), "Alloc") {
		t.Fatalf("Sync after running out of memory: %v", err)
	}
}
