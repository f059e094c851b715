//go:build cuda || cudaemu

package host

import (
	"fmt"
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
	// A GEMM split over k (gemmSplitK) is one entry, its launches inside.
	la, lb, lc := g.Alloc(2*1024), g.Alloc(1024*3), g.Alloc(2*3)
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
	g.Gemm(false, true, 2, 4, 3, 1, a, 3, b, 3, 0, c, 4) // on the tiled kernel
	g.Gemm(false, true, 2, 4, 3, 1, a, 3, b, 3, 0, c, 4)
	defaultTiledMax := gemmTiledMaxFMAs
	gemmTiledMaxFMAs = 0 // this one on cuBLAS, split
	split := gemmSplits(2, 3, 1024, 1, g.sms)
	g.Gemm(false, false, 2, 3, 1024, 1, la, 1024, lb, 3, 0, lc, 3)
	gemmTiledMaxFMAs = defaultTiledMax
	ops, err := g.StopProfile()
	if err != nil {
		t.Fatal(err)
	}
	g.Fill(x, 3) // after: not counted
	if split < 2 {
		t.Fatalf("a 2×3 GEMM over k = 1024 is not split (%d)", split)
	}
	want := map[string]int{"Fill (fill_f32)": fills, "Gemm A·Bᵀ m=2 n=4 k=3, tiled": 2,
		fmt.Sprintf("Gemm A·B m=2 n=3 k=1024, k in %d", split): 1}
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

// TestGemmLabel checks how a profile names a GEMM: the batch appears from
// two up, the route after the shape.
func TestGemmLabel(t *testing.T) {
	for _, c := range []struct {
		batch int
		route string
		want  string
	}{
		{1, "", "Gemm A·Bᵀ m=2 n=3 k=4"},
		{2, "", "Gemm A·Bᵀ m=2 n=3 k=4 ×2"},
		{3, "tiled", "Gemm A·Bᵀ m=2 n=3 k=4 ×3, tiled"},
	} {
		if got := gemmLabel("Gemm", false, true, 2, 3, 4, c.batch, c.route); got != c.want {
			t.Errorf("batch %d: %q, want %q", c.batch, got, c.want)
		}
	}
}
