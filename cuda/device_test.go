//go:build cuda || cudaemu

package cuda

import (
	"errors"
	"math"
	"strings"
	"testing"
	"unsafe"
)

// These tests run on the real device (cuda build, on a GPU machine) and on
// the emulated one (cudaemu), with the kernels of the fatbin.

func openDevice(t *testing.T) *Device {
	t.Helper()
	d, err := Open(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Error(err)
		}
	})
	return d
}

func mustMalloc(t *testing.T, d *Device, floats int) DevicePtr {
	t.Helper()
	p, err := d.Malloc(4 * floats)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Free(p); err != nil {
			t.Error(err)
		}
	})
	return p
}

func toDevice(t *testing.T, d *Device, p DevicePtr, x []float32, s Stream) {
	t.Helper()
	if err := d.MemcpyHtoD(p, unsafe.Pointer(&x[0]), 4*len(x), s); err != nil {
		t.Fatal(err)
	}
}

func fromDevice(t *testing.T, d *Device, p DevicePtr, n int) []float32 {
	t.Helper()
	x := make([]float32, n)
	if err := d.MemcpyDtoH(unsafe.Pointer(&x[0]), p, 4*n, Compute); err != nil {
		t.Fatal(err)
	}
	if err := d.StreamSynchronize(Compute); err != nil {
		t.Fatal(err)
	}
	return x
}

func TestDeviceMemoryAndLaunch(t *testing.T) {
	d := openDevice(t)
	t.Log(d.Name())
	const n = 1000
	p := mustMalloc(t, d, n)
	if err := d.Launch("fill_f32", [3]int{3, 1, 1}, [3]int{128, 1, 1}, 0, n, float32(2.5), p); err != nil {
		t.Fatal(err)
	}
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(i)
	}
	q := mustMalloc(t, d, n)
	// Upload on the copy stream, ordered after the fill by events.
	before, err := d.NewEvent()
	if err != nil {
		t.Fatal(err)
	}
	defer d.DestroyEvent(before)
	if err := d.Record(before, Compute); err != nil {
		t.Fatal(err)
	}
	if err := d.StreamWait(Copy, before); err != nil {
		t.Fatal(err)
	}
	toDevice(t, d, q, x, Copy)
	after, err := d.NewEvent()
	if err != nil {
		t.Fatal(err)
	}
	defer d.DestroyEvent(after)
	if err := d.Record(after, Copy); err != nil {
		t.Fatal(err)
	}
	if err := d.StreamWait(Compute, after); err != nil {
		t.Fatal(err)
	}
	if err := d.Launch("axpy_f32", [3]int{4, 1, 1}, [3]int{256, 1, 1}, 0, n, float32(2), q, p); err != nil {
		t.Fatal(err)
	}
	for i, v := range fromDevice(t, d, p, n) {
		if want := 2.5 + 2*float32(i); v != want {
			t.Fatalf("y[%d] = %v, want %v", i, v, want)
		}
	}
	if err := d.MemcpyDtoD(p, q, 4*n, Compute); err != nil {
		t.Fatal(err)
	}
	if err := d.MemsetD32(q, math.Float32bits(-1), n/2, Compute); err != nil {
		t.Fatal(err)
	}
	y, z := fromDevice(t, d, p, n), fromDevice(t, d, q, n)
	if y[999] != 999 || z[0] != -1 || z[499] != -1 || z[500] != 500 {
		t.Errorf("after copy and memset: %v %v %v %v", y[999], z[0], z[499], z[500])
	}
}

func TestDeviceErrors(t *testing.T) {
	d := openDevice(t)
	p := mustMalloc(t, d, 10)
	err := d.Launch("no_such_kernel", [3]int{1, 1, 1}, [3]int{32, 1, 1}, 0, 1, p)
	if err == nil || !strings.Contains(err.Error(), "launch no_such_kernel grid [1 1 1] block [32 1 1]") {
		t.Errorf("unknown kernel: %v", err)
	}
	err = d.Launch("fill_f32", [3]int{1, 1, 1}, [3]int{1025, 1, 1}, 0, 10, float32(0), p)
	if err == nil || !strings.Contains(err.Error(), "exceeds 1024 threads") {
		t.Errorf("bad shape: %v", err)
	}
	_, err = d.Malloc(1 << 50)
	if !errors.Is(err, ErrOutOfMemory) {
		t.Errorf("malloc of 1 PiB: %v, want ErrOutOfMemory", err)
	}
	// No allocation of nothing, as cuMemAlloc(0) fails.
	for _, n := range []int{0, -4} {
		if p, err := d.Malloc(n); err == nil || !strings.Contains(err.Error(), "malloc of") {
			t.Errorf("Malloc(%d) = %#x, %v; want an error", n, uintptr(p), err)
		}
		if _, err := d.MallocHost(n); err == nil || !strings.Contains(err.Error(), "malloc of") {
			t.Errorf("MallocHost(%d): %v, want an error", n, err)
		}
	}
	// The device still works after those.
	if err := d.Launch("fill_f32", [3]int{1, 1, 1}, [3]int{32, 1, 1}, 0, 10, float32(3), p); err != nil {
		t.Fatal(err)
	}
	if got := fromDevice(t, d, p, 10); got[9] != 3 {
		t.Errorf("fill after errors: %v", got)
	}
}

