//go:build cudaemu

package cuda

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/emotionlab/emotion/kernels"
)

// Device is the emulated device of the cudaemu build. Work on the Compute
// stream runs synchronously on the calling goroutine's thread. Work on the
// Copy stream is queued and runs as late as the real device may run it:
// when another stream waits for an event recorded after it, when the host
// synchronises with it, or when memory is freed (which synchronises on a
// GPU). A kernel that reads what an upload writes without waiting for the
// upload's event therefore reads the old contents, as it may on a GPU,
// instead of passing by luck; a host write into pinned staging memory
// before the copy from it has run is seen by that copy, as on a GPU.
//
// Running the Compute stream's work at once hides the opposite race: a copy
// queued on the Copy stream that overwrites or reads memory that earlier
// compute work still uses, with no wait between them, always runs after
// that work here, but may run before it on a GPU. So the device remembers,
// per allocation, the last compute operation that touched it, and refuses
// a Copy-stream operation on an allocation whose last compute use the Copy
// stream has not been ordered after (by StreamWait on an event recorded
// after it, or by the host waiting for the Compute stream). It is safe for
// concurrent use.
type Device struct {
	mu     sync.Mutex
	closed bool
	allocs map[DevicePtr]int
	bases  []DevicePtr // allocs' keys in ascending order
	// computeOps counts the Compute stream's operations; lastUse holds,
	// per allocation base, the last one that touched the allocation;
	// copyAfter is the count of them every Copy-stream operation issued
	// from now on is ordered after.
	computeOps int64
	lastUse    map[DevicePtr]computeUse
	copyAfter  int64
	pinned     map[*byte]int // MallocHost's allocations: base → bytes
	// streamOrder: dependent launch turned off (SetDependentLaunch).
	streamOrder bool

	qmu   sync.Mutex // the Copy stream's queue
	queue []func() error
	// issued and done count the Copy stream's operations queued and run.
	issued, done int64

	launches atomic.Int64 // kernels and GEMMs issued
	// liveEvents counts events made by NewEvent (or NewTimingEvent) and
	// not yet destroyed by DestroyEvent: a test hook (LiveEvents).
	liveEvents atomic.Int64
}

// Event marks a point in a stream's work: on the Copy stream, seq counts
// the operations queued before it; on the Compute stream, computeOps
// counts the operations issued before it. at is the wall clock when the
// stream reached it.
type Event struct {
	recorded   bool
	stream     Stream
	seq        int64
	computeOps int64
	at         time.Time
}

// computeUse is a Compute-stream operation that touched an allocation: its
// number in the stream and what it was.
type computeUse struct {
	op   int64
	what string
}

// allocationOf returns the base of the allocation that holds address p.
// The caller holds d.mu.
func (d *Device) allocationOf(p DevicePtr) (DevicePtr, bool) {
	i, found := slices.BinarySearch(d.bases, p)
	if !found {
		i--
	}
	if i < 0 {
		return 0, false
	}
	base := d.bases[i]
	if uintptr(p)-uintptr(base) >= uintptr(d.allocs[base]) {
		return 0, false
	}
	return base, true
}

// computeTouches notes a Compute-stream operation (what) over device
// addresses ptrs, for the Copy stream's race check.
func (d *Device) computeTouches(what string, ptrs ...DevicePtr) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.computeOps++
	for _, p := range ptrs {
		if base, ok := d.allocationOf(p); ok {
			d.lastUse[base] = computeUse{op: d.computeOps, what: what}
		}
	}
}

// copyOrderedAfter orders every later Copy-stream operation after the
// first n Compute-stream operations (a wait for an event, or the host's).
func (d *Device) copyOrderedAfter(n int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.copyAfter = max(d.copyAfter, n)
}

// hostWaitsForCompute notes that the host waited for every Compute-stream
// operation issued so far.
func (d *Device) hostWaitsForCompute() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.copyAfter = d.computeOps
}

