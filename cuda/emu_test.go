//go:build cudaemu

package cuda

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unsafe"
)

func TestEmuDevice(t *testing.T) {
	d, err := Open(0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := d.Close(); err != nil {
			t.Error(err)
		}
	}()
	p, err := d.Malloc(4 * 50)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Launch("selftest_iota", [3]int{2, 1, 1}, [3]int{32, 1, 1}, 0, 50, p); err != nil {
		t.Fatal(err)
	}
	got := make([]float32, 50)
	if err := d.MemcpyDtoH(unsafe.Pointer(&got[0]), p, 200, Compute); err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		if v != float32(i) {
			t.Fatalf("y[%d] = %v", i, v)
		}
	}
	if err := d.MemsetD32(p+8, 0x3f800000, 3, Compute); err != nil {
		t.Fatal(err)
	}
	if err := d.MemcpyDtoH(unsafe.Pointer(&got[0]), p, 24, Compute); err != nil {
		t.Fatal(err)
	}
	if got[1] != 1 || got[2] != 1 || got[4] != 1 || got[5] != 5 {
		t.Errorf("after memset: %v", got[:6])
	}

	for _, tc := range []struct {
		name string
		err  error
		want []string
	}{
		{"missing barrier", d.Launch("selftest_missing_barrier", [3]int{1, 1, 1}, [3]int{64, 1, 1}, 0, 10, p),
			[]string{"launch selftest_missing_barrier grid [1 1 1] block [64 1 1]", "int 10", "__syncthreads() reached by 10 of 64"}},
		{"out of bounds", d.Launch("selftest_oob", [3]int{1, 1, 1}, [3]int{64, 1, 1}, 0, 50, p),
			[]string{"launch selftest_oob", "out-of-bounds"}},
		{"bad shape", d.Launch("selftest_iota", [3]int{1, 1, 1}, [3]int{2048, 1, 1}, 0, 50, p),
			[]string{"exceeds 1024 threads"}},
		{"bad argument", d.Launch("selftest_iota", [3]int{1, 1, 1}, [3]int{32, 1, 1}, 0, int64(3), p),
			[]string{"unsupported type int64"}},
		{"copy past the end", d.MemcpyHtoD(p+100, unsafe.Pointer(&got[0]), 200, Copy),
			[]string{"copy of 200 bytes to device", "past the end"}},
		{"free of a non-allocation", d.Free(p + 4), []string{"not an allocation"}},
	} {
		if tc.err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(tc.err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", tc.name, tc.err, w)
			}
		}
	}

	d.SetMemoryLimit(1 << 20)
	defer d.SetMemoryLimit(8 << 30)
	if _, err := d.Malloc(2 << 20); !errors.Is(err, ErrOutOfMemory) {
		t.Errorf("malloc over the limit: %v", err)
	}
	if err := d.Free(p); err != nil {
		t.Error(err)
	}
}

