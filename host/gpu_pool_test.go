//go:build cuda || cudaemu

package host

import (
	"slices"
	"testing"
)

// TestGPUSizeClass checks the pool's size classes: the next power of two
// at or above the request, at least minClass, so that a power of two takes
// its own size and not double.
func TestGPUSizeClass(t *testing.T) {
	if minClass != 256 {
		t.Fatalf("minClass %d: the table assumes 256", minClass)
	}
	for _, c := range []struct{ bytes, want int }{
		{1, 256}, {4, 256}, {255, 256}, {256, 256}, {257, 512}, {512, 512},
		{1000, 1024}, {1024, 1024}, {1025, 2048}, {4 << 20, 4 << 20}, {4<<20 + 1, 8 << 20},
	} {
		if got := sizeClass(c.bytes); got != c.want {
			t.Errorf("sizeClass(%d) = %d, want %d", c.bytes, got, c.want)
		}
	}
}

// TestGPUFreeView checks Free's contract for views ("freeing a view or nil
// does nothing"): freeing views of a buffer, at its start or inside it,
// neither returns the buffer to the pool nor fails, and the buffer keeps
// its memory and contents.
func TestGPUFreeView(t *testing.T) {
	g, err := NewGPU(0)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	x := g.Alloc(8)
	want := []float32{1, 2, 3, 4, 5, 6, 7, 8}
	g.Upload(x, want)
	xi := g.AllocI32(8)
	g.UploadI32(xi, []int32{1, 2, 3, 4, 5, 6, 7, 8})
	if err := g.Sync(); err != nil {
		t.Fatal(err)
	}
	mallocs, bytes := g.PoolStats()
	live := len(g.live)

	g.Free(x.Slice(0, 4))
	g.Free(x.Slice(4, 4))
	g.FreeI32(xi.Slice(0, 4))
	g.FreeI32(xi.Slice(4, 4))
	g.Free(nil)
	g.FreeI32(nil)
	if err := g.Sync(); err != nil {
		t.Fatalf("Sync after freeing views: %v", err)
	}
	if m, b := g.PoolStats(); m != mallocs || b != bytes || len(g.live) != live {
		t.Errorf("pool after freeing views: %d mallocs, %d bytes, %d live; before: %d, %d, %d",
			m, b, len(g.live), mallocs, bytes, live)
	}
	if _, ok := g.live[ptr(x)]; !ok {
		t.Error("freeing a view at the start of a buffer returned the buffer to the pool")
	}
	if _, ok := g.live[iptr(xi)]; !ok {
		t.Error("freeing a view at the start of an int32 buffer returned the buffer to the pool")
	}
	// A new allocation does not get x's memory, and x still holds its data.
	y := g.Alloc(8)
	if ptr(y) == ptr(x) {
		t.Error("a new allocation got the memory of a buffer whose view was freed")
	}
	g.Fill(y, -1)
	got := make([]float32, 8)
	g.Download(got, x)
	if err := g.Sync(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("buffer after freeing its views: %v, want %v", got, want)
	}
}

// TestGPUSpareEvent checks that spare events are handed out once each: two
// events taken in a row from the spare list are distinct.
func TestGPUSpareEvent(t *testing.T) {
	g, err := NewGPU(0)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	e1, err := g.spareEvent()
	if err != nil {
		t.Fatal(err)
	}
	e2, err := g.spareEvent()
	if err != nil {
		t.Fatal(err)
	}
	if e1 == e2 {
		t.Fatal("two new events are the same")
	}
	g.events = append(g.events, e1, e2) // spare again
	a, err := g.spareEvent()
	if err != nil {
		t.Fatal(err)
	}
	b, err := g.spareEvent()
	if err != nil {
		t.Fatal(err)
	}
	g.events = append(g.events, a, b)
	if a == b {
		t.Error("spareEvent handed out the same spare event twice")
	}
	if !(a == e1 && b == e2 || a == e2 && b == e1) {
		t.Error("spareEvent made new events while spare ones were left")
	}
}

// TestGPUStagingRingWrap checks the upload ring's bookkeeping when an
// upload wraps to the ring's start onto a copy still pending there while
// the oldest pending copy lies beyond it: the upload must wait for every
// pending copy it overlaps, not only the oldest, so that pending copies
// never share ring bytes (on a GPU the newer upload's host write would
// corrupt the older copy), and each buffer holds what was uploaded.
func TestGPUStagingRingWrap(t *testing.T) {
	g, err := NewGPU(0)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if g.ringPos != 0 || len(g.pending) != 0 {
		t.Fatalf("new backend: ring at %d, %d pending", g.ringPos, len(g.pending))
	}
	r := len(g.ring) / 4 // ring, floats
	if r%16 != 0 {
		t.Fatalf("ring of %d bytes", len(g.ring))
	}
	// A fills [0, 7/8), B [7/8, 1); C wraps to [0, 1/4), waiting for A;
	// D wraps to [0, 13/16): it overlaps C, not B, the oldest pending.
	sizes := []int{7 * r / 8, r / 8, r / 4, 13 * r / 16}
	bufs := make([]*F32, len(sizes))
	data := make([][]float32, len(sizes))
	for i, n := range sizes {
		bufs[i] = g.Alloc(n)
		data[i] = make([]float32, n)
		for j := range data[i] {
			data[i][j] = float32(i*1_000_000 + j%999_983)
		}
	}
	for i := range sizes {
		g.Upload(bufs[i], data[i])
		for a, s := range g.pending {
			for _, u := range g.pending[a+1:] {
				if s.lo < u.hi && u.lo < s.hi {
					t.Fatalf("after upload %d: pending copies share ring bytes: [%d, %d) and [%d, %d)",
						i, s.lo, s.hi, u.lo, u.hi)
				}
			}
		}
	}
	if g.ringPos != 4*sizes[3] {
		t.Errorf("ring at %d after the last upload, want %d (the layout the test means)", g.ringPos, 4*sizes[3])
	}
	for i := range sizes {
		got := make([]float32, sizes[i])
		g.Download(got, bufs[i])
		if !slices.Equal(got, data[i]) {
			t.Errorf("buffer %d does not hold its upload", i)
		}
	}
	if err := g.Sync(); err != nil {
		t.Fatal(err)
	}
}