// checkCopyRace fails a Copy-stream operation (described by what, called
// only for the error) over device addresses ptrs if a Compute-stream
// operation issued before it touched one of their allocations and the Copy
// stream is not ordered after that operation: on a GPU the two may run in
// either order, or at once.
func (d *Device) checkCopyRace(what func() string, ptrs ...DevicePtr) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range ptrs {
		base, ok := d.allocationOf(p)
		if !ok {
			continue
		}
		if u, ok := d.lastUse[base]; ok && u.op > d.copyAfter {
			return fmt.Errorf("cuda: %s on the copy stream races with %s (compute operation %d), "+
				"which touched the same allocation (%#x) before it: the copy stream has not waited for an event recorded after it",
				what(), u.what, u.op, uintptr(base))
		}
	}
	return nil
}

// enqueue runs op at once on the Compute stream, or queues it on the Copy
// stream.
func (d *Device) enqueue(s Stream, op func() error) error {
	if s == Compute {
		return op()
	}
	d.qmu.Lock()
	defer d.qmu.Unlock()
	d.queue = append(d.queue, op)
	d.issued++
	return nil
}

// flush runs the Copy stream's queued operations up to the upto-th; the
// first error among them is returned, as a GPU reports an asynchronous
// error at the next synchronisation.
func (d *Device) flush(upto int64) error {
	d.qmu.Lock()
	defer d.qmu.Unlock()
	var first error
	for d.done < upto && len(d.queue) > 0 {
		op := d.queue[0]
		d.queue[0] = nil
		d.queue = d.queue[1:]
		d.done++
		if err := op(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// flushAll runs every queued operation.
func (d *Device) flushAll() error {
	d.qmu.Lock()
	upto := d.issued
	d.qmu.Unlock()
	return d.flush(upto)
}

// isPinned reports whether bytes at p lie in memory of MallocHost, which a
// queued copy reads or writes when it runs; other host memory is copied
// when the copy is issued, as the driver stages pageable memory.
func (d *Device) isPinned(p unsafe.Pointer, bytes int) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for base, n := range d.pinned {
		start := uintptr(unsafe.Pointer(base))
		if uintptr(p) >= start && uintptr(p)+uintptr(bytes) <= start+uintptr(n) {
			return true
		}
	}
	return false
}

// Emulated reports whether this build's Device is the CPU emulation.
const Emulated = true

// Open opens device ordinal (only 0 exists in emulation).
func Open(ordinal int) (*Device, error) {
	if ordinal != 0 {
		return nil, fmt.Errorf("cuda: open device %d: the emulated device has only device 0", ordinal)
	}
	return &Device{allocs: make(map[DevicePtr]int), pinned: make(map[*byte]int), lastUse: make(map[DevicePtr]computeUse)}, nil
}

// DependentLaunch reports whether kernels are launched with programmatic
// dependent launch, as on a Hopper GPU (see the cuda build's Device). The
// emulation runs each launch to its end before the next, which every
// dependency allows, so the setting changes no result; kernels that touch
// device memory before GRID_DEPENDENCY_SYNC() fail their launch either way.
func (d *Device) DependentLaunch() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.streamOrder
}

// SetDependentLaunch turns programmatic dependent launch on or off (see
// DependentLaunch); the emulated device has it.
func (d *Device) SetDependentLaunch(on bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.streamOrder = !on
	return nil
}

// Name describes the device.
func (d *Device) Name() string { return "cudaemu (CPU emulation)" }

// Multiprocessors is the count of streaming multiprocessors launch shapes
// size whole waves by: an H100 SXM's or H200's 132, so that emulated
// launches take the shapes they take there.
func (d *Device) Multiprocessors() int { return 132 }

// Close frees every allocation still held.
func (d *Device) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	d.qmu.Lock()
	d.queue = nil // work never synchronised with is lost with the device
	d.qmu.Unlock()
	var errs []error
	for p := range d.allocs {
		if err := kernels.EmuFree(uintptr(p)); err != nil {
			errs = append(errs, err)
		}
	}
	d.allocs, d.bases, d.lastUse = nil, nil, nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cuda: close: %w", err)
	}
	return nil
}

