package host

import "testing"

func TestPoolClass(t *testing.T) {
	tests := []struct{ n, idx, size int }{
		{0, 0, 0}, {1, 1, 1}, {16, 16, 16},
		{17, 17, 20}, {20, 17, 20}, {21, 18, 24}, {32, 20, 32},
		{33, 21, 40}, {40, 21, 40}, {41, 22, 48}, {64, 24, 64},
		{65, 25, 80}, {1000, 0, 1024}, {1025, 0, 1280},
	}
	for _, tt := range tests {
		idx, size := poolClass(tt.n)
		if size != tt.size || (tt.idx != 0 && idx != tt.idx) {
			t.Errorf("poolClass(%d) = %d, %d; want %d, %d", tt.n, idx, size, tt.idx, tt.size)
		}
	}
	// Classes are increasing, hold their requests, waste at most a quarter,
	// and a class's size maps back to the class.
	prevIdx, prevSize := -1, -1
	for n := 0; n < 5000; n++ {
		idx, size := poolClass(n)
		if size < n || (n > 16 && 4*(size-n) > size) || idx < prevIdx || (idx == prevIdx && size != prevSize) || (idx > prevIdx && size <= prevSize) {
			t.Fatalf("poolClass(%d) = %d, %d after %d, %d", n, idx, size, prevIdx, prevSize)
		}
		if i2, s2 := poolClass(size); i2 != idx || s2 != size {
			t.Fatalf("poolClass(%d) = %d, %d, not its own class %d", size, i2, s2, idx)
		}
		prevIdx, prevSize = idx, size
	}
}

func TestPoolReuseZeroed(t *testing.T) {
	c := NewCPU(1)
	a := c.Alloc(100)
	c.Fill(a, 3)
	c.Free(a)
	b := c.Alloc(97) // same class (112)
	if b != a {
		t.Fatal("a freed buffer of the same class was not reused")
	}
	got := make([]float32, 97)
	c.Download(got, b)
	for i, v := range got {
		if v != 0 {
			t.Fatalf("reused buffer not zeroed: [%d] = %g", i, v)
		}
	}
	held := c.PoolBytes()
	d := c.Alloc(200) // another class: new memory
	if d == b || c.PoolBytes() != held+4*224 {
		t.Fatalf("pool holds %d bytes after a new class, want %d", c.PoolBytes(), held+4*224)
	}
	xi := c.AllocI32(5)
	c.UploadI32(xi, []int32{1, 2, 3, 4, 5})
	c.FreeI32(xi)
	yi := c.AllocI32(5)
	gi := make([]int32, 5)
	c.DownloadI32(gi, yi)
	if yi != xi || gi[0]|gi[1]|gi[2]|gi[3]|gi[4] != 0 {
		t.Fatalf("int32 buffer not reused zeroed: %v", gi)
	}
	if err := c.Err(); err != nil {
		t.Fatal(err)
	}
}

// TestPoolSteadyStateAllocs checks that an Alloc/Free cycle of the same
// shapes allocates nothing once the pool is warm.
func TestPoolSteadyStateAllocs(t *testing.T) {
	c := NewCPU(1)
	cycle := func() {
		a := c.Alloc(1000)
		b := c.Alloc(33)
		i := c.AllocI32(64)
		c.Free(a)
		c.Free(b)
		c.FreeI32(i)
	}
	cycle()
	if n := testing.AllocsPerRun(100, cycle); n != 0 {
		t.Fatalf("Alloc/Free cycle allocates %v times per run", n)
	}
	if err := c.Err(); err != nil {
		t.Fatal(err)
	}
}

func TestAdjacentJoin(t *testing.T) {
	c := NewCPU(1)
	a, other := c.Alloc(10), c.Alloc(4)
	x, y, z := a.Slice(0, 3), a.Slice(3, 4), a.Slice(8, 2)
	if !Adjacent(x, y) || Adjacent(y, x) || Adjacent(y, z) || Adjacent(x, other) || Adjacent(nil, x) {
		t.Error("Adjacent")
	}
	if !Adjacent(y.Slice(0, 2), y.Slice(2, 2)) {
		t.Error("Adjacent of views of a view")
	}
	j := Join(x, y)
	c.Upload(a, []float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	got := make([]float32, j.Len())
	c.Download(got, j)
	if len(got) != 7 || got[0] != 0 || got[6] != 6 {
		t.Errorf("Join(x, y) = %v", got)
	}
	if j := Join(x, z); j.Len() != 10 {
		t.Errorf("Join(x, z) has %d elements", j.Len())
	}
	defer func() {
		if recover() == nil {
			t.Error("Join of buffers of two allocations did not panic")
		}
	}()
	Join(x, other)
}
