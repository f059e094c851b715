//go:build cuda || cudaemu

package host

import "testing"

// TestGPUOverflowSizes runs TestCPUOverflowSizes' cases on the GPU backend
// (real or emulated): sizes whose buffer needs overflow int fail the op's
// checks, before any launch or copy, with an error naming the op and the
// saturated need (the rest of the message differs from the CPU's: no
// sizes, the GPU's buffer names and order of checks).
func TestGPUOverflowSizes(t *testing.T) {
	for _, c := range overflowCases {
		if c.cpuOnly {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			g, err := NewGPU(0)
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			runOverflowCase(t, g, c, maxNeed)
		})
	}
}

func TestGPUAllocSizes(t *testing.T) {
	var gs []*GPU
	defer func() {
		for _, g := range gs {
			g.Close()
		}
	}()
	checkAllocSizes(t, func() Backend {
		g, err := NewGPU(0)
		if err != nil {
			t.Fatal(err)
		}
		gs = append(gs, g)
		return g
	})
}
