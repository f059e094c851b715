package host

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
)

// CPU is the pure-Go reference backend. Every op runs to completion before it
// returns, on the calling goroutine and, when the op is large enough to pay,
// on a small persistent pool of helper goroutines. Results are bit-identical
// for any number of threads: work is cut into pieces whose boundaries depend
// only on the sizes of the op, and reductions combine their partial results
// in a fixed order.
//
// Like a GPU stream, a CPU is driven by one goroutine at a time: ops must not
// be issued concurrently. Alloc, Free, Err and Sync may be called from any
// goroutine.
type CPU struct {
	threads     int
	name        string
	pool        cpuPool
	work        *cpuWorkers
	gemmScratch []gemmScratch // per worker
	gemmJob     gemmArgs      // the GEMM being computed

	mu  sync.Mutex
	err error // first error, sticky

	partials []float32 // reduction scratch
}

var _ Backend = (*CPU)(nil)

// NewCPU returns a CPU backend that computes on threads goroutines (the
// calling one included); threads ≤ 0 means runtime.GOMAXPROCS(0). Its helper
// goroutines stop when the CPU is garbage collected.
func NewCPU(threads int) *CPU {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	c := &CPU{
		threads:     threads,
		name:        cpuName(threads),
		work:        newCPUWorkers(threads),
		gemmScratch: make([]gemmScratch, threads),
	}
	runtime.AddCleanup(c, func(w *cpuWorkers) { w.close() }, c.work)
	return c
}

// Name returns "cpu (N threads)".
func (c *CPU) Name() string { return c.name }

// Threads returns the number of goroutines the ops compute on.
func (c *CPU) Threads() int { return c.threads }

// PoolBytes returns the memory the buffer pool holds, in use or free.
func (c *CPU) PoolBytes() int64 { return c.pool.heldBytes() }

// LiveBuffers returns the number of buffers allocated and not yet freed
// (views not counted), for leak checks.
func (c *CPU) LiveBuffers() int { return c.pool.liveBuffers() }

// Err returns the first error recorded by any op, or nil.
func (c *CPU) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Sync returns Err: CPU ops are synchronous.
func (c *CPU) Sync() error { return c.Err() }

// failed reports whether an error has been recorded, so that the op asking
// must be skipped.
func (c *CPU) failed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err != nil
}

// fail records err as the first error unless one is recorded already.
func (c *CPU) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
	}
}

// failf records an error "host: op: msg".
func (c *CPU) failf(op, format string, args ...any) {
	c.fail(fmt.Errorf("host: %s: %s", op, fmt.Sprintf(format, args...)))
}

// cpuSizes formats the op's sizes for messages: names is a space-separated list
// matching vals: cpuSizes("m n ldc", []int{3, 4, 4}) is "(m=3 n=4 ldc=4)".
func cpuSizes(names string, vals []int) string {
	var sb strings.Builder
	sb.WriteByte('(')
	for i, name := range strings.Fields(names) {
		if i > 0 {
			sb.WriteByte(' ')
		}
		if i < len(vals) {
			fmt.Fprintf(&sb, "%s=%d", name, vals[i])
		}
	}
	sb.WriteByte(')')
	return sb.String()
}

// nonNeg checks that the op's sizes are not negative.
func (c *CPU) nonNeg(op, names string, vals ...int) bool {
	for _, v := range vals {
		if v < 0 {
			c.failf(op, "negative size %s", cpuSizes(names, vals))
			return false
		}
	}
	return true
}

// ld checks that a row stride ld is at least the row length cols.
func (c *CPU) ld(op, ldName string, ld, cols int, names string, vals ...int) bool {
	if ld < max(cols, 1) {
		c.failf(op, "%s=%d is less than the row length %d %s", ldName, ld, cols, cpuSizes(names, vals))
		return false
	}
	return true
}

// f32 checks that b is a CPU buffer of at least need elements. A nil b is
// accepted when need is 0.
func (c *CPU) f32(op, name string, b *F32, need int, names string, vals ...int) bool {
	if b == nil {
		return c.bufOK(op, bufProblem(name, "CPU", false, false, 0, need), names, vals)
	}
	return c.bufOK(op, bufProblem(name, "CPU", true, len(b.cpu) == b.n, b.n, need), names, vals)
}

// i32 is f32 for int32 buffers.
func (c *CPU) i32(op, name string, b *I32, need int, names string, vals ...int) bool {
	if b == nil {
		return c.bufOK(op, bufProblem(name, "CPU", false, false, 0, need), names, vals)
	}
	return c.bufOK(op, bufProblem(name, "CPU", true, len(b.cpu) == b.n, b.n, need), names, vals)
}

// bufOK fails op with problem, followed by the op's sizes, unless it is "".
func (c *CPU) bufOK(op, problem, names string, vals []int) bool {
	if problem != "" {
		c.failf(op, "%s %s", problem, cpuSizes(names, vals))
		return false
	}
	return true
}

