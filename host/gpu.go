//go:build cuda || cudaemu

package host

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/emotionlab/emotion/cuda"
)

// GPU is the Backend on a CUDA device (the cuda build) or on the emulated
// device (the cudaemu build): each op is a kernel launch of package kernels
// or a cuBLAS GEMM, issued on the device's compute stream.
//
// Memory comes from a pool of power-of-two size classes, so a training step
// after the first allocates nothing on the device. Uploads are staged
// through a ring of page-locked host memory and copied on the copy stream,
// ordered against the compute stream with events; Download, DownloadI32 and
// Sync are the only ops that wait for the device, once each. Kernels report
// bad inputs they find on the device (a label or token id out of range, a
// sequence length outside [0, steps]) in a status word that the next Sync or
// Download reads back and turns into the backend's error.
//
// A GPU is meant for one goroutine at a time, like the CPU backend.
type GPU struct {
	dev     *cuda.Device
	ordinal int
	name    string

	mu  sync.Mutex
	err error // first error, sticky

	free    map[int][]cuda.DevicePtr // pooled allocations by size class (bytes)
	live    map[cuda.DevicePtr]int   // allocations handed out, by size class
	mallocs int                      // device allocations made (tests: none in steady state)

	status       cuda.DevicePtr // int32[4]: code, value, index, unused
	holdWords    cuda.DevicePtr // device address of TimeOps's hold, int32[2]: release, gave up; 0 until the first
	holdHost     []byte         // on a GPU, the page-locked host memory holdWords addresses
	holding      bool           // a TimeOps hold is in place
	holdBroken   bool           // the host waited for the device while it was (hostWait)
	scratchBuf   cuda.DevicePtr // see scratch; a pool allocation
	scratchBytes int
	statusHost   []byte // pinned readback of status

	ring    []byte        // pinned upload staging ring
	ringPos int           // next free byte of ring
	pending []stagedCopy  // uploads whose staging bytes may still be read
	events  []*cuda.Event // spare events
	down    []byte        // pinned download staging

	embedCounts []int32 // EmbeddingBackward's plan: per-id counts, then cursors
	embedPlan   []int32 // EmbeddingBackward's plan, uploaded to scratch

	prof *profiler // launches being timed (StartProfile); nil when not
	sms  int       // the device's multiprocessors, for launch shapes
}

// stagedCopy is an upload in flight: ring bytes [lo, hi) are read by the
// copy that done marks.
type stagedCopy struct {
	lo, hi int
	done   *cuda.Event
}

const (
	gpuBlock         = 256     // threads per block of 1-D kernels
	reducePartials   = 1024    // most blocks of the first pass of Sum (their sums go to scratch)
	biasGradBlocks   = 512     // blocks BiasGrad aims for (about 4 per SM of an H100)
	minClass         = 256     // smallest pool size class, bytes (cudaMalloc's alignment)
	ringInitial      = 4 << 20 // upload ring, bytes
	statusWords      = 4       // status buffer, int32s
	softmaxBlockRows = 8       // rows per block of softmax kernels: 4 warps of 2 (softmax.cu)
	maxGridY         = 65535   // grid y and z limit
)

// gridStrideBlocks is the most blocks of a 1-D grid-stride kernel (31 per
// SM of an H200 at 256 threads: enough to fill it, few enough that a thread
// of a large op takes many elements), and of Copy2D's grid over rows. A
// variable so that the parity tests can shrink it and make every thread
// loop.
var gridStrideBlocks = 4096

var _ Backend = (*GPU)(nil)

// NewGPU opens CUDA device ordinal (0 under emulation) and returns a backend
// on it. Close releases it.
func NewGPU(ordinal int) (*GPU, error) {
	dev, err := cuda.Open(ordinal)
	if err != nil {
		return nil, fmt.Errorf("host: new GPU backend: %w", err)
	}
	g := &GPU{
		dev:     dev,
		ordinal: ordinal,
		name:    fmt.Sprintf("cuda:%d (%s)", ordinal, dev.Name()),
		sms:     dev.Multiprocessors(),
		free:    make(map[int][]cuda.DevicePtr),
		live:    make(map[cuda.DevicePtr]int),
	}
	if err := g.init(); err != nil {
		g.Close()
		return nil, fmt.Errorf("host: new GPU backend on %s: %w", g.name, err)
	}
	return g, nil
}

func (g *GPU) init() error {
	var err error
	if g.status, err = g.dev.Malloc(4 * statusWords); err != nil {
		return err
	}
	if err = g.dev.MemsetD32(g.status, 0, statusWords, cuda.Compute); err != nil {
		return err
	}
	if g.statusHost, err = g.dev.MallocHost(4 * statusWords); err != nil {
		return err
	}
	if g.ring, err = g.dev.MallocHost(ringInitial); err != nil {
		return err
	}
	return nil
}

// Close waits for the device, frees every allocation (pooled or not) and
// closes the device. The backend must not be used afterwards.
func (g *GPU) Close() error {
	errs := []error{g.dev.Synchronize()}
	for _, ps := range g.free {
		for _, p := range ps {
			errs = append(errs, g.dev.Free(p))
		}
	}
	for p := range g.live {
		errs = append(errs, g.dev.Free(p))
	}
	g.free, g.live = map[int][]cuda.DevicePtr{}, map[cuda.DevicePtr]int{}
	g.scratchBuf, g.scratchBytes = 0, 0
	for _, p := range []cuda.DevicePtr{g.status, g.holdWords} {
		if p != 0 && (p != g.holdWords || g.holdHost == nil) {
			errs = append(errs, g.dev.Free(p))
		}
	}
	g.status, g.holdWords = 0, 0
	for _, b := range [][]byte{g.statusHost, g.ring, g.down, g.holdHost} {
		if b != nil {
			errs = append(errs, g.dev.FreeHost(b))
		}
	}
	g.statusHost, g.ring, g.down, g.holdHost = nil, nil, nil, nil
	for _, s := range g.pending {
		errs = append(errs, g.dev.DestroyEvent(s.done))
	}
	for _, e := range g.events {
		errs = append(errs, g.dev.DestroyEvent(e))
	}
	g.pending, g.events = nil, nil
	if g.prof != nil { // a profile still running
		errs = append(errs, g.destroyProfileEvents(g.prof))
		g.prof = nil
	}
	errs = append(errs, g.dev.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("host: close %s: %w", g.name, err)
	}
	return nil
}

// Name returns "cuda:N (device name)".
func (g *GPU) Name() string { return g.name }

// DependentLaunch reports whether the device launches kernels with
// programmatic dependent launch (cuda.Device.DependentLaunch).
func (g *GPU) DependentLaunch() bool { return g.dev.DependentLaunch() }

// Device returns the device the backend runs on.
func (g *GPU) Device() *cuda.Device { return g.dev }

// Err returns the first error recorded by any op, or nil.
func (g *GPU) Err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

func (g *GPU) failed() bool { return g.Err() != nil }

func (g *GPU) fail(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err == nil {
		g.err = err
	}
}

func (g *GPU) failf(op, format string, args ...any) {
	g.fail(fmt.Errorf("host: %s: %s", op, fmt.Sprintf(format, args...)))
}

// check records err (from the device) for op, and reports whether it was nil.
func (g *GPU) check(op string, err error) bool {
	if err != nil {
		g.fail(fmt.Errorf("host: %s: %w", op, err))
		return false
	}
	return true
}

// ---------------------------------------------------------------- checks

func (g *GPU) nonNeg(op string, vals ...int) bool {
	for _, v := range vals {
		if v < 0 {
			g.failf(op, "negative size in %v", vals)
			return false
		}
	}
	return true
}

// f32 checks that b is a buffer of this device with at least need elements;
// a nil b passes when need is 0.
func (g *GPU) f32(op, name string, b *F32, need int) bool {
	if b == nil {
		return g.bufOK(op, bufProblem(name, "GPU", false, false, 0, need))
	}
	return g.bufOK(op, bufProblem(name, "GPU", true, b.n == 0 || b.dev != 0, b.n, need))
}

// i32 is f32 for int32 buffers.
func (g *GPU) i32(op, name string, b *I32, need int) bool {
	if b == nil {
		return g.bufOK(op, bufProblem(name, "GPU", false, false, 0, need))
	}
	return g.bufOK(op, bufProblem(name, "GPU", true, b.n == 0 || b.dev != 0, b.n, need))
}

// bufOK fails op with problem unless it is "".
func (g *GPU) bufOK(op, problem string) bool {
	if problem != "" {
		g.failf(op, "%s", problem)
		return false
	}
	return true
}

func (g *GPU) ld(op, name string, ld, cols int) bool {
	if ld < max(cols, 1) {
		g.failf(op, "%s=%d is less than the row length %d", name, ld, cols)
		return false
	}
	return true
}

// fitsInt32 checks sizes that kernels take as int.
func (g *GPU) fitsInt32(op string, vals ...int) bool {
	for _, v := range vals {
		if v > math.MaxInt32 {
			g.failf(op, "size %d exceeds the kernels' int32 range", v)
			return false
		}
	}
	return true
}

// matLen is the number of elements a rows×cols matrix with row stride ld
// spans: (rows−1)·ld + cols, or 0 when it is empty; math.MaxInt when that
// exceeds math.MaxInt (see satMul).
func matLen(rows, cols, ld int) int {
	if rows <= 0 || cols <= 0 {
		return 0
	}
	return satAdd(satMul(rows-1, ld), cols)
}

func ptr(b *F32) cuda.DevicePtr {
	if b == nil {
		return 0
	}
	return cuda.DevicePtr(b.dev)
}

func iptr(b *I32) cuda.DevicePtr {
	if b == nil {
		return 0
	}
	return cuda.DevicePtr(b.dev)
}

// ---------------------------------------------------------------- launches

func (g *GPU) launch(op, kernel string, grid, block [3]int, args ...any) {
	start := g.profileStart()
	g.check(op, g.dev.Launch(kernel, grid, block, 0, args...))
	if start != nil {
		g.profileEnd(start, func() string { return op + " (" + kernel + ")" })
	}
}

