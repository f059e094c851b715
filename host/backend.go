// Package host is the compute seam of emotion: one Backend interface of ops
// over device buffers, a pure-Go CPU backend that is the reference, and (in
// the cuda and cudaemu builds) a GPU backend that turns each op into a kernel
// launch or a cuBLAS call.
//
// Conventions (see DESIGN.md):
//   - Row-major everywhere. A matrix argument is a buffer plus a leading
//     dimension (the distance in elements between two consecutive rows), as in
//     BLAS, so that ops can read and write sub-matrices of larger buffers.
//   - Buffers are flat; every op takes its sizes explicitly, as a kernel would.
//   - Ops never return errors one by one. A backend records the first error
//     (a shape that does not fit a buffer, a failed launch, out of memory) and
//     skips every later op; Err reports it. On a GPU the error of an
//     asynchronous launch surfaces at the next Sync anyway.
//   - Float32 storage and float32 accumulation.
//   - Alloc returns zeroed memory from a pool; Free returns it to the pool, so
//     a training step after the first allocates nothing.
package host

import "fmt"

// F32 is a float32 buffer owned by a Backend: a whole allocation or a view
// of a contiguous part of one (see Slice). Its contents live on the backend's
// device and are reached through the backend's ops, Upload and Download.
type F32 struct {
	n    int
	cpu  []float32 // CPU backend: the elements of this view
	dev  uintptr   // GPU backends: device address of element 0 of this view
	root *F32      // the allocation this is a view of; nil for an allocation
	off  int       // element offset of this view in its allocation
}

// Len is the number of float32 elements in b.
func (b *F32) Len() int {
	if b == nil {
		return 0
	}
	return b.n
}

// Slice returns a view of n elements of b starting at element off. The view
// shares b's memory and must not be freed; freeing b invalidates it.
// Slice panics when the range is outside b, as slicing a Go slice does.
func (b *F32) Slice(off, n int) *F32 {
	if off < 0 || n < 0 || off+n > b.n {
		panic(sliceError("F32", off, n, b.n))
	}
	v := &F32{n: n, root: b.rootOf(), off: b.off + off}
	if b.cpu != nil {
		v.cpu = b.cpu[off : off+n : off+n]
	}
	if b.dev != 0 {
		v.dev = b.dev + uintptr(off)*4
	}
	return v
}

func (b *F32) rootOf() *F32 {
	if b.root != nil {
		return b.root
	}
	return b
}

// Adjacent reports whether b directly follows a in one allocation: b's
// first element is the one after a's last. Ops over a Join of adjacent
// buffers replace one op per buffer.
func Adjacent(a, b *F32) bool {
	return a != nil && b != nil && a.rootOf() == b.rootOf() && a.off+a.n == b.off
}

// Join returns the view from a's first element to b's last, where b lies at
// or after a in the same allocation. It panics otherwise, as Slice does.
func Join(a, b *F32) *F32 {
	if a.rootOf() != b.rootOf() || b.off < a.off {
		panic("host: Join of buffers that are not in order in one allocation")
	}
	return a.rootOf().Slice(a.off, b.off+b.n-a.off)
}

// I32 is an int32 buffer owned by a Backend (token ids, labels, lengths).
type I32 struct {
	n    int
	cpu  []int32
	dev  uintptr
	root *I32
	// host is, on a GPU backend's allocation, a host copy of what UploadI32
	// wrote (see GPU.hostI32).
	host []int32
}

// Len is the number of int32 elements in b.
func (b *I32) Len() int {
	if b == nil {
		return 0
	}
	return b.n
}

// Slice returns a view of n elements of b starting at element off; see
// F32.Slice.
func (b *I32) Slice(off, n int) *I32 {
	if off < 0 || n < 0 || off+n > b.n {
		panic(sliceError("I32", off, n, b.n))
	}
	root := b.root
	if root == nil {
		root = b
	}
	v := &I32{n: n, root: root}
	if b.cpu != nil {
		v.cpu = b.cpu[off : off+n : off+n]
	}
	if b.dev != 0 {
		v.dev = b.dev + uintptr(off)*4
	}
	return v
}

