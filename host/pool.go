package host

import (
	"math/bits"
	"sync"
	"unsafe"
)

// poolClass returns the size class of an n-element request: its index and
// the number of elements a buffer of that class holds. Requests of up to 16
// elements get exact classes; above that there are four classes per power of
// two (20, 24, 28, 32, 40, 48, …), so a buffer wastes at most a quarter of
// its size, and the varying shapes of length-bucketed batches reuse each
// other's memory instead of growing one free list per exact size.
func poolClass(n int) (idx, size int) {
	if n <= 16 {
		return n, n
	}
	e := bits.Len(uint(n-1)) - 3 // 2^(e+2) ≤ n-1 < 2^(e+3)
	q := (n - 1) >> e            // 4 ≤ q ≤ 7
	return 17 + (e-2)*4 + (q - 4), (q + 1) << e
}

// cpuPool keeps freed CPU buffers in free lists by size class. A buffer's
// header (*F32 or *I32) is pooled along with its memory, so that an
// Alloc/Free cycle in steady state allocates nothing. live tells allocated
// buffers (true) from pooled ones (false); a Free of a pooled buffer is a
// double free, a Free of an unknown one a foreign buffer.
type cpuPool struct {
	mu      sync.Mutex
	freeF32 [][]*F32
	freeI32 [][]*I32
	liveF32 map[*F32]bool
	liveI32 map[*I32]bool
	bytes   int64 // memory held, allocated or pooled
}

// allocF32 returns a zeroed n-element buffer (n ≥ 0).
func (p *cpuPool) allocF32(n int) *F32 {
	idx, size := poolClass(n)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.liveF32 == nil {
		p.liveF32 = make(map[*F32]bool)
	}
	var b *F32
	if idx < len(p.freeF32) {
		if l := p.freeF32[idx]; len(l) > 0 {
			b = l[len(l)-1]
			l[len(l)-1] = nil
			p.freeF32[idx] = l[:len(l)-1]
		}
	}
	if b == nil {
		b = &F32{cpu: alignedF32(size)}
		p.bytes += 4 * int64(size)
	} else {
		clear(b.cpu[:n])
	}
	b.n = n
	b.cpu = b.cpu[:n]
	p.liveF32[b] = true
	return b
}

// freeF32 returns b to its free list. It reports false, doing nothing, when b
// is not a live allocation of this pool; double tells a double free.
func (p *cpuPool) freeF32Buf(b *F32) (ok, double bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	live, known := p.liveF32[b]
	if !live {
		return false, known
	}
	p.liveF32[b] = false
	idx, _ := poolClass(cap(b.cpu))
	for len(p.freeF32) <= idx {
		p.freeF32 = append(p.freeF32, nil)
	}
	// A freed buffer has no elements, so that ops on it fail loudly.
	b.n = 0
	b.cpu = b.cpu[:0]
	p.freeF32[idx] = append(p.freeF32[idx], b)
	return true, false
}

// allocI32 returns a zeroed n-element int32 buffer (n ≥ 0).
func (p *cpuPool) allocI32(n int) *I32 {
	idx, size := poolClass(n)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.liveI32 == nil {
		p.liveI32 = make(map[*I32]bool)
	}
	var b *I32
	if idx < len(p.freeI32) {
		if l := p.freeI32[idx]; len(l) > 0 {
			b = l[len(l)-1]
			l[len(l)-1] = nil
			p.freeI32[idx] = l[:len(l)-1]
		}
	}
	if b == nil {
		b = &I32{cpu: alignedI32(size)}
		p.bytes += 4 * int64(size)
	} else {
		clear(b.cpu[:n])
	}
	b.n = n
	b.cpu = b.cpu[:n]
	p.liveI32[b] = true
	return b
}

// freeI32Buf is freeF32Buf for int32 buffers.
func (p *cpuPool) freeI32Buf(b *I32) (ok, double bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	live, known := p.liveI32[b]
	if !live {
		return false, known
	}
	p.liveI32[b] = false
	idx, _ := poolClass(cap(b.cpu))
	for len(p.freeI32) <= idx {
		p.freeI32 = append(p.freeI32, nil)
	}
	b.n = 0
	b.cpu = b.cpu[:0]
	p.freeI32[idx] = append(p.freeI32[idx], b)
	return true, false
}

// heldBytes is the memory the pool holds, in use or free.
// liveBuffers counts the buffers allocated and not freed.
func (p *cpuPool) liveBuffers() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, live := range p.liveF32 {
		if live {
			n++
		}
	}
	for _, live := range p.liveI32 {
		if live {
			n++
		}
	}
	return n
}

func (p *cpuPool) heldBytes() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.bytes
}

// cpuAlign is the byte alignment of every CPU allocation. Vector kernels
// (gonum's among them) handle a misaligned head apart from the rest, so the
// order in which they add up a row would otherwise depend on where the
// allocator placed it, and results would differ in their last bits from run
// to run. Aligned roots make every view's alignment a function of its
// offset alone: results are reproducible.
const cpuAlign = 64

// alignedF32 returns an empty slice of capacity n whose first element is
// cpuAlign-aligned.
func alignedF32(n int) []float32 {
	raw := make([]float32, n+cpuAlign/4)
	off := int(uintptr(unsafe.Pointer(unsafe.SliceData(raw))) % cpuAlign / 4)
	if off != 0 {
		off = cpuAlign/4 - off
	}
	return raw[off : off : off+n]
}

// alignedI32 is alignedF32 for int32.
func alignedI32(n int) []int32 {
	raw := make([]int32, n+cpuAlign/4)
	off := int(uintptr(unsafe.Pointer(unsafe.SliceData(raw))) % cpuAlign / 4)
	if off != 0 {
		off = cpuAlign/4 - off
	}
	return raw[off : off : off+n]
}