// grid1D is the grid of a grid-stride kernel over n elements.
func grid1D(n int) [3]int {
	return [3]int{max(1, min((n+gpuBlock-1)/gpuBlock, gridStrideBlocks)), 1, 1}
}

// mapUnroll is MAP_UNROLL of kernels/elementwise.cu: how many elements a
// thread of its map_strided kernels takes per round.
const mapUnroll = 4

// gridMap1D is the grid of a 1-D map_strided kernel over n elements: one
// round of mapUnroll elements per thread, up to the grid-stride cap.
func gridMap1D(n int) [3]int {
	return [3]int{max(1, min((n+gpuBlock*mapUnroll-1)/(gpuBlock*mapUnroll), gridStrideBlocks)), 1, 1}
}

var block1D = [3]int{gpuBlock, 1, 1}

// ---------------------------------------------------------------- memory

// sizeClass rounds bytes up to the pool's size class: a power of two, at
// least minClass.
func sizeClass(bytes int) int {
	if bytes <= minClass {
		return minClass
	}
	return 1 << bits.Len(uint(bytes-1))
}

// alloc returns device memory for bytes from the pool, zeroed.
func (g *GPU) alloc(op string, bytes int) cuda.DevicePtr {
	class := sizeClass(bytes)
	var p cuda.DevicePtr
	if ps := g.free[class]; len(ps) > 0 {
		p = ps[len(ps)-1]
		g.free[class] = ps[:len(ps)-1]
	} else {
		var err error
		p, err = g.dev.Malloc(class)
		if errors.Is(err, cuda.ErrOutOfMemory) {
			// Give the pool's spare memory back and try once more.
			if g.check(op, g.trim()) {
				p, err = g.dev.Malloc(class)
			}
		}
		if !g.check(op, err) {
			return 0
		}
		g.mallocs++
	}
	if !g.check(op, g.dev.MemsetD32(p, 0, (bytes+3)/4, cuda.Compute)) {
		g.free[class] = append(g.free[class], p) // not handed out: back to the pool
		return 0
	}
	g.live[p] = class
	return p
}

// trim frees the pool's unused allocations.
func (g *GPU) trim() error {
	g.hostWait()
	if err := g.dev.Synchronize(); err != nil {
		return err
	}
	var errs []error
	for class, ps := range g.free {
		for _, p := range ps {
			errs = append(errs, g.dev.Free(p))
		}
		delete(g.free, class)
	}
	return errors.Join(errs...)
}

func (g *GPU) release(op string, p cuda.DevicePtr) {
	class, ok := g.live[p]
	if !ok {
		g.failf(op, "buffer %#x not allocated by this backend", uintptr(p))
		return
	}
	delete(g.live, p)
	g.free[class] = append(g.free[class], p)
}

// Alloc returns a zeroed buffer of n elements from the pool.
func (g *GPU) Alloc(n int) *F32 {
	if n < 0 || n > maxAllocElems {
		g.failf("Alloc", "size n=%d outside 0 to %d", n, maxAllocElems)
		return nil
	}
	if n == 0 {
		return &F32{}
	}
	p := g.alloc("Alloc", 4*n)
	if p == 0 {
		return nil
	}
	return &F32{n: n, dev: uintptr(p)}
}

// AllocI32 returns a zeroed int32 buffer of n elements from the pool.
func (g *GPU) AllocI32(n int) *I32 {
	if n < 0 || n > maxAllocElems {
		g.failf("AllocI32", "size n=%d outside 0 to %d", n, maxAllocElems)
		return nil
	}
	if n == 0 {
		return &I32{}
	}
	p := g.alloc("AllocI32", 4*n)
	if p == 0 {
		return nil
	}
	return &I32{n: n, dev: uintptr(p)}
}

// Free returns b to the pool; freeing a view or nil does nothing.
func (g *GPU) Free(b *F32) {
	if b == nil || b.root != nil || b.dev == 0 {
		return
	}
	g.release("Free", cuda.DevicePtr(b.dev))
	b.dev, b.n = 0, 0
}

// FreeI32 returns b to the pool; freeing a view or nil does nothing.
func (g *GPU) FreeI32(b *I32) {
	if b == nil || b.root != nil || b.dev == 0 {
		return
	}
	g.release("FreeI32", cuda.DevicePtr(b.dev))
	b.dev, b.n, b.host = 0, 0, nil
}

// PoolStats returns the number of device allocations made so far and the
// bytes the pool holds (in use or spare).
func (g *GPU) PoolStats() (mallocs int, bytes int64) {
	for _, c := range g.live {
		bytes += int64(c)
	}
	for c, ps := range g.free {
		bytes += int64(c) * int64(len(ps))
	}
	return g.mallocs, bytes
}

// LaunchBound reports true: every op is at least one launch (host.LaunchBound).
func (g *GPU) LaunchBound() bool { return true }

// Launches is the number of kernel launches and cuBLAS GEMMs the device
// has issued so far (for benchmarks: launches per training step).
func (g *GPU) Launches() int64 { return g.dev.Launches() }

// ---------------------------------------------------------------- transfers

// spareEvent returns an event to record.
func (g *GPU) spareEvent() (*cuda.Event, error) {
	if n := len(g.events); n > 0 {
		e := g.events[n-1]
		g.events = g.events[:n-1]
		return e, nil
	}
	return g.dev.NewEvent()
}

// stage returns bytes of the upload ring to fill, waiting for the copies
// that still read them; it grows the ring for an upload larger than it.
func (g *GPU) stage(bytes int) ([]byte, int, error) {
	if bytes > len(g.ring) {
		if err := g.drainStaging(); err != nil {
			return nil, 0, err
		}
		if err := g.dev.FreeHost(g.ring); err != nil {
			return nil, 0, err
		}
		g.ring = nil
		r, err := g.dev.MallocHost(sizeClass(bytes))
		if err != nil {
			return nil, 0, err
		}
		g.ring, g.ringPos = r, 0
	}
	lo := g.ringPos
	if lo+bytes > len(g.ring) {
		lo = 0
	}
	hi := lo + bytes
	// Wait for the oldest copies until none still reads [lo, hi).
	for len(g.pending) > 0 {
		overlaps := false
		for _, s := range g.pending {
			if s.lo < hi && lo < s.hi {
				overlaps = true
				break
			}
		}
		if !overlaps {
			break
		}
		s := g.pending[0]
		g.hostWait()
		if err := g.dev.EventSynchronize(s.done); err != nil {
			return nil, 0, err
		}
		g.events = append(g.events, s.done)
		g.pending = g.pending[1:]
	}
	g.ringPos = hi
	return g.ring[lo:hi], lo, nil
}

// drainStaging waits for every upload in flight.
func (g *GPU) drainStaging() error {
	if len(g.pending) > 0 {
		g.hostWait()
	}
	for i, s := range g.pending {
		if err := g.dev.EventSynchronize(s.done); err != nil {
			// The ones before are spare now; s and the rest stay pending:
			// each event in one list, so that Close destroys it once.
			g.pending = append(g.pending[:0], g.pending[i:]...)
			return err
		}
		g.events = append(g.events, s.done)
	}
	g.pending = g.pending[:0]
	return nil
}

// upload copies src (bytes of host memory) into device memory dst on the
// copy stream, after the compute stream's work so far and before its later
// work.
func (g *GPU) upload(op string, dst cuda.DevicePtr, src unsafe.Pointer, bytes int) {
	if bytes == 0 {
		return
	}
	buf, lo, err := g.stage(bytes)
	if !g.check(op, err) {
		return
	}
	copy(buf, unsafe.Slice((*byte)(src), bytes))
	before, err := g.spareEvent()
	if !g.check(op, err) {
		return
	}
	defer func() { g.events = append(g.events, before) }()
	done, err := g.spareEvent()
	if !g.check(op, err) {
		return
	}
	ok := g.check(op, g.dev.Record(before, cuda.Compute)) &&
		g.check(op, g.dev.StreamWait(cuda.Copy, before)) &&
		g.check(op, g.dev.MemcpyHtoD(dst, unsafe.Pointer(&buf[0]), bytes, cuda.Copy)) &&
		g.check(op, g.dev.Record(done, cuda.Copy)) &&
		g.check(op, g.dev.StreamWait(cuda.Compute, done))
	if !ok {
		g.events = append(g.events, done)
		return
	}
	g.pending = append(g.pending, stagedCopy{lo: lo, hi: lo + bytes, done: done})
}

// Upload copies src into dst; len(src) must equal dst.Len().
func (g *GPU) Upload(dst *F32, src []float32) {
	const op = "Upload"
	if g.failed() || !g.f32(op, "dst", dst, len(src)) {
		return
	}
	if dst.n != len(src) {
		g.failf(op, "dst has %d elements, src %d", dst.n, len(src))
		return
	}
	if len(src) > 0 {
		g.upload(op, ptr(dst), unsafe.Pointer(&src[0]), 4*len(src))
	}
}

// UploadI32 copies src into dst; len(src) must equal dst.Len().
func (g *GPU) UploadI32(dst *I32, src []int32) {
	const op = "UploadI32"
	if g.failed() || !g.i32(op, "dst", dst, len(src)) {
		return
	}
	if dst.n != len(src) {
		g.failf(op, "dst has %d elements, src %d", dst.n, len(src))
		return
	}
	if len(src) > 0 {
		g.upload(op, iptr(dst), unsafe.Pointer(&src[0]), 4*len(src))
		root, off := dst.rootAndOffset()
		if root.host == nil {
			root.host = make([]int32, root.n)
		}
		copy(root.host[off:], src)
	}
}

// rootAndOffset returns b's allocation and b's element offset in it.
func (b *I32) rootAndOffset() (*I32, int) {
	if b.root == nil {
		return b, 0
	}
	return b.root, int(b.dev-b.root.dev) / 4
}

// hostI32 returns the host copy of b's elements: what UploadI32 wrote
// there. A GPU backend's int32 buffers are written by uploads only (every
// op takes them as inputs), so the copy is what the device holds, and an op
// can plan on the host from it without waiting for the device. False if b
// was never uploaded.
func hostI32(b *I32) ([]int32, bool) {
	root, off := b.rootAndOffset()
	if root.host == nil {
		return nil, false
	}
	return root.host[off : off+b.n], true
}