// errClosed is what a device's operations return after Close, as the real
// device's do.
var errClosed = errors.New("cuda: device is closed")

// open returns errClosed once the device is closed.
func (d *Device) open() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errClosed
	}
	return nil
}

// SetMemoryLimit sets the emulated device's memory size in bytes (it
// starts at 8 GiB), so tests can run it out of memory.
func (d *Device) SetMemoryLimit(bytes int) { kernels.EmuSetCapacity(bytes) }

// MemInfo returns the free and total device memory in bytes.
func (d *Device) MemInfo() (free, total int, err error) {
	if err := d.open(); err != nil {
		return 0, 0, err
	}
	total = kernels.EmuCapacity()
	return total - kernels.EmuInUse(), total, nil
}

// Malloc allocates bytes of device memory (contents undefined: NaN bytes).
func (d *Device) Malloc(bytes int) (DevicePtr, error) {
	if err := d.open(); err != nil {
		return 0, err
	}
	if bytes <= 0 {
		return 0, fmt.Errorf("cuda: malloc of %d bytes", bytes)
	}
	p, err := kernels.EmuMalloc(bytes)
	if err != nil {
		if errors.Is(err, kernels.ErrOutOfMemory) {
			return 0, fmt.Errorf("cuda: malloc of %d bytes: %w", bytes, ErrOutOfMemory)
		}
		return 0, fmt.Errorf("cuda: malloc of %d bytes: %w", bytes, err)
	}
	d.mu.Lock()
	d.allocs[DevicePtr(p)] = bytes
	i, _ := slices.BinarySearch(d.bases, DevicePtr(p))
	d.bases = slices.Insert(d.bases, i, DevicePtr(p))
	delete(d.lastUse, DevicePtr(p)) // an earlier allocation's, freed (Free synchronised)
	d.mu.Unlock()
	return DevicePtr(p), nil
}

// Free frees an allocation of Malloc, after the queued work (cuMemFree
// synchronises).
func (d *Device) Free(p DevicePtr) error {
	if err := d.flushAll(); err != nil {
		return err
	}
	d.mu.Lock()
	_, ok := d.allocs[p]
	delete(d.allocs, p)
	if i, found := slices.BinarySearch(d.bases, p); found {
		d.bases = slices.Delete(d.bases, i, i+1)
	}
	delete(d.lastUse, p)
	d.copyAfter = d.computeOps // cuMemFree waits for the device
	d.mu.Unlock()
	if !ok {
		return fmt.Errorf("cuda: free of %#x: not an allocation of this device", uintptr(p))
	}
	if err := kernels.EmuFree(uintptr(p)); err != nil {
		return fmt.Errorf("cuda: free: %w", err)
	}
	return nil
}

// MallocHost allocates page-locked host memory for asynchronous copies.
func (d *Device) MallocHost(bytes int) ([]byte, error) {
	if err := d.open(); err != nil {
		return nil, err
	}
	if bytes <= 0 {
		return nil, fmt.Errorf("cuda: host malloc of %d bytes", bytes)
	}
	b := make([]byte, bytes)
	d.mu.Lock()
	d.pinned[&b[0]] = bytes
	d.mu.Unlock()
	return b, nil
}

// HostDevicePtr fails: the emulated kernels reach only emulated device
// memory (see the cuda build's Device).
func (d *Device) HostDevicePtr(b []byte) (DevicePtr, error) {
	if err := d.open(); err != nil {
		return 0, err
	}
	return 0, errors.New("cuda: the emulated device cannot address host memory")
}

// FreeHost frees memory of MallocHost.
// As on a GPU, freeing no memory succeeds even on a closed device.
func (d *Device) FreeHost(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if err := d.open(); err != nil {
		return err
	}
	err := d.flushAll() // cuMemFreeHost synchronises
	d.hostWaitsForCompute()
	d.mu.Lock()
	delete(d.pinned, &b[0])
	d.mu.Unlock()
	return err
}