// TestDeviceSgemm checks cuBLAS's column-major semantics, batched too.
func TestDeviceSgemm(t *testing.T) {
	d := openDevice(t)
	for _, tc := range []struct {
		ta, tb         bool
		m, n, k, batch int
		beta           float32
	}{{false, false, 5, 7, 33, 1, 0}, {true, false, 37, 3, 9, 1, 0.5}, {false, true, 4, 65, 17, 3, 1}, {true, true, 33, 33, 33, 2, 0}} {
		ar, ac := tc.m, tc.k // column-major rows×cols of A as stored
		if tc.ta {
			ar, ac = tc.k, tc.m
		}
		br, bc := tc.k, tc.n
		if tc.tb {
			br, bc = tc.n, tc.k
		}
		lda, ldb, ldc := ar+1, br+2, tc.m+3
		sa, sb, sc := lda*ac, ldb*bc+5, ldc*tc.n
		a, b, c := make([]float32, sa*tc.batch), make([]float32, sb*tc.batch), make([]float32, sc*tc.batch)
		for i := range a {
			a[i] = float32(math.Sin(float64(i)))
		}
		for i := range b {
			b[i] = float32(math.Cos(float64(i) * 0.7))
		}
		for i := range c {
			c[i] = float32(i%5) - 2
		}
		pa, pb, pc := mustMalloc(t, d, len(a)), mustMalloc(t, d, len(b)), mustMalloc(t, d, len(c))
		toDevice(t, d, pa, a, Compute)
		toDevice(t, d, pb, b, Compute)
		toDevice(t, d, pc, c, Compute)
		var err error
		if tc.batch == 1 {
			err = d.Sgemm(tc.ta, tc.tb, tc.m, tc.n, tc.k, 0.75, pa, lda, pb, ldb, tc.beta, pc, ldc)
		} else {
			err = d.SgemmStridedBatched(tc.ta, tc.tb, tc.m, tc.n, tc.k, 0.75, pa, lda, sa, pb, ldb, sb, tc.beta, pc, ldc, sc, tc.batch)
		}
		if err != nil {
			t.Fatal(err)
		}
		got := fromDevice(t, d, pc, len(c))
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
					want := 0.75*s + float64(tc.beta)*float64(c[p*sc+i+j*ldc])
					if g := float64(got[p*sc+i+j*ldc]); math.Abs(g-want) > 1e-4*math.Max(1, math.Abs(want)) {
						t.Fatalf("%+v: C[%d](%d,%d) = %v, want %v", tc, p, i, j, g, want)
					}
				}
			}
		}
	}
}

// TestTimingEvents times a device-to-device copy with two timing events:
// the elapsed time must be positive, and the copy of 32 MiB must not beat
// 100 TB/s (which would mean the events did not bracket the work).
func TestTimingEvents(t *testing.T) {
	d := openDevice(t)
	const n = 8 << 20
	p, q := mustMalloc(t, d, n), mustMalloc(t, d, n)
	start, err := d.NewTimingEvent()
	if err != nil {
		t.Fatal(err)
	}
	defer d.DestroyEvent(start)
	end, err := d.NewTimingEvent()
	if err != nil {
		t.Fatal(err)
	}
	defer d.DestroyEvent(end)
	if _, err := d.Elapsed(start, end); err == nil {
		t.Error("Elapsed of events never recorded: no error")
	}
	if err := d.Record(start, Compute); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		if err := d.MemcpyDtoD(q, p, 4*n, Compute); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Record(end, Compute); err != nil {
		t.Fatal(err)
	}
	if err := d.EventSynchronize(end); err != nil {
		t.Fatal(err)
	}
	el, err := d.Elapsed(start, end)
	if err != nil {
		t.Fatal(err)
	}
	bytes := 4 * 2 * 4 * float64(n)
	if el <= 0 || bytes/el.Seconds() > 100e12 {
		t.Fatalf("4 copies of 32 MiB took %v", el)
	}
	t.Logf("device-to-device copy: %.1f GB/s (read+write)", bytes/el.Seconds()/1e9)
}