// download copies bytes of device memory src to host memory dst after
// every op issued so far, waiting for the device once.
func (g *GPU) download(op string, dst unsafe.Pointer, src cuda.DevicePtr, bytes int) {
	if len(g.down) < bytes {
		if g.down != nil {
			if !g.check(op, g.dev.FreeHost(g.down)) {
				return
			}
			g.down = nil
		}
		d, err := g.dev.MallocHost(sizeClass(bytes))
		if !g.check(op, err) {
			return
		}
		g.down = d
	}
	if !g.check(op, g.dev.MemcpyDtoH(unsafe.Pointer(&g.down[0]), src, bytes, cuda.Compute)) {
		return
	}
	if g.wait(op) != nil {
		return
	}
	copy(unsafe.Slice((*byte)(dst), bytes), g.down[:bytes])
}

// Download copies src into dst; len(dst) must equal src.Len(). It waits for
// every op before it.
func (g *GPU) Download(dst []float32, src *F32) {
	const op = "Download"
	if g.failed() || !g.f32(op, "src", src, len(dst)) {
		return
	}
	if src.n != len(dst) {
		g.failf(op, "src has %d elements, dst %d", src.n, len(dst))
		return
	}
	if len(dst) > 0 {
		g.download(op, unsafe.Pointer(&dst[0]), ptr(src), 4*len(dst))
	}
}

// DownloadI32 copies src into dst; len(dst) must equal src.Len().
func (g *GPU) DownloadI32(dst []int32, src *I32) {
	const op = "DownloadI32"
	if g.failed() || !g.i32(op, "src", src, len(dst)) {
		return
	}
	if src.n != len(dst) {
		g.failf(op, "src has %d elements, dst %d", src.n, len(dst))
		return
	}
	if len(dst) > 0 {
		g.download(op, unsafe.Pointer(&dst[0]), iptr(src), 4*len(dst))
	}
}

// Status codes of the kernels (common.cuh).
const (
	statusLabelRange  = 1
	statusTokenRange  = 2
	statusLengthRange = 3
)

// wait reads back the status word, waits for the compute stream and turns
// a status a kernel reported into the backend's error.
func (g *GPU) wait(op string) error {
	g.hostWait()
	if !g.check(op, g.dev.MemcpyDtoH(unsafe.Pointer(&g.statusHost[0]), g.status, 4*statusWords, cuda.Compute)) ||
		!g.check(op, g.dev.StreamSynchronize(cuda.Compute)) {
		return g.Err()
	}
	if err := g.drainStaging(); !g.check(op, err) {
		return g.Err()
	}
	st := unsafe.Slice((*int32)(unsafe.Pointer(&g.statusHost[0])), statusWords)
	switch st[0] {
	case 0:
		return nil
	case statusLabelRange:
		g.failf("CrossEntropy", "label %d of row %d is not below the number of classes", st[1], st[2])
	case statusTokenRange:
		g.failf("Embedding", "id %d at position %d outside [0, vocab)", st[1], st[2])
	case statusLengthRange:
		g.failf("sequence op", "lengths[%d] = %d outside [0, steps]", st[2], st[1])
	default:
		g.failf(op, "a kernel reported unknown status %d", st[0])
	}
	g.check(op, g.dev.MemsetD32(g.status, 0, statusWords, cuda.Compute))
	return g.Err()
}

// Sync waits for every op issued so far and returns Err.
func (g *GPU) Sync() error {
	if g.failed() {
		// Still wait, so that the caller may reuse host memory safely.
		g.hostWait()
		g.dev.StreamSynchronize(cuda.Compute)
		return g.Err()
	}
	return g.wait("Sync")
}

// TimeOps calls f n times, where f issues ops without waiting for them, and
// returns the device time from the start of the first op to the end of the
// last (CUDA events on the compute stream) and the wall time the n calls
// took to issue. It implements bench.OpTimer.
//
// Held, the compute stream waits behind a hold (kernels/hold.cu) until all
// n calls are issued, as nvbench's blocking kernel does, so that the device
// runs them back to back and the time is the device's alone. Not held, a
// device that finishes an op before the host has issued the next waits for
// it, and that wait counts. A held group must fit the stream's queue (about
// a thousand launches); a hold that gave up waiting (holdTimeout) is an
// error, since the time then includes the host's.
func (g *GPU) TimeOps(n int, held bool, f func()) (device, issue time.Duration, err error) {
	if err := g.Sync(); err != nil {
		return 0, 0, err
	}
	start, err := g.dev.NewTimingEvent()
	if err != nil {
		return 0, 0, err
	}
	defer g.dev.DestroyEvent(start)
	end, err := g.dev.NewTimingEvent()
	if err != nil {
		return 0, 0, err
	}
	defer g.dev.DestroyEvent(end)
	if held {
		if err := g.hold(); err != nil {
			return 0, 0, err
		}
		defer g.releaseHold() // on an early return; released below otherwise
	}
	if err := g.dev.Record(start, cuda.Compute); err != nil {
		return 0, 0, err
	}
	t0 := time.Now()
	for range n {
		f()
	}
	issue = time.Since(t0)
	if err := g.dev.Record(end, cuda.Compute); err != nil {
		return 0, 0, err
	}
	broken := held && g.holdBroken
	if held {
		g.releaseHold()
	}
	if err := g.dev.EventSynchronize(end); err != nil {
		return 0, 0, err
	}
	if err := g.wait("TimeOps"); err != nil {
		return 0, 0, err
	}
	if broken {
		return 0, 0, fmt.Errorf("TimeOps: %w", ErrHostWaited)
	}
	if held {
		gaveUp, err := g.holdGaveUp()
		if err != nil {
			return 0, 0, err
		}
		if gaveUp {
			return 0, 0, fmt.Errorf("TimeOps: the hold gave up after %v: %d calls did not fit the stream's queue", holdTimeout, n)
		}
	}
	device, err = g.dev.Elapsed(start, end)
	return device, issue, err
}

// holdTimeout is how long the hold of a TimeOps group waits for the host:
// far longer than issuing any group the benchmarks time, short enough that
// a group the stream's queue cannot take whole (the host then blocks in a
// launch behind the hold) costs a moment, not a hang.
const holdTimeout = 500 * time.Millisecond

// hold queues stream_hold on the compute stream: the work queued after it
// waits until releaseHold. On a GPU the hold's two words are page-locked
// host memory that the kernel reads over the bus, so that nothing on any
// stream stands between the release and the kernel (a release written by a
// memset on the copy stream never arrived in one test process: streams
// can share a hardware queue). The emulation runs a kernel to its end when
// it is launched, so there the hold is released before it runs.
func (g *GPU) hold() error {
	if g.holdWords == 0 {
		if err := g.allocHold(); err != nil {
			return fmt.Errorf("TimeOps: %w", err)
		}
	}
	if cuda.Emulated {
		if err := g.dev.MemsetD32(g.holdWords, 1, 1, cuda.Compute); err != nil {
			return err
		}
		if err := g.dev.MemsetD32(g.holdWords+4, 0, 1, cuda.Compute); err != nil {
			return err
		}
	} else {
		w := g.holdHostWords()
		atomic.StoreInt32(&w[0], 0)
		atomic.StoreInt32(&w[1], 0)
	}
	g.launch("TimeOps", "stream_hold", [3]int{1, 1, 1}, [3]int{1, 1, 1},
		g.holdWords, uint64(holdTimeout.Nanoseconds()), g.holdWords+4)
	g.holding, g.holdBroken = true, false
	return g.Err()
}

// allocHold allocates the hold's words: page-locked host memory on a GPU,
// device memory under emulation.
func (g *GPU) allocHold() error {
	if cuda.Emulated {
		p, err := g.dev.Malloc(8)
		g.holdWords = p
		return err
	}
	b, err := g.dev.MallocHost(8)
	if err != nil {
		return err
	}
	p, err := g.dev.HostDevicePtr(b)
	if err != nil {
		g.dev.FreeHost(b)
		return err
	}
	g.holdHost, g.holdWords = b, p
	return nil
}

// holdHostWords is the hold's words in host memory (on a GPU).
func (g *GPU) holdHostWords() *[2]int32 { return (*[2]int32)(unsafe.Pointer(&g.holdHost[0])) }

// releaseHold lets the work queued behind the hold run.
func (g *GPU) releaseHold() {
	if g.holding && !cuda.Emulated {
		atomic.StoreInt32(&g.holdHostWords()[0], 1)
	}
	g.holding = false
}

// hostWait is called before the host blocks on the device. The work it
// waits for may be queued behind a TimeOps hold: one still in place is
// released first (or the host would wait for the hold, and the hold for
// the host), and the group is marked (holdBroken). The emulation runs its
// holds released, but marks the group the same way.
func (g *GPU) hostWait() {
	if g.holding {
		g.releaseHold()
		g.holdBroken = true
	}
}

// holdGaveUp reports, once the stream has passed the hold, whether it gave
// up waiting for its release.
func (g *GPU) holdGaveUp() (bool, error) {
	if !cuda.Emulated {
		return atomic.LoadInt32(&g.holdHostWords()[1]) != 0, nil
	}
	var w [2]int32
	if err := g.dev.MemcpyDtoH(unsafe.Pointer(&w[0]), g.holdWords, 8, cuda.Compute); err != nil {
		return false, err
	}
	return w[1] != 0, nil
}

// ---------------------------------------------------------------- elementwise

// Fill sets the x.Len() elements of x to v.
func (g *GPU) Fill(x *F32, v float32) {
	const op = "Fill"
	n := x.Len()
	if g.failed() || !g.f32(op, "x", x, n) || n == 0 || !g.fitsInt32(op, n) {
		return
	}
	g.launch(op, "fill_f32", grid1D(n), block1D, n, v, ptr(x))
}

// Copy copies src into dst (equal lengths).
func (g *GPU) Copy(dst, src *F32) {
	const op = "Copy"
	n := src.Len()
	if g.failed() || !g.f32(op, "src", src, n) || !g.f32(op, "dst", dst, n) {
		return
	}
	if dst.Len() != n {
		g.failf(op, "dst has %d elements, src %d", dst.Len(), n)
		return
	}
	if n > 0 {
		g.check(op, g.dev.MemcpyDtoD(ptr(dst), ptr(src), 4*n, cuda.Compute))
	}
}