func checkHost(what string, p unsafe.Pointer, bytes int) error {
	if bytes < 0 {
		return fmt.Errorf("cuda: %s of %d bytes", what, bytes)
	}
	if bytes > 0 && p == nil {
		return fmt.Errorf("cuda: %s of %d bytes from a nil host pointer", what, bytes)
	}
	return nil
}

// MemcpyHtoD copies bytes from host memory src to device memory dst on
// stream s. src must stay valid until the copy completes (at once for
// pageable memory; at the stream's next synchronisation for MallocHost's).
func (d *Device) MemcpyHtoD(dst DevicePtr, src unsafe.Pointer, bytes int, s Stream) error {
	if err := d.open(); err != nil {
		return err
	}
	if err := checkHost("copy to device", src, bytes); err != nil {
		return err
	}
	if s != Compute { // the driver checks a queued copy's range when it is issued
		if err := kernels.EmuCheckRange(uintptr(dst), bytes); err != nil {
			return fmt.Errorf("cuda: copy of %d bytes to device %#x: %w", bytes, uintptr(dst), err)
		}
		if err := d.checkCopyRace(func() string { return fmt.Sprintf("a copy of %d bytes to device %#x", bytes, uintptr(dst)) }, dst); err != nil {
			return err
		}
	} else {
		d.computeTouches("a copy to device", dst)
	}
	if s != Compute && bytes > 0 && !d.isPinned(src, bytes) {
		staged := append([]byte(nil), unsafe.Slice((*byte)(src), bytes)...)
		src = unsafe.Pointer(&staged[0])
	}
	return d.enqueue(s, func() error {
		if err := kernels.EmuCopyToDevice(uintptr(dst), src, bytes); err != nil {
			return fmt.Errorf("cuda: copy of %d bytes to device %#x: %w", bytes, uintptr(dst), err)
		}
		return nil
	})
}

// MemcpyDtoH copies bytes from device memory src to host memory dst on
// stream s; it returns when the copy is done for pageable dst.
func (d *Device) MemcpyDtoH(dst unsafe.Pointer, src DevicePtr, bytes int, s Stream) error {
	if err := d.open(); err != nil {
		return err
	}
	if err := checkHost("copy to host", dst, bytes); err != nil {
		return err
	}
	op := func() error {
		if err := kernels.EmuCopyToHost(dst, uintptr(src), bytes); err != nil {
			return fmt.Errorf("cuda: copy of %d bytes from device %#x: %w", bytes, uintptr(src), err)
		}
		return nil
	}
	pageable := !d.isPinned(dst, bytes)
	if s == Compute {
		d.computeTouches("a copy to host", src)
		if err := op(); err != nil {
			return err
		}
		if pageable { // done on return, and so is the work issued before it
			d.hostWaitsForCompute()
		}
		return nil
	}
	if err := kernels.EmuCheckRange(uintptr(src), bytes); err != nil {
		return fmt.Errorf("cuda: copy of %d bytes from device %#x: %w", bytes, uintptr(src), err)
	}
	if err := d.checkCopyRace(func() string { return fmt.Sprintf("a copy of %d bytes from device %#x", bytes, uintptr(src)) }, src); err != nil {
		return err
	}
	if pageable { // done on return
		if err := d.flushAll(); err != nil {
			return err
		}
		return op()
	}
	return d.enqueue(s, op)
}

// MemcpyDtoD copies bytes between device buffers on stream s.
func (d *Device) MemcpyDtoD(dst, src DevicePtr, bytes int, s Stream) error {
	if err := d.open(); err != nil {
		return err
	}
	if bytes < 0 {
		return fmt.Errorf("cuda: device copy of %d bytes", bytes)
	}
	if s != Compute {
		for _, p := range []DevicePtr{src, dst} {
			if err := kernels.EmuCheckRange(uintptr(p), bytes); err != nil {
				return fmt.Errorf("cuda: device copy of %d bytes from %#x to %#x: %w", bytes, uintptr(src), uintptr(dst), err)
			}
		}
		if err := d.checkCopyRace(func() string {
			return fmt.Sprintf("a device copy of %d bytes from %#x to %#x", bytes, uintptr(src), uintptr(dst))
		}, src, dst); err != nil {
			return err
		}
	} else {
		d.computeTouches("a device copy", src, dst)
	}
	return d.enqueue(s, func() error {
		if err := kernels.EmuCopyDevice(uintptr(dst), uintptr(src), bytes); err != nil {
			return fmt.Errorf("cuda: device copy of %d bytes from %#x to %#x: %w", bytes, uintptr(src), uintptr(dst), err)
		}
		return nil
	})
}

