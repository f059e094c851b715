//go:build cuda && !cudaemu

package cuda

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"gorgonia.org/cu"
)

// Device is a CUDA GPU. Every driver and cuBLAS call runs on the calling
// goroutine's OS thread, locked to it for the call, with the device's
// primary context made current first; calls are serialised by a mutex, so
// callers may be any goroutines. Every call is checked and its error names
// the call and its arguments.
//
// An earlier version ran every call on one dedicated, locked OS thread fed
// by a channel: on the H200 machine that cost about 25 µs per call (two
// thread wake-ups), more than most kernels run, and made training
// host-bound. cuCtxSetCurrent is a thread-local store.
type Device struct {
	ordinal int
	name    string
	sms     int // streaming multiprocessors

	mu      sync.Mutex // held for each call; guards everything below
	dev     cu.Device
	ctx     cu.CUContext
	mod     cu.Module
	fns     map[string]cu.Function
	streams [2]cu.Stream
	blas    *blasHandle
	closed  bool
	// dependent: kernels are launched with programmatic dependent launch
	// (see DependentLaunch); canDepend: the device has it.
	dependent, canDepend bool

	launches atomic.Int64 // kernels and GEMMs issued
}

// Event marks a point in a stream's work.
type Event struct{ ev cu.Event }

// Emulated reports whether this build's Device is the CPU emulation.
const Emulated = false

// Open opens device ordinal: it retains the device's primary context, loads
// the embedded kernels, creates the compute and copy streams and a cuBLAS
// handle on the compute stream.
func Open(ordinal int) (*Device, error) {
	d := &Device{ordinal: ordinal, fns: map[string]cu.Function{}}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var undo []func()
	if err := d.setup(&undo); err != nil {
		// What setup made is released, newest first: a program that falls
		// back to the CPU keeps no context, module, streams or handle.
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
		return nil, fmt.Errorf("cuda: open device %d: %w", ordinal, err)
	}
	return d, nil
}

// setup makes the device's context, module, streams and cuBLAS handle,
// adding to undo how to release each as it is made.
func (d *Device) setup(undo *[]func()) error {
	var err error
	if d.dev, err = cu.GetDevice(d.ordinal); err != nil {
		return fmt.Errorf("cuDeviceGet(%d): %w", d.ordinal, err)
	}
	if d.name, err = d.dev.Name(); err != nil {
		return fmt.Errorf("cuDeviceGetName: %w", err)
	}
	if d.sms, err = d.dev.Attribute(cu.MultiprocessorCount); err != nil {
		return fmt.Errorf("cuDeviceGetAttribute(MULTIPROCESSOR_COUNT): %w", err)
	}
	major, err := d.dev.Attribute(cu.ComputeCapabilityMajor)
	if err != nil {
		return fmt.Errorf("cuDeviceGetAttribute(COMPUTE_CAPABILITY_MAJOR): %w", err)
	}
	d.canDepend = major >= dependentLaunchMajor
	d.dependent = d.canDepend
	if d.ctx, err = d.dev.RetainPrimaryCtx(); err != nil {
		return fmt.Errorf("cuDevicePrimaryCtxRetain: %w", err)
	}
	*undo = append(*undo, func() { _ = d.dev.ReleasePrimaryCtx() })
	if err = cu.SetCurrentContext(d.ctx); err != nil {
		return fmt.Errorf("cuCtxSetCurrent: %w", err)
	}
	if len(fatbin) == 0 {
		return errors.New("the embedded kernels.fatbin is empty: build it with cmake first")
	}
	if d.mod, err = cu.LoadData(fatbin); err != nil {
		return fmt.Errorf("cuModuleLoadData(kernels.fatbin, %d bytes): %w (is the GPU an sm_80 or newer?)", len(fatbin), err)
	}
	*undo = append(*undo, func() { _ = d.mod.Unload() })
	for i := range d.streams {
		if d.streams[i], err = cu.MakeStream(cu.NonBlocking); err != nil {
			return fmt.Errorf("cuStreamCreate: %w", err)
		}
		*undo = append(*undo, func() { _ = d.streams[i].Destroy() })
	}
	if d.blas, err = newBlas(d.rawStream(Compute)); err != nil {
		return err
	}
	return nil
}

// rawStream is s's CUstream handle, for cuBLAS.
func (d *Device) rawStream(s Stream) unsafe.Pointer {
	return *(*unsafe.Pointer)(unsafe.Pointer(&d.streams[s]))
}

// do runs f with the device's context current on this OS thread, which
// stays locked to the goroutine until f returns.
func (d *Device) do(f func() error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errors.New("cuda: device is closed")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cu.SetCurrentContext(d.ctx); err != nil {
		return fmt.Errorf("cuCtxSetCurrent: %w", err)
	}
	return f()
}