// Copy2D copies (or adds) a rows×cols sub-matrix: dst[r*ldDst+c] (+)=
// src[r*ldSrc+c].
func (g *GPU) Copy2D(rows, cols int, src *F32, ldSrc int, dst *F32, ldDst int, accumulate bool) {
	const op = "Copy2D"
	if g.failed() || !g.nonNeg(op, rows, cols, ldSrc, ldDst) || rows == 0 || cols == 0 {
		return
	}
	if !g.ld(op, "ldSrc", ldSrc, cols) || !g.ld(op, "ldDst", ldDst, cols) ||
		!g.f32(op, "src", src, matLen(rows, cols, ldSrc)) || !g.f32(op, "dst", dst, matLen(rows, cols, ldDst)) ||
		!g.fitsInt32(op, rows, cols, ldSrc, ldDst) {
		return
	}
	grid := [3]int{min((cols+31)/32, maxGridY), min((rows+8*mapUnroll-1)/(8*mapUnroll), gridStrideBlocks), 1}
	g.launch(op, "copy2d_f32", grid, [3]int{32, 8, 1}, rows, cols, ptr(src), ldSrc, ptr(dst), ldDst, accumulate)
}

// Transpose writes the transposes of batch rows×cols matrices src into the
// cols×rows matrices dst: one launch of 32×32 tiles, grid z over the
// matrices.
func (g *GPU) Transpose(batch, rows, cols int, src *F32, ldSrc, strideSrc int, dst *F32, ldDst, strideDst int) {
	const op = "Transpose"
	if g.failed() || !g.nonNeg(op, batch, rows, cols, ldSrc, strideSrc, ldDst, strideDst) || batch == 0 || rows == 0 || cols == 0 {
		return
	}
	srcLen := satAdd(satMul(batch-1, strideSrc), matLen(rows, cols, ldSrc))
	dstLen := satAdd(satMul(batch-1, strideDst), matLen(cols, rows, ldDst))
	if !g.ld(op, "ldSrc", ldSrc, cols) || !g.ld(op, "ldDst", ldDst, rows) ||
		!g.f32(op, "src", src, srcLen) || !g.f32(op, "dst", dst, dstLen) ||
		!g.fitsInt32(op, rows, cols, ldSrc, ldDst, strideSrc, strideDst, srcLen, dstLen) {
		return
	}
	if (rows+31)/32 > maxGridY || batch > maxGridY {
		g.failf(op, "rows=%d or batch=%d exceeds the grid (rows ≤ %d, batch ≤ %d)", rows, batch, 32*maxGridY, maxGridY)
		return
	}
	g.launch(op, "transpose_f32", [3]int{(cols + 31) / 32, (rows + 31) / 32, batch}, [3]int{32, 8, 1},
		rows, cols, ptr(src), ldSrc, strideSrc, ptr(dst), ldDst, strideDst)
}

// Axpy computes y += alpha·x over x.Len() elements.
func (g *GPU) Axpy(alpha float32, x, y *F32) {
	const op = "Axpy"
	n := x.Len()
	if g.failed() || !g.f32(op, "x", x, n) || !g.f32(op, "y", y, n) || n == 0 || !g.fitsInt32(op, n) {
		return
	}
	g.launch(op, "axpy_f32", gridMap1D(n), block1D, n, alpha, ptr(x), ptr(y))
}

// Scale computes x *= alpha.
func (g *GPU) Scale(alpha float32, x *F32) {
	const op = "Scale"
	n := x.Len()
	if g.failed() || !g.f32(op, "x", x, n) || n == 0 || !g.fitsInt32(op, n) {
		return
	}
	g.launch(op, "scale_f32", gridMap1D(n), block1D, n, alpha, ptr(x))
}

// Sum writes the sum of x's elements to out[0].
func (g *GPU) Sum(x, out *F32) { g.reduce("Sum", x, out, false) }

// SumSquares writes the sum of squares of x's elements to out[0].
func (g *GPU) SumSquares(x, out *F32) { g.reduce("SumSquares", x, out, true) }

// reduce sums in two passes: up to reducePartials block sums, then one
// block adds them up (deterministic: no atomics).
func (g *GPU) reduce(op string, x, out *F32, squares bool) {
	n := x.Len()
	if g.failed() || !g.f32(op, "x", x, n) || !g.f32(op, "out", out, 1) || !g.fitsInt32(op, n) {
		return
	}
	blocks := min((n+gpuBlock-1)/gpuBlock, reducePartials)
	partials := g.scratch(op, 4*max(blocks, 1))
	if partials == 0 {
		return
	}
	if n > 0 {
		g.launch(op, "reduce_partial_f32", [3]int{blocks, 1, 1}, block1D, n, ptr(x), squares, partials)
	}
	g.launch(op, "reduce_final_f32", [3]int{1, 1, 1}, [3]int{1024, 1, 1}, blocks, partials, ptr(out))
}

// AddBias adds bias[c] to x[r*cols+c] for every row r of a rows×cols x.
func (g *GPU) AddBias(rows, cols int, x, bias *F32) {
	const op = "AddBias"
	if g.failed() || !g.nonNeg(op, rows, cols) || !g.f32(op, "x", x, satMul(rows, cols)) || !g.f32(op, "bias", bias, cols) ||
		rows*cols == 0 || !g.fitsInt32(op, rows*cols) {
		return
	}
	g.launch(op, "add_bias_f32", gridMap1D(rows*cols), block1D, rows, cols, ptr(x), ptr(bias))
}

// BiasGrad accumulates the column sums of the rows×cols dy into dbias.
func (g *GPU) BiasGrad(rows, cols int, dy, dbias *F32) {
	const op = "BiasGrad"
	if g.failed() || !g.nonNeg(op, rows, cols) || !g.f32(op, "dy", dy, satMul(rows, cols)) || !g.f32(op, "dbias", dbias, cols) ||
		rows*cols == 0 || !g.fitsInt32(op, rows*cols) {
		return
	}
	colBlocks := (cols + 31) / 32
	splits, rowsPer := biasGradSplits(rows, colBlocks)
	if splits == 1 {
		g.launch(op, "bias_grad_f32", [3]int{colBlocks, 1, 1}, [3]int{32, 8, 1}, rows, cols, rowsPer, ptr(dy), ptr(dbias), 1)
		return
	}
	partials := g.scratch(op, 4*splits*cols)
	if partials == 0 {
		return
	}
	g.launch(op, "bias_grad_f32", [3]int{colBlocks, splits, 1}, [3]int{32, 8, 1}, rows, cols, rowsPer, ptr(dy), partials, 0)
	g.launch(op, "bias_grad_final_f32", [3]int{(cols + gpuBlock - 1) / gpuBlock, 1, 1}, block1D, splits, cols, partials, ptr(dbias))
}

// biasGradSplits chooses the row chunks of BiasGrad: enough chunks that
// the grid has about biasGradBlocks blocks, each chunk at least 64 rows and
// a multiple of 8 (the block's row stride). It returns the number of chunks
// and the rows per chunk.
func biasGradSplits(rows, colBlocks int) (splits, rowsPer int) {
	splits = max(1, min((biasGradBlocks+colBlocks-1)/colBlocks, rows/64, maxGridY))
	rowsPer = (rows + splits - 1) / splits
	rowsPer = (rowsPer + 7) / 8 * 8
	return (rows + rowsPer - 1) / rowsPer, rowsPer
}

// scratch returns device memory of at least bytes, not zeroed, for an op's
// intermediate results (Sum's and BiasGrad's partial sums, EmbeddingBackward's
// plan). It stays the
// backend's and is reused by the next op that asks (ops run in order on the
// compute stream, so that op's kernels run after this one's).
func (g *GPU) scratch(op string, bytes int) cuda.DevicePtr {
	if bytes > g.scratchBytes {
		if g.scratchBuf != 0 {
			g.release(op, g.scratchBuf)
		}
		g.scratchBuf, g.scratchBytes = g.alloc(op, bytes), sizeClass(bytes)
		if g.scratchBuf == 0 {
			g.scratchBytes = 0
		}
	}
	return g.scratchBuf
}

// unary checks and launches an elementwise (map_strided) kernel over
// in[0].Len() elements.
func (g *GPU) unary(op, kernel string, names []string, bufs ...*F32) {
	n := bufs[0].Len()
	if g.failed() {
		return
	}
	for i, b := range bufs {
		if !g.f32(op, names[i], b, n) {
			return
		}
	}
	if n == 0 || !g.fitsInt32(op, n) {
		return
	}
	args := []any{n}
	for _, b := range bufs {
		args = append(args, ptr(b))
	}
	g.launch(op, kernel, gridMap1D(n), block1D, args...)
}

// ReLU computes y = max(x, 0).
func (g *GPU) ReLU(x, y *F32) { g.unary("ReLU", "relu_fwd", []string{"x", "y"}, x, y) }

// ReLUBackward computes dx = dy where y > 0, else 0.
func (g *GPU) ReLUBackward(y, dy, dx *F32) {
	g.unary("ReLUBackward", "relu_bwd", []string{"y", "dy", "dx"}, y, dy, dx)
}

// Tanh computes y = tanh(x).
func (g *GPU) Tanh(x, y *F32) { g.unary("Tanh", "tanh_fwd", []string{"x", "y"}, x, y) }

// TanhBackward computes dx = dy·(1 − y²).
func (g *GPU) TanhBackward(y, dy, dx *F32) {
	g.unary("TanhBackward", "tanh_bwd", []string{"y", "dy", "dx"}, y, dy, dx)
}

// Dropout computes y = x·keep/(1−p) with keep drawn as DropoutKeep.
func (g *GPU) Dropout(p float32, seed, offset uint64, x, y *F32) {
	g.dropout("Dropout", p, seed, offset, x, y)
}

// DropoutBackward computes dx = dy·keep/(1−p) with Dropout's mask.
func (g *GPU) DropoutBackward(p float32, seed, offset uint64, dy, dx *F32) {
	g.dropout("DropoutBackward", p, seed, offset, dy, dx)
}