// MemsetD32 sets n 32-bit words at p to v on stream s.
func (d *Device) MemsetD32(p DevicePtr, v uint32, n int, s Stream) error {
	if err := d.open(); err != nil {
		return err
	}
	if n < 0 {
		return fmt.Errorf("cuda: memset of %d words", n)
	}
	if s != Compute {
		if err := kernels.EmuCheckRange(uintptr(p), 4*n); err != nil {
			return fmt.Errorf("cuda: memset of %d words at %#x: %w", n, uintptr(p), err)
		}
		if err := d.checkCopyRace(func() string { return fmt.Sprintf("a memset of %d words at %#x", n, uintptr(p)) }, p); err != nil {
			return err
		}
	} else {
		d.computeTouches("a memset", p)
	}
	return d.enqueue(s, func() error {
		if err := kernels.EmuMemset32(uintptr(p), v, n); err != nil {
			return fmt.Errorf("cuda: memset of %d words at %#x: %w", n, uintptr(p), err)
		}
		return nil
	})
}

// Launch runs kernel on the compute stream over grid blocks of block
// threads with shared bytes of dynamic shared memory. args are int, int32,
// uint32, bool, uint64, float32 or DevicePtr, in the kernel's order.
func (d *Device) Launch(kernel string, grid, block [3]int, shared int, args ...any) error {
	if err := d.open(); err != nil {
		return err
	}
	d.launches.Add(1)
	if err := checkShape(grid, block, shared); err != nil {
		return launchError(kernel, grid, block, shared, args, err)
	}
	enc, err := encodeArgs(args)
	if err != nil {
		return launchError(kernel, grid, block, shared, args, err)
	}
	eargs := make([]kernels.EmuArg, len(enc))
	var ptrs []DevicePtr
	for i, a := range enc {
		eargs[i] = kernels.EmuArg{Kind: kernels.EmuArgKind(a.kind), Bits: a.bits}
		if a.kind == argPtr {
			ptrs = append(ptrs, DevicePtr(a.bits))
		}
	}
	d.computeTouches("kernel "+kernel, ptrs...)
	if err := kernels.EmuLaunch(kernel, grid, block, shared, eargs); err != nil {
		return launchError(kernel, grid, block, shared, args, err)
	}
	return nil
}

// Sgemm is cublasSgemm on the compute stream: column-major C (m×n) =
// alpha·op(A)·op(B) + beta·C, op(A) m×k, op(B) k×n; C is not read when beta
// is 0.
func (d *Device) Sgemm(transA, transB bool, m, n, k int, alpha float32, a DevicePtr, lda int, b DevicePtr, ldb int, beta float32, c DevicePtr, ldc int) error {
	if err := d.open(); err != nil {
		return err
	}
	d.launches.Add(1)
	d.computeTouches("sgemm", a, b, c)
	if err := kernels.EmuSgemm(transA, transB, m, n, k, alpha, uintptr(a), lda, 0, uintptr(b), ldb, 0, beta, uintptr(c), ldc, 0, 1); err != nil {
		return fmt.Errorf("cuda: sgemm %s: %w", gemmShape(transA, transB, m, n, k, lda, ldb, ldc), err)
	}
	return nil
}

