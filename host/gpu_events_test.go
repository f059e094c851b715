//go:build cudaemu

package host

import (
	"testing"
	"unsafe"

	"github.com/emotionlab/emotion/cuda"
	"github.com/emotionlab/emotion/kernels"
)

// TestGPUUploadEventsSteady checks, on the emulated device's count of live
// events, that uploads recycle their events: many uploads that wrap the
// staging ring (each wrap waiting for pending copies) make no new events
// once the backend is warm, and Close destroys every event, including
// those of uploads still pending.
func TestGPUUploadEventsSteady(t *testing.T) {
	g, err := NewGPU(0)
	if err != nil {
		t.Fatal(err)
	}
	dev := g.Device()
	n := len(g.ring) / 4 / 3 // floats: three uploads fill the ring, the fourth wraps
	x := g.Alloc(n)
	src := make([]float32, n)
	upload := func(k int) {
		for range k {
			g.Upload(x, src)
		}
	}
	upload(8)
	warm := dev.LiveEvents()
	upload(40)
	if got := dev.LiveEvents(); got != warm {
		t.Errorf("%d live events after 40 more uploads that wrap the ring, %d before", got, warm)
	}
	if err := g.Sync(); err != nil {
		t.Fatal(err)
	}
	upload(2) // left pending at Close
	if len(g.pending) == 0 {
		t.Fatal("no upload pending before Close")
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if got := dev.LiveEvents(); got != 0 {
		t.Errorf("%d live events after Close", got)
	}
}

// TestGPUProfileEventsRecycled checks that a profile over many more
// launches than profileSettleAt settles its launches in time and reuses
// their events: fewer than profileSettleAt launches stay pending, the
// events made stay within two per launch in flight, and StopProfile and
// Close destroy them all.
func TestGPUProfileEventsRecycled(t *testing.T) {
	g, err := NewGPU(0)
	if err != nil {
		t.Fatal(err)
	}
	dev := g.Device()
	x := g.Alloc(64)
	g.Fill(x, 1)
	if err := g.Sync(); err != nil {
		t.Fatal(err)
	}
	before := dev.LiveEvents()
	if err := g.StartProfile(); err != nil {
		t.Fatal(err)
	}
	for i := range 3*profileSettleAt + 7 {
		g.Fill(x, 2)
		if len(g.prof.pending) >= profileSettleAt {
			t.Fatalf("launch %d: %d launches pending, want fewer than %d", i, len(g.prof.pending), profileSettleAt)
		}
	}
	if made := dev.LiveEvents() - before; made > 2*profileSettleAt {
		t.Errorf("%d events made for a profile, want at most %d", made, 2*profileSettleAt)
	}
	ops, err := g.StopProfile()
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != 1 || ops[0].Calls != 3*profileSettleAt+7 {
		t.Errorf("profile %+v", ops)
	}
	if got := dev.LiveEvents(); got != before {
		t.Errorf("%d live events after StopProfile, %d before StartProfile", got, before)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if got := dev.LiveEvents(); got != 0 {
		t.Errorf("%d live events after Close", got)
	}
}

// TestGPUDrainStagingError checks drainStaging when waiting for a pending
// upload fails: the copies before it are spare, the failed one and those
// after it stay pending (each event in one list), so that Close destroys
// every event. The failure is a Copy-stream copy into emulator memory
// freed behind the device's back, which fails when it runs.
func TestGPUDrainStagingError(t *testing.T) {
	g, err := NewGPU(0)
	if err != nil {
		t.Fatal(err)
	}
	dev := g.Device()
	p, err := kernels.EmuMalloc(256) // not the device's: no race bookkeeping
	if err != nil {
		t.Fatal(err)
	}
	var done [3]*cuda.Event
	for i := range done {
		if done[i], err = dev.NewEvent(); err != nil {
			t.Fatal(err)
		}
	}
	src := []float32{1}
	mark := func(i int) {
		if err := dev.Record(done[i], cuda.Copy); err != nil {
			t.Fatal(err)
		}
	}
	mark(0)
	if err := dev.MemcpyHtoD(cuda.DevicePtr(p), unsafe.Pointer(&src[0]), 4, cuda.Copy); err != nil {
		t.Fatal(err)
	}
	mark(1) // after the copy that fails
	mark(2)
	if err := kernels.EmuFree(p); err != nil {
		t.Fatal(err)
	}
	spare := len(g.events)
	for i, e := range done {
		g.pending = append(g.pending, stagedCopy{lo: 4 * i, hi: 4*i + 4, done: e})
	}
	if err := g.drainStaging(); err == nil {
		t.Fatal("drainStaging after a failed copy: no error")
	}
	if len(g.pending) != 2 || g.pending[0].done != done[1] || g.pending[1].done != done[2] {
		t.Errorf("pending after the failed wait: %+v, want the events of copies 1 and 2", g.pending)
	}
	if len(g.events) != spare+1 || g.events[len(g.events)-1] != done[0] {
		t.Errorf("%d spare events after the failed wait, want %d, the last copy 0's", len(g.events), spare+1)
	}
	g.Close()
	if got := dev.LiveEvents(); got != 0 {
		t.Errorf("%d live events after Close", got)
	}
}