// lengthsIn checks that the first n lengths lie in [0, limit].
func (c *CPU) lengthsIn(op string, lengths []int32, limit int) bool {
	for i, l := range lengths {
		if l < 0 || int(l) > limit {
			c.failf(op, "lengths[%d] = %d outside [0, %d]", i, l, limit)
			return false
		}
	}
	return true
}

// cpuMatLen is the number of elements a rows×cols matrix with row stride ld
// spans: (rows−1)·ld + cols, or 0 when it is empty; math.MaxInt when that
// exceeds math.MaxInt (see satMul).
func cpuMatLen(rows, cols, ld int) int {
	if rows <= 0 || cols <= 0 {
		return 0
	}
	return satAdd(satMul(rows-1, ld), cols)
}

// errCPUForeign is returned for a Free of a buffer this backend did not
// allocate.
var errCPUForeign = errors.New("buffer not allocated by this backend")

// Alloc returns a zeroed buffer of n elements from the pool. A negative n is
// recorded as an error and gives nil.
func (c *CPU) Alloc(n int) *F32 {
	if n < 0 || n > maxAllocElems {
		c.failf("Alloc", "size n=%d outside 0 to %d", n, maxAllocElems)
		return nil
	}
	return c.pool.allocF32(n)
}

// AllocI32 returns a zeroed int32 buffer of n elements from the pool.
func (c *CPU) AllocI32(n int) *I32 {
	if n < 0 || n > maxAllocElems {
		c.failf("AllocI32", "size n=%d outside 0 to %d", n, maxAllocElems)
		return nil
	}
	return c.pool.allocI32(n)
}

// Free returns b to the pool; freeing a view or nil does nothing. Freeing a
// buffer twice, or one this backend did not allocate, is recorded as an
// error. A freed buffer has length 0 until Alloc hands it out again.
func (c *CPU) Free(b *F32) {
	if b == nil || b.root != nil {
		return
	}
	if ok, double := c.pool.freeF32Buf(b); !ok {
		if double {
			c.failf("Free", "buffer freed twice")
		} else {
			c.fail(fmt.Errorf("host: Free: %w", errCPUForeign))
		}
	}
}

// FreeI32 returns b to the pool; see Free.
func (c *CPU) FreeI32(b *I32) {
	if b == nil || b.root != nil {
		return
	}
	if ok, double := c.pool.freeI32Buf(b); !ok {
		if double {
			c.failf("FreeI32", "buffer freed twice")
		} else {
			c.fail(fmt.Errorf("host: FreeI32: %w", errCPUForeign))
		}
	}
}

// Upload copies src into dst; len(src) must equal dst.Len().
func (c *CPU) Upload(dst *F32, src []float32) {
	const op = "Upload"
	if c.failed() || !c.f32(op, "dst", dst, len(src), "len(src)", len(src)) {
		return
	}
	if dst.Len() != len(src) {
		c.failf(op, "dst has %d elements, src %d", dst.Len(), len(src))
		return
	}
	copy(dst.cpu, src)
}

// UploadI32 copies src into dst; len(src) must equal dst.Len().
func (c *CPU) UploadI32(dst *I32, src []int32) {
	const op = "UploadI32"
	if c.failed() || !c.i32(op, "dst", dst, len(src), "len(src)", len(src)) {
		return
	}
	if dst.Len() != len(src) {
		c.failf(op, "dst has %d elements, src %d", dst.Len(), len(src))
		return
	}
	copy(dst.cpu, src)
}

// Download copies src into dst; len(dst) must equal src.Len(). After an
// error it leaves dst unchanged.
func (c *CPU) Download(dst []float32, src *F32) {
	const op = "Download"
	if c.failed() || !c.f32(op, "src", src, len(dst), "len(dst)", len(dst)) {
		return
	}
	if src.Len() != len(dst) {
		c.failf(op, "src has %d elements, dst %d", src.Len(), len(dst))
		return
	}
	copy(dst, src.cpu)
}

// DownloadI32 copies src into dst; len(dst) must equal src.Len().
func (c *CPU) DownloadI32(dst []int32, src *I32) {
	const op = "DownloadI32"
	if c.failed() || !c.i32(op, "src", src, len(dst), "len(dst)", len(dst)) {
		return
	}
	if src.Len() != len(dst) {
		c.failf(op, "src has %d elements, dst %d", src.Len(), len(dst))
		return
	}
	copy(dst, src.cpu)
}

// scratch returns a reduction scratch slice of n elements, grown as needed
// and kept, so that steady-state reductions allocate nothing.
func (c *CPU) scratch(n int) []float32 {
	if cap(c.partials) < n {
		c.partials = make([]float32, n)
	}
	return c.partials[:n]
}

// cpuName is the backend's name: "cpu (1 thread)", "cpu (8 threads)".
func cpuName(threads int) string {
	if threads == 1 {
		return "cpu (1 thread)"
	}
	return fmt.Sprintf("cpu (%d threads)", threads)
}