// SgemmStridedBatched is cublasSgemmStridedBatched on the compute stream:
// Sgemm over batch problems, problem i at element offsets i·stride.
func (d *Device) SgemmStridedBatched(transA, transB bool, m, n, k int, alpha float32, a DevicePtr, lda, strideA int, b DevicePtr, ldb, strideB int, beta float32, c DevicePtr, ldc, strideC, batch int) error {
	if err := d.open(); err != nil {
		return err
	}
	d.launches.Add(1)
	d.computeTouches("sgemm strided batched", a, b, c)
	if err := kernels.EmuSgemm(transA, transB, m, n, k, alpha, uintptr(a), lda, strideA, uintptr(b), ldb, strideB, beta, uintptr(c), ldc, strideC, batch); err != nil {
		return fmt.Errorf("cuda: sgemm strided batched %s batch=%d: %w", gemmShape(transA, transB, m, n, k, lda, ldb, ldc), batch, err)
	}
	return nil
}

// NewEvent creates an event.
func (d *Device) NewEvent() (*Event, error) {
	if err := d.open(); err != nil {
		return nil, err
	}
	d.liveEvents.Add(1)
	return &Event{}, nil
}

// NewTimingEvent creates an event that records when the stream reached
// it, for Elapsed.
func (d *Device) NewTimingEvent() (*Event, error) { return d.NewEvent() }

// Elapsed is the time between two recorded events.
func (d *Device) Elapsed(start, end *Event) (time.Duration, error) {
	if err := d.open(); err != nil {
		return 0, err
	}
	if !start.recorded || !end.recorded {
		return 0, errors.New("cuda: elapsed time of an event that was never recorded")
	}
	return end.at.Sub(start.at), nil
}

// DestroyEvent destroys e.
func (d *Device) DestroyEvent(e *Event) error {
	if err := d.open(); err != nil {
		return err
	}
	d.liveEvents.Add(-1)
	return nil
}

// LiveEvents is the number of events created (NewEvent, NewTimingEvent)
// and not yet destroyed (DestroyEvent), so that tests can check a user of
// the device neither leaks events nor makes new ones in a steady state.
// Emulation only: the cuda build has no such count.
func (d *Device) LiveEvents() int64 { return d.liveEvents.Load() }

// Record marks e at the current end of stream s's work.
func (d *Device) Record(e *Event, s Stream) error {
	if err := d.open(); err != nil {
		return err
	}
	e.recorded, e.stream = true, s
	if s == Compute {
		e.at = time.Now()
		d.mu.Lock()
		e.computeOps = d.computeOps
		d.mu.Unlock()
		return nil
	}
	d.qmu.Lock() // the event and its marker at one point of the queue
	defer d.qmu.Unlock()
	d.queue = append(d.queue, func() error { e.at = time.Now(); return nil })
	d.issued++
	e.seq = d.issued // the work before it and its own mark
	return nil
}

// StreamWait makes stream s wait for e's work before its later work: the
// Copy stream's work up to e runs now, before the Compute stream goes on.
func (d *Device) StreamWait(s Stream, e *Event) error {
	if err := d.open(); err != nil {
		return err
	}
	if e.stream == Compute {
		if s == Copy {
			d.copyOrderedAfter(e.computeOps)
		}
		return nil // the Compute stream's work is done when issued
	}
	if s == e.stream {
		return nil
	}
	return d.flush(e.seq)
}

// EventSynchronize waits until e's work is done.
func (d *Device) EventSynchronize(e *Event) error {
	if err := d.open(); err != nil {
		return err
	}
	if e.stream == Compute {
		d.copyOrderedAfter(e.computeOps)
		return nil
	}
	return d.flush(e.seq)
}

// StreamSynchronize waits for all work issued on s.
func (d *Device) StreamSynchronize(s Stream) error {
	if err := d.open(); err != nil {
		return err
	}
	if s == Compute {
		d.hostWaitsForCompute()
		return nil
	}
	return d.flushAll()
}

// Synchronize waits for all work on the device.
func (d *Device) Synchronize() error {
	if err := d.open(); err != nil {
		return err
	}
	d.hostWaitsForCompute()
	return d.flushAll()
}

// Launches is the number of kernel launches and GEMMs issued so far.
func (d *Device) Launches() int64 { return d.launches.Load() }