func (g *GPU) dropout(op string, p float32, seed, offset uint64, x, y *F32) {
	n := x.Len()
	if g.failed() || !g.f32(op, "x", x, n) || !g.f32(op, "y", y, n) || !g.fitsInt32(op, n) {
		return
	}
	if !(p >= 0 && p <= 1) {
		g.failf(op, "p=%g outside [0, 1]", p)
		return
	}
	if n == 0 {
		return
	}
	if p == 0 {
		if x.dev != y.dev {
			g.check(op, g.dev.MemcpyDtoD(ptr(y), ptr(x), 4*n, cuda.Compute))
		}
		return
	}
	g.launch(op, "dropout_f32", gridMap1D(n), block1D, n, p, seed, offset, ptr(x), ptr(y))
}

// ---------------------------------------------------------------- GEMM

// Gemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices with
// cuBLAS: a row-major matrix is the transpose of the column-major matrix in
// the same memory, so C = op(A)·op(B) is computed as Cᵀ = op(B)ᵀ·op(A)ᵀ by
// swapping the operands, without moving data.
func (g *GPU) Gemm(transA, transB bool, m, n, k int, alpha float32, a *F32, lda int, b *F32, ldb int, beta float32, c *F32, ldc int) {
	const op = "Gemm"
	if !g.gemmCheck(op, transA, transB, m, n, k, alpha, a, lda, 0, b, ldb, 0, c, ldc, 0, 1) {
		return
	}
	g.gemm(op, transA, transB, m, n, k, alpha, a, lda, 0, b, ldb, 0, beta, c, ldc, 0, 1)
}

// GemmStridedBatched is Gemm over batch problems at element strides.
func (g *GPU) GemmStridedBatched(transA, transB bool, m, n, k int, alpha float32, a *F32, lda, strideA int, b *F32, ldb, strideB int, beta float32, c *F32, ldc, strideC int, batch int) {
	const op = "GemmStridedBatched"
	if !g.gemmCheck(op, transA, transB, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, c, ldc, strideC, batch) {
		return
	}
	g.gemm(op, transA, transB, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, c, ldc, strideC, batch)
}

// gemm runs a checked GemmStridedBatched one of three ways (gemmRoute): a
// small product on gemm_tiled_f32, one with a small output and a long k
// split over k, the rest on cuBLAS.
func (g *GPU) gemm(op string, transA, transB bool, m, n, k int, alpha float32, a *F32, lda, strideA int, b *F32, ldb, strideB int, beta float32, c *F32, ldc, strideC, batch int) {
	start := g.profileStart()
	route := ""
	tiled, parts := gemmRoute(m, n, k, batch, g.sms)
	if k == 0 || alpha == 0 {
		// C = beta·C, A and B not read (BLAS's rule, and the CPU's): cuBLAS
		// with k = 0 does exactly that; the leading dimensions only have to
		// pass its checks, and C's address stands in for A's and B's.
		tiled, parts, k, a, b = false, 1, 0, c, c
		lda, ldb, strideA, strideB = max(1, m, n), max(1, m, n), 0, 0
	}
	switch {
	case tiled:
		route = "tiled"
		grid := [3]int{(n + gemmTiledEdge - 1) / gemmTiledEdge, (m + gemmTiledEdge - 1) / gemmTiledEdge, batch}
		g.check(op, g.dev.Launch("gemm_tiled_f32", grid, [3]int{gemmTiledEdge, gemmTiledRows, 1}, 0,
			transA, transB, m, n, k, alpha, ptr(a), lda, uint64(strideA), ptr(b), ldb, uint64(strideB), beta, ptr(c), ldc, uint64(strideC)))
	case parts > 1:
		route = fmt.Sprintf("k in %d", parts)
		g.gemmSplitK(op, parts, transA, transB, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, c, ldc, strideC, batch)
	case batch == 1:
		g.check(op, g.dev.Sgemm(transB, transA, n, m, k, alpha, ptr(b), ldb, ptr(a), lda, beta, ptr(c), ldc))
	default:
		g.check(op, g.dev.SgemmStridedBatched(transB, transA, n, m, k, alpha, ptr(b), ldb, strideB, ptr(a), lda, strideA, beta, ptr(c), ldc, strideC, batch))
	}
	if start != nil {
		g.profileEnd(start, func() string { return gemmLabel(op, transA, transB, m, n, k, batch, route) })
	}
}

// Small products go to gemm_tiled_f32 (kernels/gemm.cu). Measured on the
// H200 (device time, held) against cuBLAS at the models' shapes: the
// attention's per-head products at 10 rows (m = n = 10, k = 64 or 128,
// 128 problems) 2.3–2.7 µs against 3.7–4.9, the LSTM bias gradients at
// k = 320 1.05×; but each 32 rows of k cost the tiled kernel about 1.3 µs
// (a load's latency and two barriers), so long k lost (0.42× at k = 1,600),
// and so did large outputs over a tiny k (0.4–0.7×) and products of 20M
// multiply-adds at k = 256 (cuBLAS 12–15 µs, the tiled kernel 16–20). It
// also saves the host: a cuBLAS call took the host 4–15 µs to issue (the
// strided-batched ones the most), a launch 4–5. Hence the limits below.
const (
	gemmTiledEdge = 32 // GEMM_TILE: the output tile of a block
	gemmTiledRows = 8  // GEMM_ROWS: blockDim.y
	// gemmTiledMaxK and gemmTiledMaxOutputs bound k (four steps of the
	// tiled kernel) and the outputs m·n·batch of a tiled product.
	gemmTiledMaxK       = 128
	gemmTiledMaxOutputs = 1 << 16
)

// gemmTiledMaxFMAs is the most multiply-adds (m·n·k·batch) of a product
// gemm_tiled_f32 takes, 2²². A variable so that the parity tests can send
// every product to cuBLAS.
var gemmTiledMaxFMAs int64 = 1 << 22

// gemmRoute is how a batch of m×n products over k runs on a device of sms
// multiprocessors: on gemm_tiled_f32 (tiled: small enough by the limits
// above), else split over k into parts chunks when parts > 1
// (gemmSplits), else on cuBLAS whole.
func gemmRoute(m, n, k, batch, sms int) (tiled bool, parts int) {
	outputs := int64(m) * int64(n) * int64(batch)
	if batch <= maxGridY && k <= gemmTiledMaxK && outputs <= gemmTiledMaxOutputs && outputs*int64(k) <= gemmTiledMaxFMAs {
		return true, 1
	}
	return false, gemmSplits(m, n, k, batch, sms)
}

// GEMMs split over k. A GEMM with a small output and a long k leaves most
// of the chip idle when, as cuBLAS's strided-batched SGEMM's times at such
// shapes suggest, each tile of the output gets one block that walks all of
// k: the LSTM's weight gradients (dW_ih = dpreᵀ·x, 4H × E per direction, a
// sum over every time-major row) are 4 tiles of 128 × 128 at H = 64, E =
// 128, and took 59 µs at k = 1,600 (B = 32, T = 50) on the H200, 7% of its
// SGEMM rate, where the input projection of the same FLOPs took 12 µs; the
// dialog model's utterance LSTM sums 14,059 rows a step. Split, the chunks of k run as
// parallel GEMMs into partial outputs that one kernel then sums in order
// (deterministic: the split depends only on the shape and the device).
const (
	gemmTile       = 128 // edge of the output tile assumed of cuBLAS's SGEMM kernels
	splitKMinRows  = 128 // fewest rows of k in a chunk
	splitKMinParts = 4   // fewer chunks than this are not worth the extra launches
	splitKMaxParts = 32
	splitKMaxBatch = 4 // the chunk GEMMs are launched per problem of a batch
)

// gemmSplits is how many chunks of k a batch of m×n GEMMs over k runs in
// on a device of sms multiprocessors: 1 (no split) when the output tiles
// already fill half the device, k is short or the batch large; else as
// many as make about one tile a multiprocessor, chunks of at least
// splitKMinRows.
func gemmSplits(m, n, k, batch, sms int) int {
	tiles := ((m + gemmTile - 1) / gemmTile) * ((n + gemmTile - 1) / gemmTile) * batch
	if batch > splitKMaxBatch || 2*tiles > sms {
		return 1
	}
	parts := min(sms/tiles, k/splitKMinRows, splitKMaxParts)
	if parts < splitKMinParts {
		return 1
	}
	return parts
}

// gemmSplitK computes the row-major C = alpha·op(A)·op(B) + beta·C of
// GemmStridedBatched (checked) with k cut into parts chunks: the first
// parts−1 chunks of ceil(k/parts) rows go, per problem of the batch, to one
// strided-batched GEMM into a scratch of partial outputs; the last chunk
// (the rest of k) goes with the caller's beta straight into C, all problems
// in one GEMM; then gemm_split_sum_f32 adds the partials to C in order.
// That is batch + 2 launches.
func (g *GPU) gemmSplitK(op string, parts int, transA, transB bool, m, n, k int, alpha float32, a *F32, lda, strideA int, b *F32, ldb, strideB int, beta float32, c *F32, ldc, strideC, batch int) {
	// The last chunk is never empty: k ≥ splitKMinRows·parts > parts².
	chunk := (k + parts - 1) / parts
	full := parts - 1
	last := k - full*chunk
	// A chunk of k rows starts chunkA elements further in A (k runs down
	// A's rows when transA, along them otherwise), chunkB in B.
	chunkA, chunkB := chunk, chunk*ldb
	if transA {
		chunkA = chunk * lda
	}
	if transB {
		chunkB = chunk
	}
	plane := m * n
	partials := g.scratch(op, 4*batch*full*plane)
	if partials == 0 {
		return
	}
	offA, offB := full*chunkA, full*chunkB
	if !g.check(op, g.dev.SgemmStridedBatched(transB, transA, n, m, last, alpha,
		ptr(b)+cuda.DevicePtr(4*offB), ldb, strideB, ptr(a)+cuda.DevicePtr(4*offA), lda, strideA,
		beta, ptr(c), ldc, strideC, batch)) {
		return
	}
	for i := range batch {
		if !g.check(op, g.dev.SgemmStridedBatched(transB, transA, n, m, chunk, alpha,
			ptr(b)+cuda.DevicePtr(4*i*strideB), ldb, chunkB, ptr(a)+cuda.DevicePtr(4*i*strideA), lda, chunkA,
			0, partials+cuda.DevicePtr(4*i*full*plane), n, plane, full)) {
			return
		}
	}
	// Launched unprofiled: the caller's profile bracket holds the whole GEMM.
	g.check(op, g.dev.Launch("gemm_split_sum_f32", [3]int{(n + gpuBlock - 1) / gpuBlock, m, batch}, block1D, 0,
		m, n, full, partials, float32(1), ptr(c), ldc, uint64(strideC)))
}

