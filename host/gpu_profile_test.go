//go:build cuda || cudaemu

package host

import (
	"strings"
	"testing"
)

// TestGPUProfile checks that a profile counts every launch under its op,
// kernel or GEMM shape, in order of device time, across more launches than
// the profiler keeps in flight, and that it records nothing outside
// StartProfile/StopProfile.
func TestGPUProfile(t *testing.T) {
	g, err := NewGPU(0)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if _, err := g.StopProfile(); err == nil || !strings.Contains(err.Error(), "not profiling") {
		t.Errorf("StopProfile before StartProfile: %v", err)
	}
	x, a, b, c := g.Alloc(1000), g.Alloc(6), g.Alloc(12), g.Alloc(8)
	g.Fill(x, 1) // before the profile: not counted
	if err := g.StartProfile(); err != nil {
		t.Fatal(err)
	}
	if err := g.StartProfile(); err == nil {
		t.Error("a second StartProfile did not fail")
	}
	fills := profileSettleAt + 5
	for range fills {
		g.Fill(x, 2)
	}
	g.Gemm(false, true, 2, 4, 3, 1, a, 3, b, 3, 0, c, 4)
	g.Gemm(false, true, 2, 4, 3, 1, a, 3, b, 3, 0, c, 4)
	ops, err := g.StopProfile()
	if err != nil {
		t.Fatal(err)
	}
	g.Fill(x, 3) // after: not counted
	want := map[string]int{"Fill (fill_f32)": fills, "Gemm A·Bᵀ m=2 n=4 k=3": 2}
	if len(ops) != len(want) {
		t.Fatalf("profile %+v, want the ops %v", ops, want)
	}
	for i, o := range ops {
		if want[o.Op] != o.Calls {
			t.Errorf("%s: %d calls, want %d", o.Op, o.Calls, want[o.Op])
		}
		if o.Device < 0 || (i > 0 && o.Device > ops[i-1].Device) {
			t.Errorf("%s: device time %v out of order in %+v", o.Op, o.Device, ops)
		}
	}
	if err := g.StartProfile(); err != nil {
		t.Fatal(err)
	}
	if ops, err := g.StopProfile(); err != nil || len(ops) != 0 {
		t.Errorf("an empty profile: %+v, %v", ops, err)
	}
}