// TestEmuCopyStreamRunsLate checks the emulated Copy stream's schedule:
// its work runs when something waits for it, as late as a GPU may run it,
// so that a missing wait shows as stale data; pinned staging memory is
// read when the copy runs, pageable memory when it is issued.
func TestEmuCopyStreamRunsLate(t *testing.T) {
	d, err := Open(0)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	p, err := d.Malloc(16)
	if err != nil {
		t.Fatal(err)
	}
	read := func() byte {
		t.Helper()
		var got [16]byte
		if err := d.MemcpyDtoH(unsafe.Pointer(&got[0]), p, 16, Compute); err != nil {
			t.Fatal(err)
		}
		return got[0]
	}
	var zero [16]byte
	if err := d.MemcpyHtoD(p, unsafe.Pointer(&zero[0]), 16, Compute); err != nil {
		t.Fatal(err)
	}
	if err := d.StreamSynchronize(Compute); err != nil { // before the uploads below
		t.Fatal(err)
	}
	stage, err := d.MallocHost(16)
	if err != nil {
		t.Fatal(err)
	}
	defer d.FreeHost(stage)
	stage[0] = 7
	e, err := d.NewEvent()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.MemcpyHtoD(p, unsafe.Pointer(&stage[0]), 16, Copy); err != nil {
		t.Fatal(err)
	}
	if err := d.Record(e, Copy); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != 0 {
		t.Errorf("the Compute stream read %d before waiting for the upload; want the old 0", got)
	}
	stage[0] = 9 // before the copy runs: the copy reads it
	if err := d.StreamWait(Compute, e); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != 9 {
		t.Errorf("after waiting for the upload: %d, want 9 (the staging memory when the copy ran)", got)
	}
	pageable := []byte{5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	if err := d.MemcpyHtoD(p, unsafe.Pointer(&pageable[0]), 16, Copy); err != nil {
		t.Fatal(err)
	}
	pageable[0] = 6 // after the call: a pageable copy has its bytes already
	if err := d.StreamSynchronize(Copy); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != 5 {
		t.Errorf("a pageable upload: %d, want the 5 it was issued with", got)
	}
}

// TestEmuCopyStreamWaits checks what makes the Copy stream's queued work
// run, and that nothing else does: a wait for one of its events runs the
// work up to that event and no further; a stream waiting for its own event
// runs nothing; EventSynchronize, a pageable download on the Copy stream
// (ordered after its earlier work, done on return) and Free (which
// synchronises) run it; timing events on it are stamped when they run.
func TestEmuCopyStreamWaits(t *testing.T) {
	d := openDevice(t)
	p := mustMalloc(t, d, 4)
	read := func() float32 {
		t.Helper()
		return fromDevice(t, d, p, 4)[0]
	}
	upload := func(v float32) {
		t.Helper()
		toDevice(t, d, p, []float32{v, v, v, v}, Copy)
	}
	event := func() *Event {
		t.Helper()
		e, err := d.NewTimingEvent()
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Record(e, Copy); err != nil {
			t.Fatal(err)
		}
		return e
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	toDevice(t, d, p, []float32{0, 0, 0, 0}, Compute)
	must(d.StreamSynchronize(Compute)) // before the uploads below
	start := event()
	upload(1)
	first := event()
	upload(2)
	second := event()
	must(d.StreamWait(Copy, second)) // in stream order already: runs nothing
	if got := read(); got != 0 {
		t.Errorf("after the Copy stream waited for its own event: %v, want the old 0", got)
	}
	must(d.StreamWait(Compute, first))
	if got := read(); got != 1 {
		t.Errorf("after waiting for the first upload's event: %v, want 1 (the second upload not yet run)", got)
	}
	must(d.EventSynchronize(second))
	if got := read(); got != 2 {
		t.Errorf("after EventSynchronize of the second upload's event: %v, want 2", got)
	}
	el, err := d.Elapsed(start, second)
	if err != nil || el < 0 || el > time.Minute {
		t.Errorf("elapsed between Copy-stream events: %v, %v", el, err)
	}

	upload(3)
	var host [4]float32
	must(d.MemcpyDtoH(unsafe.Pointer(&host[0]), p, 16, Copy))
	if host[0] != 3 {
		t.Errorf("a pageable download on the Copy stream after an upload on it: %v, want 3", host[0])
	}

	q, err := d.Malloc(16)
	must(err)
	toDevice(t, d, q, []float32{4, 4, 4, 4}, Copy)
	must(d.Free(q)) // runs the upload first, as cuMemFree synchronises
	if err := d.Synchronize(); err != nil {
		t.Errorf("Synchronize after freeing the target of a queued upload: %v", err)
	}
}

// TestEmuCopyStreamRangeChecks checks that a copy or memset queued on the
// Copy stream is range-checked when it is issued, as the driver does: the
// call fails, nothing is queued, and the next synchronisation succeeds.
func TestEmuCopyStreamRangeChecks(t *testing.T) {
	d := openDevice(t)
	p, q := mustMalloc(t, d, 4), mustMalloc(t, d, 8)
	var host [8]float32
	for name, op := range map[string]func() error{
		"MemcpyHtoD":      func() error { return d.MemcpyHtoD(p, unsafe.Pointer(&host[0]), 32, Copy) },
		"MemcpyDtoH":      func() error { return d.MemcpyDtoH(unsafe.Pointer(&host[0]), p, 32, Copy) },
		"MemcpyDtoD":      func() error { return d.MemcpyDtoD(p, q, 32, Copy) },
		"MemcpyDtoD from": func() error { return d.MemcpyDtoD(q, p, 32, Copy) },
		"MemsetD32":       func() error { return d.MemsetD32(p, 0, 8, Copy) },
	} {
		if err := op(); err == nil || !strings.Contains(err.Error(), "past the end") {
			t.Errorf("%s of 32 bytes into 16 on the Copy stream: %v, want an error at the call", name, err)
		}
		if err := d.Synchronize(); err != nil {
			t.Errorf("%s: Synchronize after the failed call: %v", name, err)
		}
	}
}

// TestEmuCopyStreamRaces checks the emulation's race check between the
// streams: a Copy-stream operation on an allocation that earlier compute
// work touched fails unless the Copy stream is ordered after that work,
// since on a GPU the two may run in either order (the emulation itself
// always runs the compute work first, so stale data could not show it). A
// refused operation queues nothing.
func TestEmuCopyStreamRaces(t *testing.T) {
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	fill := func(d *Device, p DevicePtr, n int, v float32) {
		t.Helper()
		must(d.Launch("fill_f32", [3]int{1, 1, 1}, [3]int{32, 1, 1}, 0, n, v, p))
	}
	computeEvent := func(d *Device) *Event {
		t.Helper()
		e, err := d.NewEvent()
		must(err)
		must(d.Record(e, Compute))
		return e
	}
	pinned := func(d *Device) []byte {
		t.Helper()
		b, err := d.MallocHost(64)
		must(err)
		t.Cleanup(func() { d.FreeHost(b) })
		return b
	}
	upload := func(d *Device, p DevicePtr) error {
		b := pinned(d)
		return d.MemcpyHtoD(p, unsafe.Pointer(&b[0]), 16, Copy)
	}
	for _, tc := range []struct {
		name string
		// run issues compute work on p (16 floats, q another allocation),
		// perhaps a wait, then a Copy-stream operation, and returns the
		// latter's error.
		run  func(d *Device, p, q DevicePtr) error
		race string // a part of the error, or "" for none
	}{
		{"kernel then upload, no wait", func(d *Device, p, q DevicePtr) error {
			fill(d, p, 16, 1)
			return upload(d, p)
		}, "races with kernel fill_f32"},
		{"kernel, wait for an event after it, upload", func(d *Device, p, q DevicePtr) error {
			fill(d, p, 16, 1)
			must(d.StreamWait(Copy, computeEvent(d)))
			return upload(d, p)
		}, ""},
		{"an event recorded before the kernel", func(d *Device, p, q DevicePtr) error {
			e := computeEvent(d)
			fill(d, p, 16, 1)
			must(d.StreamWait(Copy, e))
			return upload(d, p)
		}, "races with kernel fill_f32"},
		{"the compute stream waits instead", func(d *Device, p, q DevicePtr) error {
			fill(d, p, 16, 1)
			must(d.StreamWait(Compute, computeEvent(d)))
			return upload(d, p)
		}, "races with kernel fill_f32"},
		{"host waits: StreamSynchronize(Compute)", func(d *Device, p, q DevicePtr) error {
			fill(d, p, 16, 1)
			must(d.StreamSynchronize(Compute))
			return upload(d, p)
		}, ""},
		{"host waits: EventSynchronize", func(d *Device, p, q DevicePtr) error {
			fill(d, p, 16, 1)
			must(d.EventSynchronize(computeEvent(d)))
			return upload(d, p)
		}, ""},
		{"host waits: a pageable download", func(d *Device, p, q DevicePtr) error {
			fill(d, p, 16, 1)
			var x [4]float32
			must(d.MemcpyDtoH(unsafe.Pointer(&x[0]), q, 16, Compute))
			return upload(d, p)
		}, ""},
		{"a pinned download is no host wait", func(d *Device, p, q DevicePtr) error {
			fill(d, p, 16, 1)
			b := pinned(d)
			must(d.MemcpyDtoH(unsafe.Pointer(&b[0]), q, 16, Compute))
			return upload(d, p)
		}, "races with kernel fill_f32"},
		{"another allocation", func(d *Device, p, q DevicePtr) error {
			fill(d, q, 4, 1)
			return upload(d, p)
		}, ""},
		{"a kernel on a view into the allocation", func(d *Device, p, q DevicePtr) error {
			fill(d, p+32, 4, 1)
			return upload(d, p)
		}, "races with kernel fill_f32"},
		{"a GEMM reads what the upload overwrites", func(d *Device, p, q DevicePtr) error {
			must(d.Sgemm(false, false, 2, 2, 2, 1, p, 2, p+16, 2, 0, q, 2))
			return upload(d, p)
		}, "races with sgemm"},
		{"a compute-stream copy, then a Copy-stream download", func(d *Device, p, q DevicePtr) error {
			must(d.MemcpyDtoD(p, q, 16, Compute))
			b := pinned(d)
			return d.MemcpyDtoH(unsafe.Pointer(&b[0]), p, 16, Copy)
		}, "races with a device copy"},
		{"a compute-stream memset, then a Copy-stream device copy", func(d *Device, p, q DevicePtr) error {
			must(d.MemsetD32(q, 0, 4, Compute))
			return d.MemcpyDtoD(p, q, 16, Copy)
		}, "races with a memset"},
		{"kernel then a Copy-stream memset", func(d *Device, p, q DevicePtr) error {
			fill(d, p, 16, 1)
			return d.MemsetD32(p, 0, 4, Copy)
		}, "a memset of 4 words"},
		{"freed and allocated again", func(d *Device, p, q DevicePtr) error {
			r, err := d.Malloc(64)
			must(err)
			fill(d, r, 16, 1)
			must(d.Free(r)) // synchronises
			r2, err := d.Malloc(64)
			must(err)
			defer d.Free(r2)
			return upload(d, r2)
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := openDevice(t)
			p, q := mustMalloc(t, d, 16), mustMalloc(t, d, 16)
			fill(d, p, 16, 5)
			fill(d, q, 16, 5)
			must(d.Synchronize())
			err := tc.run(d, p, q)
			switch {
			case tc.race == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.race != "" && err == nil:
				t.Fatalf("no race reported; want one with %q", tc.race)
			case tc.race != "" && !strings.Contains(err.Error(), tc.race):
				t.Fatalf("error %q does not name %q", err, tc.race)
			}
			if tc.race != "" {
				must(d.Synchronize()) // nothing was queued
				if got := fromDevice(t, d, p, 16); got[0] == 0 {
					t.Errorf("the refused operation ran: p[0] = %v", got[0])
				}
			}
		})
	}
}

// TestEmuLiveEvents checks the emulator's test hook LiveEvents: events
// made (NewEvent, NewTimingEvent) less events destroyed.
func TestEmuLiveEvents(t *testing.T) {
	d, err := Open(0)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	a, err := d.NewEvent()
	if err != nil {
		t.Fatal(err)
	}
	b, err := d.NewTimingEvent()
	if err != nil {
		t.Fatal(err)
	}
	if n := d.LiveEvents(); n != 2 {
		t.Errorf("%d live events after making 2", n)
	}
	if err := d.DestroyEvent(a); err != nil {
		t.Fatal(err)
	}
	if err := d.DestroyEvent(b); err != nil {
		t.Fatal(err)
	}
	if n := d.LiveEvents(); n != 0 {
		t.Errorf("%d live events after destroying them all", n)
	}
}