// gemmCheck checks a row-major GEMM's sizes against its buffers; false
// when there is nothing to do or an error was recorded.
func (g *GPU) gemmCheck(op string, transA, transB bool, m, n, k int, alpha float32, a *F32, lda, strideA int, b *F32, ldb, strideB int, c *F32, ldc, strideC, batch int) bool {
	if g.failed() || !g.nonNeg(op, m, n, k, lda, ldb, ldc, strideA, strideB, strideC, batch) {
		return false
	}
	if m == 0 || n == 0 || batch == 0 {
		return false
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	span := func(rows, cols, ld, stride int) int {
		if rows == 0 || cols == 0 {
			return 0
		}
		return satAdd(satMul(batch-1, stride), matLen(rows, cols, ld))
	}
	readAB := k > 0 && alpha != 0 // else A and B are not read, as on the CPU
	if readAB && (!g.ld(op, "lda", lda, ac) || !g.ld(op, "ldb", ldb, bc) ||
		!g.f32(op, "a", a, span(ar, ac, lda, strideA)) || !g.f32(op, "b", b, span(br, bc, ldb, strideB))) {
		return false
	}
	if !g.ld(op, "ldc", ldc, n) || !g.f32(op, "c", c, span(m, n, ldc, strideC)) ||
		!g.fitsInt32(op, m, n, k, lda, ldb, ldc, batch) {
		return false
	}
	return true
}

// ---------------------------------------------------------------- embedding

// EmbeddingForward gathers rows of the vocab×dim table.
func (g *GPU) EmbeddingForward(ids *I32, dim int, pad int32, table, out *F32) {
	const op = "EmbeddingForward"
	n := ids.Len()
	if g.failed() || !g.nonNeg(op, dim) || !g.i32(op, "ids", ids, n) || !g.f32(op, "out", out, satMul(n, dim)) ||
		!g.f32(op, "table", table, 0) {
		return
	}
	if n > 0 && dim == 0 {
		g.failf(op, "dim=0 with %d ids", n) // no table rows to look them up in, as on the CPU
		return
	}
	if n == 0 {
		return
	}
	vocab := table.Len() / dim
	if !g.fitsInt32(op, n, dim, vocab) {
		return
	}
	g.launch(op, "embedding_fwd", [3]int{n, 1, 1}, [3]int{128, 1, 1}, n, dim, vocab, pad, iptr(ids), ptr(table), ptr(out), g.status)
}

// EmbeddingBackward accumulates dout[i,:] into dtable[ids[i],:].
func (g *GPU) EmbeddingBackward(ids *I32, dim int, pad int32, dout, dtable *F32) {
	const op = "EmbeddingBackward"
	n := ids.Len()
	if g.failed() || !g.nonNeg(op, dim) || !g.i32(op, "ids", ids, n) || !g.f32(op, "dout", dout, satMul(n, dim)) ||
		!g.f32(op, "dtable", dtable, 0) {
		return
	}
	if n > 0 && dim == 0 {
		g.failf(op, "dim=0 with %d ids", n)
		return
	}
	if n == 0 {
		return
	}
	vocab := dtable.Len() / dim
	if !g.fitsInt32(op, n, dim, vocab) {
		return
	}
	host, ok := hostI32(ids)
	if !ok {
		g.failf(op, "ids were never uploaded (the backward plans from their host copy)")
		return
	}
	plan, segments, bad := g.embeddingPlan(host, pad, vocab)
	if bad >= 0 {
		g.failf("Embedding", "id %d at position %d outside [0, vocab)", host[bad], bad)
		return
	}
	if segments == 0 || !g.fitsInt32(op, len(plan)) { // the kernel indexes the plan in int32
		return
	}
	p := g.scratch(op, 4*len(plan))
	if p == 0 {
		return
	}
	g.upload(op, p, unsafe.Pointer(&plan[0]), 4*len(plan))
	threads := min(128, (dim+31)/32*32)
	g.launch(op, "embedding_bwd", [3]int{segments, 1, 1}, [3]int{threads, 1, 1}, segments, dim, p, ptr(dout), ptr(dtable))
}

// embeddingPlan sorts the positions of ids by id (a counting sort, stable),
// leaving out pad, into the plan of kernel embedding_bwd: [offsets
// (segments+1) | ids (segments) | positions], one segment per distinct id
// in increasing id order. bad is the first position of an id outside [0,
// vocab), or −1.
func (g *GPU) embeddingPlan(ids []int32, pad int32, vocab int) (plan []int32, segments, bad int) {
	if cap(g.embedCounts) < vocab {
		g.embedCounts = make([]int32, vocab)
	}
	counts := g.embedCounts[:vocab]
	clear(counts)
	positions := 0
	for i, id := range ids {
		if id == pad {
			continue
		}
		if id < 0 || int(id) >= vocab {
			return nil, 0, i
		}
		if counts[id] == 0 {
			segments++
		}
		counts[id]++
		positions++
	}
	size := 2*segments + 1 + positions
	if cap(g.embedPlan) < size {
		g.embedPlan = make([]int32, size)
	}
	plan = g.embedPlan[:size]
	s, off := 0, int32(0)
	for id, c := range counts {
		if c == 0 {
			continue
		}
		plan[s], plan[segments+1+s] = off, int32(id)
		counts[id] = off // from here on, where the id's next position goes
		off += c
		s++
	}
	plan[segments] = off
	pos := plan[2*segments+1:]
	for i, id := range ids {
		if id == pad {
			continue
		}
		pos[counts[id]] = int32(i)
		counts[id]++
	}
	return plan, segments, -1
}

// ---------------------------------------------------------------- sequences

func (g *GPU) seqCheck(op string, batch, steps, feat, dirs int, lengths *I32, ldX, dirCols int, x, y *F32, from bool) bool {
	if g.failed() || !g.nonNeg(op, batch, steps, feat, dirs, ldX, dirCols) {
		return false
	}
	if dirs < 1 || dirs > 2 {
		g.failf(op, "dirs=%d, want 1 or 2", dirs)
		return false
	}
	if from && dirs == 2 && dirCols != 0 && dirCols < feat {
		g.failf(op, "dirCols=%d overlaps the %d features of the other direction", dirCols, feat)
		return false
	}
	if satMul(batch, steps, feat) == 0 {
		return false
	}
	cols := satAdd(satMul(dirs-1, dirCols), feat) // a row of x: dirs runs of feat, dirCols apart
	return g.ld(op, "ldX", ldX, cols) && g.i32(op, "lengths", lengths, batch) &&
		g.f32(op, "x", x, matLen(satMul(batch, steps), cols, ldX)) && g.f32(op, "y", y, satMul(dirs, batch, steps, feat)) &&
		g.fitsInt32(op, batch*steps, feat, ldX)
}

// seqGrid is the launch shape of the sequence kernels (sequence.cu) over
// rows of feat features: ceil(feat/mapUnroll) threads a row, rounded up to
// a warp and at most 128, and as many rows as fill a block of gpuBlock
// threads.
func seqGrid(rows, feat int) (grid, block [3]int) {
	perRow := min(128, (feat+32*mapUnroll-1)/(32*mapUnroll)*32)
	rowsPer := gpuBlock / perRow
	return [3]int{(rows + rowsPer - 1) / rowsPer, 1, 1}, [3]int{perRow, rowsPer, 1}
}

// SequenceToTimeMajor rearranges batch-major x into the time-major y of
// each direction (the second reversing each sequence); padded steps are
// zeros. One launch for every direction.
func (g *GPU) SequenceToTimeMajor(batch, steps, feat, dirs int, x *F32, ldX, dirCols int, lengths *I32, y *F32) {
	const op = "SequenceToTimeMajor"
	if !g.seqCheck(op, batch, steps, feat, dirs, lengths, ldX, dirCols, x, y, false) {
		return
	}
	grid, block := seqGrid(batch*steps, feat)
	grid[1] = dirs
	g.launch(op, "seq_to_time_major", grid, block,
		batch, steps, feat, ptr(x), ldX, dirCols, iptr(lengths), ptr(y), g.status)
}

// SequenceFromTimeMajor writes the time-major y of each direction back into
// batch-major x (the adjoint of SequenceToTimeMajor), in one launch.
func (g *GPU) SequenceFromTimeMajor(batch, steps, feat, dirs int, y *F32, lengths *I32, x *F32, ldX, dirCols int, accumulate bool) {
	const op = "SequenceFromTimeMajor"
	if !g.seqCheck(op, batch, steps, feat, dirs, lengths, ldX, dirCols, x, y, true) {
		return
	}
	grid, block := seqGrid(batch*steps, feat)
	g.launch(op, "seq_from_time_major", grid, block,
		batch, steps, feat, dirs, ptr(y), iptr(lengths), ptr(x), ldX, dirCols, accumulate, g.status)
}

// ---------------------------------------------------------------- LSTM

func (g *GPU) lstmCheck(op string, dirs, steps, batch, hidden, s int, lengths *I32, gates4 []*F32, gates4Names []string, state []*F32, stateNames []string) bool {
	if g.failed() || !g.nonNeg(op, dirs, steps, batch, hidden, s) {
		return false
	}
	if s >= steps {
		g.failf(op, "step s=%d outside [0, %d)", s, steps)
		return false
	}
	if !g.i32(op, "lengths", lengths, batch) {
		return false
	}
	if batch > maxGridY || dirs > maxGridY {
		g.failf(op, "batch=%d or dirs=%d exceeds %d", batch, dirs, maxGridY)
		return false
	}
	n := satMul(dirs, steps, batch, hidden)
	for i, b := range gates4 {
		if !g.f32(op, gates4Names[i], b, satMul(4, n)) {
			return false
		}
	}
	for i, b := range state {
		if !g.f32(op, stateNames[i], b, n) {
			return false
		}
	}
	return dirs*batch*hidden > 0 && g.fitsInt32(op, satMul(4, n))
}

// lstmStepUnits is LSTM_STEP_UNITS (lstm.cu): the most hidden units a
// thread of the LSTM step kernels takes.
const lstmStepUnits = 4

// lstmLaunch is the launch shape of the LSTM step kernels: block x over the
// hidden units, each thread taking units of them (one per 128 units of a
// row, at most lstmStepUnits: fewer threads with more loads in flight each
// where there are many units), grid (ceil(hidden/(block·units)), batch,
// dirs). lstmCheck keeps batch and dirs within the grid's limits.
func lstmLaunch(dirs, batch, hidden int) (grid, block [3]int, units int) {
	bx := min(128, (hidden+31)/32*32)
	units = min(lstmStepUnits, max(1, hidden/128))
	per := bx * units
	return [3]int{(hidden + per - 1) / per, batch, dirs}, [3]int{bx, 1, 1}, units
}

// lstmVectors reports whether the LSTM step can use the kernels that move
// four units at a time in 16-byte accesses (lstm_fwd_step4,
// lstm_bwd_step4): hidden a multiple of 4 and every buffer 16-byte aligned,
// so that every row of every buffer is.
func lstmVectors(hidden int, bufs ...*F32) bool {
	if hidden%4 != 0 {
		return false
	}
	for _, b := range bufs {
		if b.dev%16 != 0 {
			return false
		}
	}
	return true
}

// lstmLaunch4 is the launch shape of lstm_fwd_step4/lstm_bwd_step4: four
// units a thread, up to 128 threads a block, grid (ceil(hidden/(4·block)),
// batch, dirs).
func lstmLaunch4(dirs, batch, hidden int) (grid, block [3]int) {
	bx := min(128, (hidden/4+31)/32*32)
	per := 4 * bx
	return [3]int{(hidden + per - 1) / per, batch, dirs}, [3]int{bx, 1, 1}
}

// LSTMGatesForward is one fused time step s of dirs LSTM directions: one
// launch for all directions.
func (g *GPU) LSTMGatesForward(dirs, steps, batch, hidden, s int, lengths *I32, pre, act, c, h *F32) {
	const op = "LSTMGatesForward"
	if !g.lstmCheck(op, dirs, steps, batch, hidden, s, lengths, []*F32{pre, act}, []string{"pre", "act"}, []*F32{c, h}, []string{"c", "h"}) {
		return
	}
	if lstmVectors(hidden, pre, act, c, h) {
		grid, block := lstmLaunch4(dirs, batch, hidden)
		g.launch(op, "lstm_fwd_step4", grid, block,
			dirs, steps, batch, hidden, s, iptr(lengths), ptr(pre), ptr(act), ptr(c), ptr(h), g.status)
		return
	}
	grid, block, units := lstmLaunch(dirs, batch, hidden)
	g.launch(op, "lstm_fwd_step", grid, block,
		dirs, steps, batch, hidden, s, units, iptr(lengths), ptr(pre), ptr(act), ptr(c), ptr(h), g.status)
}

// LSTMGatesBackward is step s of backpropagation through time.
func (g *GPU) LSTMGatesBackward(dirs, steps, batch, hidden, s int, lengths *I32, act, c, dh, dc, dpre *F32) {
	const op = "LSTMGatesBackward"
	if !g.lstmCheck(op, dirs, steps, batch, hidden, s, lengths, []*F32{act, dpre}, []string{"act", "dpre"}, []*F32{c, dh, dc}, []string{"c", "dh", "dc"}) {
		return
	}
	if lstmVectors(hidden, act, c, dh, dc, dpre) {
		grid, block := lstmLaunch4(dirs, batch, hidden)
		g.launch(op, "lstm_bwd_step4", grid, block,
			dirs, steps, batch, hidden, s, iptr(lengths), ptr(act), ptr(c), ptr(dh), ptr(dc), ptr(dpre), g.status)
		return
	}
	grid, block, units := lstmLaunch(dirs, batch, hidden)
	g.launch(op, "lstm_bwd_step", grid, block,
		dirs, steps, batch, hidden, s, units, iptr(lengths), ptr(act), ptr(c), ptr(dh), ptr(dc), ptr(dpre), g.status)
}

// Limits of the whole-sequence kernels (lstm.cu).
const (
	lstmSeqRows   = 4    // LSTM_SEQ_ROWS
	lstmSeqShared = 4096 // LSTM_SEQ_SHARED floats: rows·4·hidden
	// lstmSeqMaxThreads is LSTM_SEQ_MAX_THREADS, the kernels'
	// __launch_bounds__; a thread takes up to LSTM_SEQ_SLICES = 4 columns
	// of the weights, so hidden ≤ lstmSeqMaxThreads.
	lstmSeqMaxThreads = 512
	lstmSeqMaxHidden  = lstmSeqMaxThreads
	// smRegisters is the 32-bit registers of a multiprocessor (sm_80 and
	// sm_90), lstmSeqRegisters the most a thread of the sequence kernels
	// uses (their launch bounds allow 128; cuobjdump: 128).
	smRegisters      = 65536
	lstmSeqRegisters = 128
	// lstmSeqRegRows is LSTM_SEQ_REG_ROWS, the most rows a block of
	// lstm_seq_fwd_regs/lstm_seq_bwd_regs takes.
	lstmSeqRegRows = 3
)

// lstmSeqRegHidden is LSTM_SEQ_REG_HIDDEN: up to this hidden size the
// sequence kernels hold their weights in registers (lstm_seq_fwd_regs,
// lstm_seq_bwd_regs); lstmSeqDeepHidden is LSTM_SEQ_DEEP_HIDDEN: up to
// this one they load 32 weights ahead (lstm_seq_fwd_deep,
// lstm_seq_bwd_deep). Variables so that tests can compare the kernels.
var lstmSeqRegHidden, lstmSeqDeepHidden = 64, 128

// lstmSeqKernel is the sequence kernel for hidden: base, or its _regs or
// _deep form.
func lstmSeqKernel(base string, hidden int) string {
	switch {
	case hidden <= lstmSeqRegHidden:
		return base + "_regs"
	case hidden <= lstmSeqDeepHidden:
		return base + "_deep"
	}
	return base
}

// lstmSeqLaunch is the launch shape of lstm_seq_fwd/bwd on a device of sms
// multiprocessors: a block of 4·hidden threads (one per column of the
// recurrent weights) rounded up to 32, at most lstmSeqMaxThreads, owns all
// the units of its rows. A block runs every step of its rows, so a second
// wave of blocks would double the kernel's time: the rows per block are
// the fewest that fit every block in one wave (registers bound how many
// blocks a multiprocessor holds), up to what shared memory and
// lstmSeqRows allow. At B = 320, H = 64, both directions (the dialog
// model's utterances), one row a block made 640 blocks for 264 places.
func lstmSeqLaunch(dirs, batch, hidden, sms int) (grid, block [3]int, rows int) {
	threads := min((4*hidden+31)/32*32, lstmSeqMaxThreads)
	places := max(1, sms) * max(1, smRegisters/(threads*lstmSeqRegisters))
	most := lstmSeqRows
	if hidden <= lstmSeqRegHidden {
		most = lstmSeqRegRows
	}
	rows = max(1, min(most, lstmSeqShared/(4*hidden), (batch*dirs+places-1)/places))
	return [3]int{(batch + rows - 1) / rows, dirs, 1}, [3]int{threads, 1, 1}, rows
}

// lstmSequenceCheck checks a whole-sequence op: the buffers of its steps,
// the recurrent weights, and that a block can own every unit and one row
// fits the kernel's shared memory. ok is false when there is nothing to do
// or an error was recorded.
func (g *GPU) lstmSequenceCheck(op string, dirs, steps, batch, hidden int, lengths *I32, w *F32, wName string, ldDir int,
	gates4 []*F32, gates4Names []string, state []*F32, stateNames []string) bool {
	if g.failed() || !g.nonNeg(op, dirs, steps, batch, hidden, ldDir) || steps == 0 {
		return false
	}
	if !g.lstmCheck(op, dirs, steps, batch, hidden, 0, lengths, gates4, gates4Names, state, stateNames) {
		return false
	}
	per := satMul(4, hidden, hidden)
	wLen := satAdd(satMul(dirs-1, ldDir), per)
	if !g.ld(op, "ldDir", ldDir, per) || !g.f32(op, wName, w, wLen) || !g.fitsInt32(op, wLen) {
		return false
	}
	if hidden > lstmSeqMaxHidden {
		g.failf(op, "hidden=%d is too large for the sequence kernel (a block owns every unit of its rows, at most %d)", hidden, lstmSeqMaxHidden)
		return false
	}
	return true
}

// LSTMSequenceForward runs every forward step of an LSTM pass in one
// launch (lstm_seq_fwd).
func (g *GPU) LSTMSequenceForward(dirs, steps, batch, hidden int, lengths *I32, whhT *F32, ldDir int, pre, act, c, h *F32) {
	const op = "LSTMSequenceForward"
	if !g.lstmSequenceCheck(op, dirs, steps, batch, hidden, lengths, whhT, "whhT", ldDir,
		[]*F32{pre, act}, []string{"pre", "act"}, []*F32{c, h}, []string{"c", "h"}) {
		return
	}
	grid, block, rows := lstmSeqLaunch(dirs, batch, hidden, g.sms)
	g.launch(op, lstmSeqKernel("lstm_seq_fwd", hidden), grid, block,
		dirs, steps, batch, hidden, rows, iptr(lengths), ptr(whhT), ldDir, ptr(pre), ptr(act), ptr(c), ptr(h), g.status)
}

// LSTMSequenceBackward runs every backward step of an LSTM pass in one
// launch (lstm_seq_bwd).
func (g *GPU) LSTMSequenceBackward(dirs, steps, batch, hidden int, lengths *I32, whh *F32, ldDir int, act, c, dh, dc, dpre *F32) {
	const op = "LSTMSequenceBackward"
	state, names := []*F32{c, dh}, []string{"c", "dh"}
	if dc != nil { // nil: the kernel starts from a zero gradient of c
		state, names = append(state, dc), append(names, "dc")
	}
	if !g.lstmSequenceCheck(op, dirs, steps, batch, hidden, lengths, whh, "whh", ldDir,
		[]*F32{act, dpre}, []string{"act", "dpre"}, state, names) {
		return
	}
	grid, block, rows := lstmSeqLaunch(dirs, batch, hidden, g.sms)
	g.launch(op, lstmSeqKernel("lstm_seq_bwd", hidden), grid, block,
		dirs, steps, batch, hidden, rows, iptr(lengths), ptr(whh), ldDir, ptr(act), ptr(c), ptr(dh), ptr(dc), ptr(dpre), g.status)
}

// ---------------------------------------------------------------- heads

// SplitHeads rearranges x [batch, steps, parts·heads·dim] into y [parts,
// batch, heads, steps, dim] (split_heads).
func (g *GPU) SplitHeads(batch, steps, parts, heads, dim int, x, y *F32) {
	g.heads("SplitHeads", batch, steps, parts, heads, dim, x, y, false)
}

// MergeHeads is SplitHeads' inverse: y back into x.
func (g *GPU) MergeHeads(batch, steps, parts, heads, dim int, y, x *F32) {
	g.heads("MergeHeads", batch, steps, parts, heads, dim, x, y, true)
}

// heads launches split_heads: a block per row (b, t) of x.
func (g *GPU) heads(op string, batch, steps, parts, heads, dim int, x, y *F32, merge bool) {
	if g.failed() || !g.nonNeg(op, batch, steps, parts, heads, dim) {
		return
	}
	n := satMul(batch, steps, parts, heads, dim)
	// A thread's column steps by the block's 128 threads: the row and that
	// step must fit the kernel's int (the last step past the row included).
	if !g.f32(op, "x", x, n) || !g.f32(op, "y", y, n) || n == 0 || !g.fitsInt32(op, batch, satAdd(satMul(parts, heads, dim), 128)) {
		return
	}
	if steps > maxGridY {
		g.failf(op, "steps=%d exceeds the grid limit %d", steps, maxGridY)
		return
	}
	g.launch(op, "split_heads", [3]int{batch, steps, 1}, [3]int{128, 1, 1}, batch, steps, parts, heads, dim, ptr(x), ptr(y), merge)
}

// ---------------------------------------------------------------- softmax

func (g *GPU) softmaxCheck(op string, rows, cols int, lengths *I32, rowsPerLength int, bufs []*F32, names []string) bool {
	if g.failed() || !g.nonNeg(op, rows, cols) || satMul(rows, cols) == 0 {
		return false
	}
	if lengths != nil {
		if rowsPerLength <= 0 {
			g.failf(op, "rowsPerLength=%d must be positive", rowsPerLength)
			return false
		}
		if !g.i32(op, "lengths", lengths, ceilDiv(rows, rowsPerLength)) {
			return false
		}
	}
	for i, b := range bufs {
		if !g.f32(op, names[i], b, satMul(rows, cols)) {
			return false
		}
	}
	return g.fitsInt32(op, rows*cols)
}

// SoftmaxForward computes y = softmax(scale·x) row by row over each row's
// first lengths[r/rowsPerLength] columns.
func (g *GPU) SoftmaxForward(rows, cols int, scale float32, lengths *I32, rowsPerLength int, x, y *F32) {
	const op = "SoftmaxForward"
	if !g.softmaxCheck(op, rows, cols, lengths, rowsPerLength, []*F32{x, y}, []string{"x", "y"}) {
		return
	}
	g.launch(op, "softmax_fwd", [3]int{(rows + softmaxBlockRows - 1) / softmaxBlockRows, 1, 1}, [3]int{128, 1, 1},
		rows, cols, scale, iptr(lengths), max(rowsPerLength, 1), ptr(x), ptr(y), g.status)
}

// SoftmaxBackward computes dx = scale·y·(dy − Σ y·dy) row by row.
func (g *GPU) SoftmaxBackward(rows, cols int, scale float32, lengths *I32, rowsPerLength int, y, dy, dx *F32) {
	const op = "SoftmaxBackward"
	if !g.softmaxCheck(op, rows, cols, lengths, rowsPerLength, []*F32{y, dy, dx}, []string{"y", "dy", "dx"}) {
		return
	}
	g.launch(op, "softmax_bwd", [3]int{(rows + softmaxBlockRows - 1) / softmaxBlockRows, 1, 1}, [3]int{128, 1, 1},
		rows, cols, scale, iptr(lengths), max(rowsPerLength, 1), ptr(y), ptr(dy), ptr(dx), g.status)
}

// ---------------------------------------------------------------- loss

// CrossEntropy is class-weighted softmax cross-entropy, loss and gradient
// in one kernel (see Backend).
func (g *GPU) CrossEntropy(n, classes int, smoothing float32, logits *F32, labels *I32, weights, loss, dlogits, probs *F32) {
	const op = "CrossEntropy"
	if g.failed() || !g.nonNeg(op, n, classes) {
		return
	}
	if !(smoothing >= 0 && smoothing < 1) {
		g.failf(op, "label smoothing %g outside [0, 1)", smoothing)
		return
	}
	if classes == 0 {
		g.failf(op, "classes must be positive")
		return
	}
	nc := satMul(n, classes)
	if !g.f32(op, "logits", logits, nc) || !g.i32(op, "labels", labels, n) || !g.f32(op, "loss", loss, 1) {
		return
	}
	if weights != nil && !g.f32(op, "weights", weights, classes) {
		return
	}
	if dlogits != nil && !g.f32(op, "dlogits", dlogits, nc) {
		return
	}
	if probs != nil && !g.f32(op, "probs", probs, nc) {
		return
	}
	if !g.fitsInt32(op, nc) {
		return
	}
	// vec4: 4 classes and every buffer 16-byte aligned, so the kernel
	// moves each row in one access (a nil buffer is not touched).
	vec4 := classes == 4
	for _, b := range []*F32{logits, weights, dlogits, probs} {
		if b != nil && b.dev%16 != 0 {
			vec4 = false
		}
	}
	g.launch(op, "cross_entropy", [3]int{1, 1, 1}, [3]int{512, 1, 1},
		n, classes, vec4, smoothing, ptr(logits), iptr(labels), ptr(weights), ptr(loss), ptr(dlogits), ptr(probs), g.status)
}

// ---------------------------------------------------------------- pooling

// MeanPool averages x [batch, steps, feat] over each sequence's length into
// y (row stride ldY).
func (g *GPU) MeanPool(batch, steps, feat int, lengths *I32, x, y *F32, ldY int) {
	const op = "MeanPool"
	if g.failed() || !g.nonNeg(op, batch, steps, feat, ldY) || batch == 0 || feat == 0 {
		return
	}
	if !g.ld(op, "ldY", ldY, feat) || !g.i32(op, "lengths", lengths, batch) ||
		!g.f32(op, "x", x, satMul(batch, steps, feat)) || !g.f32(op, "y", y, matLen(batch, feat, ldY)) ||
		!g.fitsInt32(op, batch*steps*feat, ldY) {
		return
	}
	if batch > maxGridY {
		g.failf(op, "batch=%d exceeds %d", batch, maxGridY)
		return
	}
	g.launch(op, "mean_pool_fwd", [3]int{(feat + 127) / 128, batch, 1}, [3]int{128, 1, 1},
		batch, steps, feat, iptr(lengths), ptr(x), ptr(y), ldY, g.status)
}

// MeanPoolBackward writes dx from dy (row stride ldDY).
func (g *GPU) MeanPoolBackward(batch, steps, feat int, lengths *I32, dy *F32, ldDY int, dx *F32) {
	const op = "MeanPoolBackward"
	if g.failed() || !g.nonNeg(op, batch, steps, feat, ldDY) || satMul(batch, steps, feat) == 0 {
		return
	}
	if !g.ld(op, "ldDY", ldDY, feat) || !g.i32(op, "lengths", lengths, batch) ||
		!g.f32(op, "dy", dy, matLen(batch, feat, ldDY)) || !g.f32(op, "dx", dx, satMul(batch, steps, feat)) ||
		!g.fitsInt32(op, batch*steps*feat, ldDY) {
		return
	}
	if batch > maxGridY || steps > maxGridY {
		g.failf(op, "batch=%d or steps=%d exceeds %d", batch, steps, maxGridY)
		return
	}
	g.launch(op, "mean_pool_bwd", [3]int{(feat + 127) / 128, steps, batch}, [3]int{128, 1, 1},
		batch, steps, feat, iptr(lengths), ptr(dy), ldDY, ptr(dx), g.status)
}

// ---------------------------------------------------------------- optimiser

// AdamStep updates one parameter in place, fused over its elements.
func (g *GPU) AdamStep(p AdamParams, param, grad, m, v *F32) {
	const op = "AdamStep"
	n := param.Len()
	if g.failed() || !g.f32(op, "param", param, n) || !g.f32(op, "grad", grad, n) || !g.f32(op, "m", m, n) ||
		!g.f32(op, "v", v, n) {
		return
	}
	if p.Step < 1 { // even with nothing to step, as on the CPU
		g.failf(op, "step %d must be 1-based", p.Step)
		return
	}
	if n == 0 || !g.fitsInt32(op, n) {
		return
	}
	// The constants as the CPU backend (and torch.optim.Adam) computes them.
	t := float64(p.Step)
	bc1 := 1 - math.Pow(float64(p.Beta1), t)
	bc2 := 1 - math.Pow(float64(p.Beta2), t)
	wd, decay := p.WeightDecay, float32(1)
	if p.Decoupled {
		wd, decay = 0, 1-p.LR*p.WeightDecay
	}
	g.launch(op, "adam_step", gridMap1D(n), block1D, n, p.Beta1, p.Beta2, p.Eps, wd, decay,
		float32(float64(p.LR)/bc1), float32(math.Sqrt(bc2)), p.ZeroGrad, ptr(param), ptr(grad), ptr(m), ptr(v))
}