// DependentLaunch reports whether kernels are launched with programmatic
// dependent launch: each kernel may begin while the kernel before it on
// the stream still runs and waits for it in its first statement
// (GRID_DEPENDENCY_SYNC in package kernels), so that the launch of one
// overlaps the run of the other. Open turns it on where the device has it
// (compute capability 9.0, Hopper, and newer); it turns itself off for good
// if the driver refuses a launch with it that it takes without. cuBLAS's
// GEMMs, copies and events keep the plain stream order.
func (d *Device) DependentLaunch() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dependent
}

// SetDependentLaunch turns programmatic dependent launch on or off for the
// launches that follow (see DependentLaunch). Turning it on is an error on
// a device older than compute capability 9.0.
func (d *Device) SetDependentLaunch(on bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if on && !d.canDepend {
		return fmt.Errorf("cuda: %s has no programmatic dependent launch (it needs compute capability %d.0 or newer and a driver that takes it)", d.name, dependentLaunchMajor)
	}
	d.dependent = on
	return nil
}

// Name is the device's name, as "NVIDIA H100 80GB HBM3".
func (d *Device) Name() string { return d.name }

// Multiprocessors is the device's count of streaming multiprocessors (132
// on an H100 SXM or H200), which launch shapes size whole waves by.
func (d *Device) Multiprocessors() int { return d.sms }

// Close waits for the device, destroys the streams, the cuBLAS handle and
// the module and releases the primary context. Memory still allocated is
// freed with the context.
func (d *Device) Close() error {
	// One lock over the check, the teardown and the mark, as the emulated
	// device's Close: two Closes must not both release the primary
	// context, and no op may run on a device half torn down.
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed { // a second Close is a no-op, as the emulated device's
		return nil
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cu.SetCurrentContext(d.ctx); err != nil {
		return fmt.Errorf("cuda: close: cuCtxSetCurrent: %w", err) // nothing released: Close may be tried again
	}
	d.closed = true
	errs := []error{wrap("cuCtxSynchronize", cu.Synchronize()), wrap("cublasDestroy", d.blas.destroy())}
	for i := range d.streams {
		errs = append(errs, wrap("cuStreamDestroy", d.streams[i].Destroy()))
	}
	errs = append(errs, wrap("cuModuleUnload", d.mod.Unload()), wrap("cuDevicePrimaryCtxRelease", d.dev.ReleasePrimaryCtx()))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cuda: close: %w", err)
	}
	return nil
}

func wrap(call string, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", call, err)
	}
	return nil
}

// MemInfo returns the free and total device memory in bytes.
func (d *Device) MemInfo() (free, total int, err error) {
	err = d.do(func() error {
		f, t, err := cu.MemInfo()
		free, total = int(f), int(t)
		return wrap("cuMemGetInfo", err)
	})
	return free, total, err
}

// Malloc allocates bytes of device memory (contents undefined). Running out
// of memory is an error wrapping ErrOutOfMemory.
func (d *Device) Malloc(bytes int) (DevicePtr, error) {
	if bytes <= 0 {
		return 0, fmt.Errorf("cuda: malloc of %d bytes", bytes)
	}
	var p cu.DevicePtr
	err := d.do(func() error {
		var err error
		p, err = cu.MemAlloc(int64(bytes))
		return err
	})
	if err != nil {
		if errors.Is(err, cu.OutOfMemory) {
			return 0, fmt.Errorf("cuda: cuMemAlloc(%d): %w", bytes, ErrOutOfMemory)
		}
		return 0, fmt.Errorf("cuda: cuMemAlloc(%d): %w", bytes, err)
	}
	return DevicePtr(p), nil
}

// Free frees an allocation of Malloc.
func (d *Device) Free(p DevicePtr) error {
	if err := d.do(func() error { return cu.MemFree(cu.DevicePtr(p)) }); err != nil {
		return fmt.Errorf("cuda: cuMemFree(%#x): %w", uintptr(p), err)
	}
	return nil
}