// LaunchBound is implemented by a backend whose every op costs a fixed
// launch of several microseconds (a GPU), so that callers should prefer one
// large op to many small ones that skip work: one GEMM over a sequence's
// padded rows rather than one per time step over the rows still running.
type LaunchBound interface {
	LaunchBound() bool
}

// IsLaunchBound reports whether be is a LaunchBound backend that says so.
func IsLaunchBound(be Backend) bool {
	lb, ok := be.(LaunchBound)
	return ok && lb.LaunchBound()
}

// Backend is the set of ops the models compute with. Every op is named after
// the kernel that implements it on the GPU; the CPU backend is the reference
// for all of them.
//
// Unless an op says otherwise it overwrites its outputs. Ops whose name or
// doc says "accumulates" add into their output (gradients of shared
// parameters are accumulated across a step and zeroed by the optimiser).
type Backend interface {
	// Name is a short name for logs: "cpu", "cuda:0 (NVIDIA H100)", ….
	Name() string

	// Alloc returns a zeroed float32 buffer of n elements from the pool.
	Alloc(n int) *F32
	// AllocI32 returns a zeroed int32 buffer of n elements from the pool.
	AllocI32(n int) *I32
	// Free returns b to the pool. Freeing a view or nil does nothing.
	Free(b *F32)
	// FreeI32 returns b to the pool. Freeing a view or nil does nothing.
	FreeI32(b *I32)

	// Upload copies src into dst; len(src) must equal dst.Len().
	Upload(dst *F32, src []float32)
	// UploadI32 copies src into dst; len(src) must equal dst.Len().
	UploadI32(dst *I32, src []int32)
	// Download copies src into dst; len(dst) must equal src.Len(). It waits
	// for every op before it to finish.
	Download(dst []float32, src *F32)
	// DownloadI32 copies src into dst; len(dst) must equal src.Len().
	DownloadI32(dst []int32, src *I32)

	// Sync waits for every op issued so far and returns Err.
	Sync() error
	// Err returns the first error recorded by any op, or nil.
	Err() error

	// Fill sets the n = x.Len() elements of x to v.
	Fill(x *F32, v float32)
	// Copy copies src into dst (equal lengths).
	Copy(dst, src *F32)
	// Copy2D copies a rows×cols sub-matrix: dst[r*ldDst+c] = src[r*ldSrc+c]
	// (like cudaMemcpy2D). With accumulate it adds instead. Concatenating
	// features and splitting gradients are both Copy2D.
	Copy2D(rows, cols int, src *F32, ldSrc int, dst *F32, ldDst int, accumulate bool)
	// Transpose writes the transposes of batch rows×cols matrices src (row
	// stride ldSrc, matrix i at element i·strideSrc) into the cols×rows
	// matrices dst (row stride ldDst, matrix i at i·strideDst):
	// dst[i·strideDst + c·ldDst + r] = src[i·strideSrc + r·ldSrc + c].
	Transpose(batch, rows, cols int, src *F32, ldSrc, strideSrc int, dst *F32, ldDst, strideDst int)
	// Axpy computes y += alpha·x over x.Len() elements.
	Axpy(alpha float32, x, y *F32)
	// Scale computes x *= alpha.
	Scale(alpha float32, x *F32)
	// Sum writes the sum of x's elements to out[0].
	Sum(x, out *F32)
	// SumSquares writes the sum of squares of x's elements to out[0]
	// (gradient norms).
	SumSquares(x, out *F32)

	// Gemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices,
	// where op(A) is m×k (A is k×m when transA) and op(B) is k×n (B is n×k
	// when transB); lda, ldb, ldc are row strides. With beta = 0, C is not
	// read (NaNs in C do not propagate), as in BLAS.
	Gemm(transA, transB bool, m, n, k int, alpha float32, a *F32, lda int, b *F32, ldb int, beta float32, c *F32, ldc int)
	// GemmStridedBatched is Gemm over batch independent problems; problem i
	// uses A at element offset i·strideA, B at i·strideB, C at i·strideC.
	GemmStridedBatched(transA, transB bool, m, n, k int, alpha float32, a *F32, lda, strideA int, b *F32, ldb, strideB int, beta float32, c *F32, ldc, strideC int, batch int)

	// AddBias adds bias[c] to x[r*cols+c] for every row r of a rows×cols x.
	AddBias(rows, cols int, x, bias *F32)
	// BiasGrad accumulates the column sums of the rows×cols dy into dbias.
	BiasGrad(rows, cols int, dy, dbias *F32)
	// ReLU computes y = max(x, 0) elementwise, NaN staying NaN as in
	// torch.relu (x and y may be the same buffer).
	ReLU(x, y *F32)
	// ReLUBackward computes dx = dy where y > 0, else 0, from ReLU's output y.
	ReLUBackward(y, dy, dx *F32)
	// Tanh computes y = tanh(x) elementwise (x and y may be the same buffer).
	Tanh(x, y *F32)
	// TanhBackward computes dx = dy·(1 − y²) from Tanh's output y.
	TanhBackward(y, dy, dx *F32)

	// Dropout computes y = x·keep/(1−p), where keep for element i is drawn
	// from the counter-based generator Philox4x32-10 keyed by seed at counter
	// offset+i (see DropoutKeep), so the CPU and the GPU draw the same mask and
	// backward redraws it instead of storing it. p = 0 copies x.
	Dropout(p float32, seed, offset uint64, x, y *F32)
	// DropoutBackward computes dx = dy·keep/(1−p) with the same mask.
	DropoutBackward(p float32, seed, offset uint64, dy, dx *F32)

	// EmbeddingForward gathers rows of the vocab×dim table: out[i,:] =
	// table[ids[i],:] for the n = ids.Len() ids; an id equal to pad gives a zero
	// row (pass pad < 0 for none). An id outside [0, vocab) is an error.
	EmbeddingForward(ids *I32, dim int, pad int32, table, out *F32)
	// EmbeddingBackward accumulates dout[i,:] into dtable[ids[i],:]
	// (scatter-add), skipping ids equal to pad.
	EmbeddingBackward(ids *I32, dim int, pad int32, dout, dtable *F32)

	// SequenceToTimeMajor rearranges a batch-major sequence x into the
	// dense time-major y [dirs, steps, batch, feat] of each of dirs (1 or 2)
	// directions, all in one op: direction d reads the feat columns at
	// d·dirCols of x's rows (dirCols 0: every direction reads the same), its
	// element (b, t, f) at x[(b*steps+t)*ldX + d*dirCols + f], into
	// y[((d*steps+t)*batch+b)*feat + f]. Direction 1 reverses: its step t of
	// sequence b reads x's position lengths[b]-1-t, so that a reverse
	// recurrence starts at each sequence's own last real token (as
	// PyTorch's packed sequences do). Positions t ≥ lengths[b] are written
	// as zeros.
	SequenceToTimeMajor(batch, steps, feat, dirs int, x *F32, ldX, dirCols int, lengths *I32, y *F32)
	// SequenceFromTimeMajor is the adjoint of SequenceToTimeMajor: it writes
	// the time-major y of each direction back into batch-major x (same
	// index maps), zeroing x's padded positions; with accumulate it adds
	// into x and leaves padded positions as they are. With dirCols = 0 the
	// directions' values are summed (direction 0 first); otherwise dirCols
	// must be at least feat (the directions' columns do not overlap). It is
	// also SequenceToTimeMajor's backward.
	SequenceFromTimeMajor(batch, steps, feat, dirs int, y *F32, lengths *I32, x *F32, ldX, dirCols int, accumulate bool)

	// LSTMGatesForward is one fused time step s of `dirs` LSTM directions
	// over a batch, on time-major, direction-major buffers:
	//   pre  [dirs, steps, batch, 4·hidden]: the gate pre-activations
	//        x·W_ihᵀ + b_ih + h_{s−1}·W_hhᵀ + b_hh in PyTorch's order i, f, g, o
	//   act  [dirs, steps, batch, 4·hidden]: written, the activated gates
	//        σ(i), σ(f), tanh(g), σ(o), saved for backward; act may be pre
	//        (the gates are then activated in place, with the same bits)
	//   c, h [dirs, steps, batch, hidden]: written at step s; read at s−1
	//        (zero initial state at s = 0)
	// c_s = σ(f)·c_{s−1} + σ(i)·tanh(g) and h_s = σ(o)·tanh(c_s). A row whose
	// sequence has ended (s ≥ lengths[b]) carries its state unchanged
	// (c_s = c_{s−1}, h_s = h_{s−1}), so h at the last step is every
	// sequence's final state; its gates in act are left as they are
	// (LSTMGatesBackward never reads them: an ended row's gate gradients are
	// zero).
	LSTMGatesForward(dirs, steps, batch, hidden, s int, lengths *I32, pre, act, c, h *F32)
	// LSTMGatesBackward is step s of backpropagation through time:
	//   dh [dirs, steps, batch, hidden]: at s, the whole gradient of h_s
	//       (from the output and from step s+1's recurrent GEMM)
	//   dc [dirs, steps, batch, hidden]: at s, the gradient of c_s carried
	//       from step s+1 (zero at the last step); written at s−1
	//   dpre [dirs, steps, batch, 4·hidden]: written at s; dpre may be act
	//        (each unit's gradients replace its gates once they are read)
	// For s > 0 it sets dc at s−1 and, for rows that had ended (which carried
	// their state), adds dh_s into dh_{s−1}; the caller then adds
	// dpre_s·W_hh into dh_{s−1} with a GEMM.
	LSTMGatesBackward(dirs, steps, batch, hidden, s int, lengths *I32, act, c, dh, dc, dpre *F32)
	// LSTMSequenceForward is every forward time step of an LSTM pass in one
	// op: for s = 0, 1, …, steps−1, the pre-activations of step s plus
	// h_{s−1}·W_hhᵀ (every row), then the gates of LSTMGatesForward(s).
	// whhT holds W_hhᵀ [hidden, 4·hidden] of direction d at element d·ldDir
	// (Transpose of PyTorch's weight_hh). pre is consumed: its contents on
	// return are unspecified; act may be pre, as for LSTMGatesForward.
	LSTMSequenceForward(dirs, steps, batch, hidden int, lengths *I32, whhT *F32, ldDir int, pre, act, c, h *F32)
	// LSTMSequenceBackward is every backward time step in one op: for s =
	// steps−1, …, 0, dh_s (the output's gradient on entry) plus
	// dpre_{s+1}·W_hh (every row; an ended row's dpre is zero) plus what an
	// ended row carries, then the gate backward of LSTMGatesBackward(s). dc
	// at the last step is the gradient of the last c on entry; dc nil means
	// none flows in (zero). whh holds W_hh [4·hidden, hidden] (PyTorch's weight_hh) of
	// direction d at element d·ldDir. It writes dpre, which may be act; dh
	// and dc are consumed: their contents on return are unspecified.
	LSTMSequenceBackward(dirs, steps, batch, hidden int, lengths *I32, whh *F32, ldDir int, act, c, dh, dc, dpre *F32)

	// SplitHeads rearranges x [batch, steps, parts·heads·dim], the
	// projections of multi-head attention side by side (part p, head h at
	// columns (p·heads + h)·dim), into y [parts, batch, heads, steps, dim]:
	// each (part, sequence, head) becomes a contiguous steps×dim matrix at
	// ((p·batch + b)·heads + h)·steps·dim, so that one strided-batched GEMM
	// covers every head of every sequence.
	SplitHeads(batch, steps, parts, heads, dim int, x, y *F32)
	// MergeHeads is SplitHeads' inverse (and, a permutation, its adjoint):
	// y [parts, batch, heads, steps, dim] back into x [batch, steps,
	// parts·heads·dim].
	MergeHeads(batch, steps, parts, heads, dim int, y, x *F32)

	// SoftmaxForward computes, for each of the rows×cols rows of x, y =
	// softmax(scale·x) over its first n columns, where n = lengths[r /
	// rowsPerLength] (key-padding mask; all cols when lengths is nil); masked
	// columns and rows with n = 0 are written as zeros.
	SoftmaxForward(rows, cols int, scale float32, lengths *I32, rowsPerLength int, x, y *F32)
	// SoftmaxBackward computes dx = scale·y·(dy − Σ y·dy) row by row (zero in
	// masked columns), from SoftmaxForward's output y.
	SoftmaxBackward(rows, cols int, scale float32, lengths *I32, rowsPerLength int, y, dy, dx *F32)

	// CrossEntropy is class-weighted softmax cross-entropy over n rows of
	// classes logits, loss and logit gradient in one op, with PyTorch's
	// CrossEntropyLoss(weight=w, reduction="mean", label_smoothing=ε)
	// semantics; with pᵢ = softmax(xᵢ) and C = classes:
	//   loss[0] = Σᵢ [(1−ε)·w[yᵢ]·(−log pᵢ[yᵢ]) + ε/C·Σ_c w[c]·(−log pᵢ[c])] / Σᵢ w[yᵢ]
	//   dlogits[i,:] = [(1−ε)·w[yᵢ]·(pᵢ − onehot(yᵢ)) + ε/C·(pᵢ·Σ_c w[c] − w)] / Σᵢ w[yᵢ]
	// (ε = 0: the plain weighted mean of −log pᵢ[yᵢ], computed as such).
	// weights nil means all ones; a label < 0 is ignored (no loss, zero
	// gradient); a label ≥ classes, or ε outside [0, 1), is an error. probs,
	// when not nil, receives the softmax. dlogits may be nil (evaluation).
	CrossEntropy(n, classes int, smoothing float32, logits *F32, labels *I32, weights, loss, dlogits, probs *F32)

	// MeanPool averages a batch-major [batch, steps, feat] x over each
	// sequence's first lengths[b] steps into y [batch, feat] (ldY row stride);
	// an empty sequence gives zeros.
	MeanPool(batch, steps, feat int, lengths *I32, x, y *F32, ldY int)
	// MeanPoolBackward writes dx (zeros at padded steps) from dy [batch, feat]
	// (ldDY row stride).
	MeanPoolBackward(batch, steps, feat int, lengths *I32, dy *F32, ldDY int, dx *F32)

	// AdamStep updates one parameter in place, fused over its elements, as
	// torch.optim.Adam (and AdamW when decoupled): with t the 1-based step,
	//   m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g²
	//   p -= lr·(m/(1−β1ᵗ)) / (sqrt(v/(1−β2ᵗ)) + eps)
	// weightDecay adds wd·p to g first (Adam) or subtracts lr·wd·p from p
	// (AdamW, decoupled). With ZeroGrad it then sets grad to zero
	// (optimizer.zero_grad fused into the step: one pass fewer).
	AdamStep(p AdamParams, param, grad, m, v *F32)
}

// AdamParams are the hyper-parameters of one AdamStep.
type AdamParams struct {
	LR, Beta1, Beta2, Eps, WeightDecay float32
	Decoupled                          bool // AdamW
	Step                               int  // 1-based
	// ZeroGrad sets the gradient to zero once it has been read.
	ZeroGrad bool
}

func sliceError(kind string, off, n, length int) string {
	return fmt.Sprintf("host: %s.Slice(%d, %d) out of range for length %d", kind, off, n, length)
}

// bufProblem says what is wrong with buffer name, or "" when nothing is,
// for an op that needs need elements of it: absent (a nil buffer; fine
// when need is 0), not one of this backend's (a kind buffer, "CPU" or
// "GPU"), or shorter than need.
func bufProblem(name, kind string, present, mine bool, n, need int) string {
	switch {
	case !present && need == 0:
		return ""
	case !present:
		return fmt.Sprintf("%s is nil, needs %d elements", name, need)
	case !mine:
		return fmt.Sprintf("%s is not a %s buffer", name, kind)
	case n < need:
		return fmt.Sprintf("%s has %d elements, needs %d", name, n, need)
	}
	return ""
}
