//go:build cudaemu

package kernels

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"
)

func devAlloc(t *testing.T, n int) uintptr {
	t.Helper()
	p, err := EmuMalloc(4 * n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := EmuFree(p); err != nil {
			t.Error(err)
		}
	})
	return p
}

func upload(p uintptr, x []float32) {
	if err := EmuCopyToDevice(p, unsafe.Pointer(&x[0]), 4*len(x)); err != nil {
		panic(err)
	}
}

func download(p uintptr, n int) []float32 {
	x := make([]float32, n)
	if err := EmuCopyToHost(unsafe.Pointer(&x[0]), p, 4*n); err != nil {
		panic(err)
	}
	return x
}

func i32(v int) EmuArg     { return EmuArg{ArgI32, uint64(uint32(int32(v)))} }
func ptr(p uintptr) EmuArg { return EmuArg{ArgPtr, uint64(p)} }

func TestRegistryMatchesSources(t *testing.T) {
	got := EmuKernelNames()
	slices.Sort(got)
	want := Names(true)
	if !slices.Equal(got, want) {
		t.Fatalf("registry %v\nsources %v", got, want)
	}
	for _, n := range Names(false) {
		if strings.HasPrefix(n, "selftest_") {
			t.Errorf("Names(false) has %s", n)
		}
	}
}

func TestIota(t *testing.T) {
	for _, tc := range []struct{ n, grid, block int }{{1, 1, 1}, {37, 1, 32}, {1000, 3, 96}, {77, 10, 33}} {
		p := devAlloc(t, tc.n)
		if err := EmuLaunch("selftest_iota", [3]int{tc.grid, 1, 1}, [3]int{tc.block, 1, 1}, 0, []EmuArg{i32(tc.n), ptr(p)}); err != nil {
			t.Fatal(err)
		}
		for i, v := range download(p, tc.n) {
			if v != float32(i) {
				t.Fatalf("n=%d: y[%d] = %v", tc.n, i, v)
			}
		}
	}
}

func TestWarpSoftmax(t *testing.T) {
	for _, tc := range []struct{ rows, cols, warps int }{{1, 1, 1}, {7, 45, 2}, {5, 300, 4}, {3, 32, 1}} {
		x := make([]float32, tc.rows*tc.cols)
		for i := range x {
			x[i] = float32(math.Sin(float64(i)*1.7)) * 5
		}
		px, py := devAlloc(t, len(x)), devAlloc(t, len(x))
		upload(px, x)
		grid := (tc.rows + tc.warps - 1) / tc.warps
		if err := EmuLaunch("selftest_warp_softmax", [3]int{grid, 1, 1}, [3]int{32 * tc.warps, 1, 1}, 0,
			[]EmuArg{i32(tc.rows), i32(tc.cols), ptr(px), ptr(py)}); err != nil {
			t.Fatal(err)
		}
		y := download(py, len(x))
		for r := range tc.rows {
			row := x[r*tc.cols : (r+1)*tc.cols]
			m := math.Inf(-1)
			for _, v := range row {
				m = math.Max(m, float64(v))
			}
			s := 0.0
			for _, v := range row {
				s += math.Exp(float64(v) - m)
			}
			for c, v := range row {
				want := math.Exp(float64(v)-m) / s
				if got := float64(y[r*tc.cols+c]); math.Abs(got-want) > 1e-6+1e-5*want {
					t.Fatalf("%+v: y[%d,%d] = %v, want %v", tc, r, c, got, want)
				}
			}
		}
	}
}

func TestBlockSum(t *testing.T) {
	for _, tc := range []struct{ n, block int }{{1, 32}, {100, 64}, {5000, 1024}, {33, 96}} {
		x := make([]float32, tc.n)
		want := 0.0
		for i := range x {
			x[i] = float32(i%7) - 2.5
			want += float64(x[i])
		}
		px, po := devAlloc(t, tc.n), devAlloc(t, 1)
		upload(px, x)
		if err := EmuLaunch("selftest_block_sum", [3]int{1, 1, 1}, [3]int{tc.block, 1, 1}, 0, []EmuArg{i32(tc.n), ptr(px), ptr(po)}); err != nil {
			t.Fatal(err)
		}
		if got := download(po, 1)[0]; math.Abs(float64(got)-want) > 1e-3 {
			t.Errorf("%+v: sum %v, want %v", tc, got, want)
		}
	}
}