// MallocHost allocates page-locked host memory for asynchronous copies.
func (d *Device) MallocHost(bytes int) ([]byte, error) {
	if bytes <= 0 {
		return nil, fmt.Errorf("cuda: host malloc of %d bytes", bytes)
	}
	var p unsafe.Pointer
	err := d.do(func() error {
		var err error
		p, err = hostAlloc(bytes)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("cuda: %w", err)
	}
	return unsafe.Slice((*byte)(p), bytes), nil
}

// HostDevicePtr is the address through which kernels read and write b,
// memory of MallocHost (page-locked, so the GPU reaches it over the bus:
// each access is a round trip to the host, fit for a flag, not for data).
func (d *Device) HostDevicePtr(b []byte) (DevicePtr, error) {
	if len(b) == 0 {
		return 0, errors.New("cuda: device address of empty host memory")
	}
	var p DevicePtr
	err := d.do(func() error {
		var err error
		p, err = hostDevicePtr(unsafe.Pointer(&b[0]))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("cuda: %w", err)
	}
	return p, nil
}

// FreeHost frees memory of MallocHost.
func (d *Device) FreeHost(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if err := d.do(func() error { return hostFree(unsafe.Pointer(&b[0])) }); err != nil {
		return fmt.Errorf("cuda: %w", err)
	}
	return nil
}

// MemcpyHtoD copies bytes from host memory src to device memory dst on
// stream s. src must stay valid until the copy completes (at once for
// pageable memory; at the stream's next synchronisation for MallocHost's).
func (d *Device) MemcpyHtoD(dst DevicePtr, src unsafe.Pointer, bytes int, s Stream) error {
	if bytes == 0 {
		return nil
	}
	if err := d.do(func() error {
		return cu.MemcpyHtoDAsync(cu.DevicePtr(dst), src, int64(bytes), d.streams[s])
	}); err != nil {
		return fmt.Errorf("cuda: cuMemcpyHtoDAsync(%#x, %d bytes, %v stream): %w", uintptr(dst), bytes, s, err)
	}
	return nil
}

// MemcpyDtoH copies bytes from device memory src to host memory dst on
// stream s; it returns when the copy is done for pageable dst.
func (d *Device) MemcpyDtoH(dst unsafe.Pointer, src DevicePtr, bytes int, s Stream) error {
	if bytes == 0 {
		return nil
	}
	if err := d.do(func() error {
		return cu.MemcpyDtoHAsync(dst, cu.DevicePtr(src), int64(bytes), d.streams[s])
	}); err != nil {
		return fmt.Errorf("cuda: cuMemcpyDtoHAsync(%#x, %d bytes, %v stream): %w", uintptr(src), bytes, s, err)
	}
	return nil
}

// MemcpyDtoD copies bytes between device buffers on stream s.
func (d *Device) MemcpyDtoD(dst, src DevicePtr, bytes int, s Stream) error {
	if bytes == 0 {
		return nil
	}
	if err := d.do(func() error {
		return cu.MemcpyDtoDAsync(cu.DevicePtr(dst), cu.DevicePtr(src), int64(bytes), d.streams[s])
	}); err != nil {
		return fmt.Errorf("cuda: cuMemcpyDtoDAsync(%#x ← %#x, %d bytes): %w", uintptr(dst), uintptr(src), bytes, err)
	}
	return nil
}

// MemsetD32 sets n 32-bit words at p to v on stream s.
func (d *Device) MemsetD32(p DevicePtr, v uint32, n int, s Stream) error {
	if n == 0 {
		return nil
	}
	if err := d.do(func() error {
		return cu.MemsetD32Async(cu.DevicePtr(p), uint(v), int64(n), d.streams[s])
	}); err != nil {
		return fmt.Errorf("cuda: cuMemsetD32Async(%#x, %#x, %d words): %w", uintptr(p), v, n, err)
	}
	return nil
}

// Launch runs kernel on the compute stream over grid blocks of block
// threads with shared bytes of dynamic shared memory. args are int, int32,
// uint32, bool, uint64, float32 or DevicePtr, in the kernel's order.
func (d *Device) Launch(kernel string, grid, block [3]int, shared int, args ...any) error {
	d.launches.Add(1)
	if err := checkShape(grid, block, shared); err != nil {
		return launchError(kernel, grid, block, shared, args, err)
	}
	enc, err := encodeArgs(args)
	if err != nil {
		return launchError(kernel, grid, block, shared, args, err)
	}
	var words [maxKernelArgs]uint64
	if len(enc) > len(words) {
		return launchError(kernel, grid, block, shared, args, fmt.Errorf("%d arguments, more than the %d a launch takes", len(enc), len(words)))
	}
	vals := words[:len(enc)]
	for i, a := range enc {
		vals[i] = a.bits
	}
	err = d.do(func() error {
		fn, ok := d.fns[kernel]
		if !ok {
			var err error
			if fn, err = d.mod.Function(kernel); err != nil {
				return fmt.Errorf("cuModuleGetFunction: %w", err)
			}
			d.fns[kernel] = fn
		}
		call := "cuLaunchKernel"
		if d.dependent {
			call = "cuLaunchKernelEx (programmatic dependent launch)"
		}
		return wrap(call, d.launch(fn, grid, block, shared, vals))
	})
	if err != nil {
		return launchError(kernel, grid, block, shared, args, err)
	}
	return nil
}

// Sgemm is cublasSgemm on the compute stream: column-major C (m×n) =
// alpha·op(A)·op(B) + beta·C, op(A) m×k, op(B) k×n; C is not read when beta
// is 0.
func (d *Device) Sgemm(transA, transB bool, m, n, k int, alpha float32, a DevicePtr, lda int, b DevicePtr, ldb int, beta float32, c DevicePtr, ldc int) error {
	d.launches.Add(1)
	if err := d.do(func() error {
		return d.blas.gemm(transA, transB, m, n, k, alpha, a, lda, 0, b, ldb, 0, beta, c, ldc, 0, 1)
	}); err != nil {
		return fmt.Errorf("cuda: cublasSgemm %s: %w", gemmShape(transA, transB, m, n, k, lda, ldb, ldc), err)
	}
	return nil
}

// SgemmStridedBatched is cublasSgemmStridedBatched on the compute stream:
// Sgemm over batch problems, problem i at element offsets i·stride.
func (d *Device) SgemmStridedBatched(transA, transB bool, m, n, k int, alpha float32, a DevicePtr, lda, strideA int, b DevicePtr, ldb, strideB int, beta float32, c DevicePtr, ldc, strideC, batch int) error {
	d.launches.Add(1)
	if err := d.do(func() error {
		return d.blas.gemm(transA, transB, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, c, ldc, strideC, batch)
	}); err != nil {
		return fmt.Errorf("cuda: cublasSgemmStridedBatched %s batch=%d: %w", gemmShape(transA, transB, m, n, k, lda, ldb, ldc), batch, err)
	}
	return nil
}

// NewEvent creates an event (without timing).
func (d *Device) NewEvent() (*Event, error) { return d.newEvent(cu.DisableTiming, "cuEventCreate") }

// NewTimingEvent creates an event that records when the stream reached
// it, for Elapsed.
func (d *Device) NewTimingEvent() (*Event, error) {
	return d.newEvent(cu.DefaultEvent, "cuEventCreate(timing)")
}

// newEvent creates an event with flags; call names the driver call in an
// error.
func (d *Device) newEvent(flags cu.EventFlags, call string) (*Event, error) {
	e := &Event{}
	if err := d.do(func() error {
		var err error
		e.ev, err = cu.MakeEvent(flags)
		return err
	}); err != nil {
		return nil, fmt.Errorf("cuda: %s: %w", call, err)
	}
	return e, nil
}

// Elapsed is the device time between two recorded, completed timing
// events (about half a microsecond of resolution).
func (d *Device) Elapsed(start, end *Event) (time.Duration, error) {
	var ms float64
	if err := d.do(func() error {
		var err error
		ms, err = start.ev.Elapsed(end.ev)
		return err
	}); err != nil {
		return 0, fmt.Errorf("cuda: cuEventElapsedTime: %w", err)
	}
	return time.Duration(ms * float64(time.Millisecond)), nil
}

// DestroyEvent destroys e.
func (d *Device) DestroyEvent(e *Event) error {
	if err := d.do(func() error { return cu.DestroyEvent(&e.ev) }); err != nil {
		return fmt.Errorf("cuda: cuEventDestroy: %w", err)
	}
	return nil
}

// Record marks e at the current end of stream s's work.
func (d *Device) Record(e *Event, s Stream) error {
	if err := d.do(func() error { return e.ev.Record(d.streams[s]) }); err != nil {
		return fmt.Errorf("cuda: cuEventRecord(%v stream): %w", s, err)
	}
	return nil
}

// StreamWait makes stream s wait for e's work before its later work.
func (d *Device) StreamWait(s Stream, e *Event) error {
	if err := d.do(func() error { return d.streams[s].Wait(e.ev, 0) }); err != nil {
		return fmt.Errorf("cuda: cuStreamWaitEvent(%v stream): %w", s, err)
	}
	return nil
}

// EventSynchronize waits until e's work is done.
func (d *Device) EventSynchronize(e *Event) error {
	if err := d.do(func() error { return e.ev.Synchronize() }); err != nil {
		return fmt.Errorf("cuda: cuEventSynchronize: %w", err)
	}
	return nil
}

// StreamSynchronize waits for all work issued on s; an asynchronous error
// of an earlier launch surfaces here.
func (d *Device) StreamSynchronize(s Stream) error {
	if err := d.do(func() error { return d.streams[s].Synchronize() }); err != nil {
		return fmt.Errorf("cuda: cuStreamSynchronize(%v stream): %w", s, err)
	}
	return nil
}

// Synchronize waits for all work on the device.
func (d *Device) Synchronize() error {
	if err := d.do(cu.Synchronize); err != nil {
		return fmt.Errorf("cuda: cuCtxSynchronize: %w", err)
	}
	return nil
}

// Launches is the number of kernel launches and GEMMs issued so far.
func (d *Device) Launches() int64 { return d.launches.Load() }