// TestDependentLaunchOrder runs a chain of kernels each of which reads what
// the one before it wrote and writes what it read (x += inc, then y += x, a
// hundred times), with programmatic dependent launch on and off: a kernel
// that began reading before the one before it had finished would lose
// increments. Halfway, a memset zeroes y and inc is replaced by twos
// uploaded on the copy stream, ordered by events both ways, so that
// kernels also follow a memset and a wait on another stream. On a GPU the
// arrays span many waves of blocks, so that launches do overlap.
func TestDependentLaunchOrder(t *testing.T) {
	d := openDevice(t)
	n, grid := 1<<22, 2048
	if Emulated {
		n, grid = 4096, 4
	}
	const steps = 100
	inc, x, y := mustMalloc(t, d, n), mustMalloc(t, d, n), mustMalloc(t, d, n)
	twos := make([]float32, n)
	for i := range twos {
		twos[i] = 2
	}
	var events [2]*Event
	for i := range events {
		e, err := d.NewEvent()
		if err != nil {
			t.Fatal(err)
		}
		defer d.DestroyEvent(e)
		events[i] = e
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, on := range []bool{true, false} {
		if err := d.SetDependentLaunch(on); err != nil {
			if on {
				t.Logf("no dependent launch here: %v", err)
				continue
			}
			t.Fatal(err)
		}
		if got := d.DependentLaunch(); got != on {
			t.Fatalf("DependentLaunch() = %v after SetDependentLaunch(%v)", got, on)
		}
		launch := func(kernel string, args ...any) {
			t.Helper()
			if err := d.Launch(kernel, [3]int{grid, 1, 1}, [3]int{256, 1, 1}, 0, args...); err != nil {
				t.Fatal(err)
			}
		}
		launch("fill_f32", n, float32(1), inc)
		launch("fill_f32", n, float32(0), x)
		launch("fill_f32", n, float32(0), y)
		var wantX, wantY float32
		step := float32(1)
		for i := 1; i <= steps; i++ {
			launch("axpy_f32", n, float32(1), inc, x)
			launch("axpy_f32", n, float32(1), x, y)
			wantX += step
			wantY += wantX
			if i == steps/2 {
				must(d.MemsetD32(y, 0, n, Compute))
				must(d.Record(events[0], Compute)) // the kernels reading inc are done
				must(d.StreamWait(Copy, events[0]))
				toDevice(t, d, inc, twos, Copy)
				must(d.Record(events[1], Copy))
				must(d.StreamWait(Compute, events[1]))
				wantY, step = 0, 2
			}
		}
		gx, gy := fromDevice(t, d, x, n), fromDevice(t, d, y, n)
		for i := range n {
			if gx[i] != wantX || gy[i] != wantY {
				t.Fatalf("dependent launch %v: x[%d] = %v, y[%d] = %v, want %v and %v", on, i, gx[i], i, gy[i], wantX, wantY)
			}
		}
	}
}

// TestDeviceClosed: after Close every operation returns an error (not a
// panic), and a second Close is a no-op, on both builds.
func TestDeviceClosed(t *testing.T) {
	d, err := Open(0)
	if err != nil {
		t.Fatal(err)
	}
	p, err := d.Malloc(64)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	x := make([]float32, 4)
	ev := &Event{} // never used: every call on it must fail before touching it
	for name, op := range map[string]func() error{
		"Malloc":     func() error { _, err := d.Malloc(64); return err },
		"MallocHost": func() error { _, err := d.MallocHost(64); return err },
		"MemInfo":    func() error { _, _, err := d.MemInfo(); return err },
		"MemcpyDtoH": func() error { return d.MemcpyDtoH(unsafe.Pointer(&x[0]), p, 16, Compute) },
		"MemcpyDtoD": func() error { return d.MemcpyDtoD(p, p+16, 16, Compute) },
		"MemsetD32":  func() error { return d.MemsetD32(p, 0, 4, Compute) },
		"NewEvent":   func() error { _, err := d.NewEvent(); return err },
		"NewTimingEvent": func() error {
			_, err := d.NewTimingEvent()
			return err
		},
		"Record":            func() error { return d.Record(ev, Compute) },
		"StreamWait":        func() error { return d.StreamWait(Copy, ev) },
		"EventSynchronize":  func() error { return d.EventSynchronize(ev) },
		"StreamSynchronize": func() error { return d.StreamSynchronize(Compute) },
		"Synchronize":       func() error { return d.Synchronize() },
		"Elapsed":           func() error { _, err := d.Elapsed(ev, ev); return err },
		"DestroyEvent":      func() error { return d.DestroyEvent(ev) },
		"MemcpyHtoD":        func() error { return d.MemcpyHtoD(p, unsafe.Pointer(&x[0]), 16, Compute) },
		"Launch": func() error {
			return d.Launch("fill_f32", [3]int{1, 1, 1}, [3]int{32, 1, 1}, 0, 4, float32(1), p)
		},
		"Sgemm": func() error { return d.Sgemm(false, false, 1, 1, 1, 1, p, 1, p, 1, 0, p, 1) },
	} {
		if err := op(); err == nil || !strings.Contains(err.Error(), "closed") {
			t.Errorf("%s after Close: %v, want an error saying the device is closed", name, err)
		}
	}
}