func TestShuffleDown(t *testing.T) {
	x := make([]float32, 64)
	for i := range x {
		x[i] = float32(i)
	}
	px, py := devAlloc(t, 64), devAlloc(t, 64)
	upload(px, x)
	if err := EmuLaunch("selftest_shfl_down", [3]int{1, 1, 1}, [3]int{64, 1, 1}, 0, []EmuArg{i32(3), ptr(px), ptr(py)}); err != nil {
		t.Fatal(err)
	}
	for i, v := range download(py, 64) {
		want := float32(i + 3)
		if i%32 >= 29 {
			want = float32(i)
		}
		if v != want {
			t.Fatalf("y[%d] = %v, want %v", i, v, want)
		}
	}
}

// TestCaughtBugs checks that what would be undefined behaviour on a GPU is
// an error here, not a crash and not a silent wrong answer.
func TestCaughtBugs(t *testing.T) {
	p := devAlloc(t, 64)
	for _, tc := range []struct {
		name        string
		kernel      string
		grid, block [3]int
		shared      int
		args        []EmuArg
		want        string
	}{
		{"missing barrier", "selftest_missing_barrier", [3]int{1, 1, 1}, [3]int{64, 1, 1}, 0, []EmuArg{i32(40), ptr(p)}, "__syncthreads() reached by 40 of 64 threads"},
		{"out of bounds", "selftest_oob", [3]int{2, 1, 1}, [3]int{64, 1, 1}, 0, []EmuArg{i32(64), ptr(p)}, "out-of-bounds access"},
		{"shared read after another's write", "selftest_shared_race", [3]int{1, 1, 1}, [3]int{64, 1, 1}, 0, []EmuArg{i32(0), i32(64), ptr(p)}, "thread (1,0,0): shared memory hazard: reads __shared__ buf[0], which thread 0 wrote"},
		{"shared write after another's read", "selftest_shared_race", [3]int{1, 1, 1}, [3]int{64, 1, 1}, 0, []EmuArg{i32(1), i32(64), ptr(p)}, "thread (1,0,0): shared memory hazard: writes __shared__ buf[1], which thread 0 read"},
		{"shared write after another's write", "selftest_shared_race", [3]int{1, 1, 1}, [3]int{64, 1, 1}, 0, []EmuArg{i32(2), i32(64), ptr(p)}, "writes __shared__ buf[0], which thread 0 wrote"},
		{"shared out of bounds", "selftest_shared_race", [3]int{1, 1, 1}, [3]int{64, 1, 1}, 0, []EmuArg{i32(3), i32(64), ptr(p)}, "thread (63,0,0): out-of-bounds access: index 1024 of __shared__ buf[1024]"},
		{"shared read before any write", "selftest_shared_race", [3]int{1, 1, 1}, [3]int{64, 1, 1}, 0, []EmuArg{i32(4), i32(64), ptr(p)}, "thread (0,0,0): reads __shared__ buf[0] before any thread of this block wrote it"},
		{"full-mask shuffle in a partial warp", "selftest_shfl_down", [3]int{1, 1, 1}, [3]int{40, 1, 1}, 0, []EmuArg{i32(1), ptr(p), ptr(p)}, "warp 1 has 8 lanes, but a warp operation's mask 0xffffffff names lanes beyond them"},
		{"device memory before GRID_DEPENDENCY_SYNC", "selftest_read_before_sync", [3]int{1, 1, 1}, [3]int{32, 1, 1}, 0, []EmuArg{ptr(p), ptr(p)}, "thread (0,0,0): device memory accessed before GRID_DEPENDENCY_SYNC() (index 0)"},
		{"shuffle with exited lanes", "selftest_shfl_exited", [3]int{1, 1, 1}, [3]int{32, 1, 1}, 0, []EmuArg{ptr(p)}, "exited while lanes"},
		{"block too large", "selftest_iota", [3]int{1, 1, 1}, [3]int{1025, 1, 1}, 0, []EmuArg{i32(1), ptr(p)}, "exceeds 1024 threads"},
		{"block too large in 2-D", "selftest_iota", [3]int{1, 1, 1}, [3]int{64, 32, 1}, 0, []EmuArg{i32(1), ptr(p)}, "exceeds 1024 threads"},
		{"grid of zero", "selftest_iota", [3]int{0, 1, 1}, [3]int{32, 1, 1}, 0, []EmuArg{i32(1), ptr(p)}, "dimension is 0"},
		{"too much shared memory", "selftest_iota", [3]int{1, 1, 1}, [3]int{32, 1, 1}, 48*1024 + 1, []EmuArg{i32(1), ptr(p)}, "exceed 48 KiB"},
		{"unknown kernel", "no_such_kernel", [3]int{1, 1, 1}, [3]int{32, 1, 1}, 0, nil, "no kernel named no_such_kernel"},
		{"too few arguments", "selftest_iota", [3]int{1, 1, 1}, [3]int{32, 1, 1}, 0, []EmuArg{i32(1)}, "takes 2 arguments, got 1"},
		{"argument of the wrong kind", "selftest_iota", [3]int{1, 1, 1}, [3]int{32, 1, 1}, 0, []EmuArg{ptr(p), ptr(p)}, "argument 0: kernel wants int, got pointer"},
		{"pointer not to device memory", "selftest_iota", [3]int{1, 1, 1}, [3]int{32, 1, 1}, 0, []EmuArg{i32(1), {ArgPtr, 8}}, "not device memory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := EmuLaunch(tc.kernel, tc.grid, tc.block, tc.shared, tc.args)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	// The device still works after a failed launch.
	if err := EmuLaunch("selftest_iota", [3]int{1, 1, 1}, [3]int{64, 1, 1}, 0, []EmuArg{i32(64), ptr(p)}); err != nil {
		t.Fatal(err)
	}
}

func TestMemoryChecks(t *testing.T) {
	p, err := EmuMalloc(40)
	if err != nil {
		t.Fatal(err)
	}
	if got := download(p, 1)[0]; !math.IsNaN(float64(got)) {
		t.Errorf("fresh memory reads %v, want NaN", got)
	}
	if err := EmuCheckRange(p+36, 4); err != nil {
		t.Error(err)
	}
	if err := EmuCopyToHost(unsafe.Pointer(&make([]byte, 8)[0]), p+36, 8); err == nil || !strings.Contains(err.Error(), "past the end") {
		t.Errorf("range past the end: %v", err)
	}
	// Scribble on the guard past the end: Free must notice.
	emuPoke(p+40, []byte{0})
	if err := EmuFree(p); err == nil || !strings.Contains(err.Error(), "guard") {
		t.Errorf("free after overrun: %v", err)
	}
	if err := EmuFree(p); err == nil || !strings.Contains(err.Error(), "not an allocation") {
		t.Errorf("double free: %v", err)
	}

	old := EmuCapacity()
	defer EmuSetCapacity(old)
	EmuSetCapacity(EmuInUse() + 1000)
	if _, err := EmuMalloc(2000); !errors.Is(err, ErrOutOfMemory) {
		t.Errorf("malloc over capacity: %v", err)
	}
}

func TestSgemm(t *testing.T) {
	// Column-major: C (m×n) = alpha·op(A)·op(B) + beta·C, batched.
	for _, tc := range []struct {
		ta, tb         bool
		m, n, k, batch int
		beta           float32
	}{{false, false, 3, 5, 7, 1, 0}, {true, false, 4, 2, 33, 2, 0.5}, {false, true, 17, 9, 3, 3, 1}, {true, true, 1, 1, 1, 1, 0}} {
		lda := tc.m + 1
		if tc.ta {
			lda = tc.k + 2
		}
		ldb := tc.k
		if tc.tb {
			ldb = tc.n + 3
		}
		ldc := tc.m + 1
		acols, bcols := tc.k, tc.n
		if tc.ta {
			acols = tc.m
		}
		if tc.tb {
			bcols = tc.k
		}
		sa, sb, sc := lda*acols+5, ldb*bcols, ldc*tc.n+1
		a, b, c := make([]float32, sa*tc.batch), make([]float32, sb*tc.batch), make([]float32, sc*tc.batch)
		for i := range a {
			a[i] = float32(i%11) - 5
		}
		for i := range b {
			b[i] = float32(i%5) * 0.5
		}
		for i := range c {
			c[i] = float32(i % 3)
		}
		pa, pb, pc := devAlloc(t, len(a)), devAlloc(t, len(b)), devAlloc(t, len(c))
		upload(pa, a)
		upload(pb, b)
		upload(pc, c)
		if err := EmuSgemm(tc.ta, tc.tb, tc.m, tc.n, tc.k, 1.5, pa, lda, sa, pb, ldb, sb, tc.beta, pc, ldc, sc, tc.batch); err != nil {
			t.Fatal(err)
		}
		got := download(pc, len(c))
		for p := range tc.batch {
			for i := range tc.m {
				for j := range tc.n {
					s := 0.0
					for l := range tc.k {
						var av, bv float32
						if tc.ta {
							av = a[p*sa+l+i*lda]
						} else {
							av = a[p*sa+i+l*lda]
						}
						if tc.tb {
							bv = b[p*sb+j+l*ldb]
						} else {
							bv = b[p*sb+l+j*ldb]
						}
						s += float64(av) * float64(bv)
					}
					want := 1.5*s + float64(tc.beta)*float64(c[p*sc+i+j*ldc])
					if g := float64(got[p*sc+i+j*ldc]); math.Abs(g-want) > 1e-4*(1+math.Abs(want)) {
						t.Fatalf("%+v: C[%d](%d,%d) = %v, want %v", tc, p, i, j, g, want)
					}
				}
			}
		}
	}
	p := devAlloc(t, 10)
	if err := EmuSgemm(false, false, 4, 4, 4, 1, p, 4, 0, p, 4, 0, 0, p, 4, 0, 1); err == nil || !strings.Contains(err.Error(), "past the end") {
		t.Errorf("gemm over a too small buffer: %v", err)
	}
	// Each operand is checked, every problem of a batch: 4×4 matrices
	// need 16 floats, the second problem at stride 16 floats 32.
	big, c := devAlloc(t, 64), devAlloc(t, 64)
	for _, tc := range []struct {
		a, b  uintptr
		batch int
		want  string
	}{
		{p, big, 1, "A (4x4, ld 4, problem 0)"},
		{big, p, 1, "B (4x4, ld 4, problem 0)"},
		{devAlloc(t, 20), big, 2, "A (4x4, ld 4, problem 1)"},
		{big, devAlloc(t, 20), 2, "B (4x4, ld 4, problem 1)"},
	} {
		err := EmuSgemm(false, false, 4, 4, 4, 1, tc.a, 4, 16, tc.b, 4, 16, 0, c, 4, 16, tc.batch)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "past the end") {
			t.Errorf("gemm with a too small operand: %v, want an error naming %q", err, tc.want)
		}
	}
}

// TestStreamHold checks the benchmarks' stream hold: released, it returns
// at once and reports no timeout; never released, it gives up after its
// timeout and says so.
func TestStreamHold(t *testing.T) {
	words := devAlloc(t, 2) // release, timed_out
	for _, tc := range []struct {
		name     string
		release  int32
		timeout  time.Duration
		timedOut bool
	}{
		{"released", 1, time.Minute, false},
		{"never released", 0, 3 * time.Millisecond, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			init := []int32{tc.release, 0}
			if err := EmuCopyToDevice(words, unsafe.Pointer(&init[0]), 8); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err := EmuLaunch("stream_hold", [3]int{1, 1, 1}, [3]int{1, 1, 1}, 0,
				[]EmuArg{ptr(words), {ArgU64, uint64(tc.timeout.Nanoseconds())}, ptr(words + 4)})
			if err != nil {
				t.Fatal(err)
			}
			took := time.Since(start)
			var got [2]int32
			if err := EmuCopyToHost(unsafe.Pointer(&got[0]), words, 8); err != nil {
				t.Fatal(err)
			}
			if (got[1] == 1) != tc.timedOut || got[0] != tc.release {
				t.Errorf("words after the hold %v, want timed out %v and the release word unchanged", got, tc.timedOut)
			}
			if tc.timedOut && took < tc.timeout {
				t.Errorf("gave up after %v, before its timeout of %v", took, tc.timeout)
			}
		})
	}
}
