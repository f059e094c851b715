package host

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

// huge is a size whose products and strided spans overflow int: with
// rows = huge+1 and cols = 4, rows·cols wraps around to 4, and 2·huge wraps
// to math.MinInt.
const huge = 1 << 62

// maxNeed is how a saturated need reads in an error.
var maxNeed = fmt.Sprint(math.MaxInt)

// overflowCase is one op called with sizes whose buffer needs overflow int
// and with small buffers. Before the needs saturated, each wrapped around
// to a small or negative need that the buffers passed, and the op then
// sliced out of range (or, where the need wrapped to 0, did nothing).
type overflowCase struct {
	name string
	op   string // the op the error names
	want string // part of the CPU backend's error
	// cpuOnly marks a case the GPU backend skips without an error (its
	// Softmax checks return early when rows·cols is 0).
	cpuOnly bool
	call    func(be Backend, b func(n int) *F32, bi func(v ...int32) *I32)
}

var overflowCases = []overflowCase{
	{name: "Copy2D ldSrc", op: "Copy2D", want: "src has 4 elements, needs " + maxNeed,
		call: func(be Backend, b func(int) *F32, _ func(...int32) *I32) {
			be.Copy2D(3, 1, b(4), huge, b(4), 1, false)
		}},
	{name: "Copy2D ldDst", op: "Copy2D", want: "dst has 4 elements, needs " + maxNeed,
		call: func(be Backend, b func(int) *F32, _ func(...int32) *I32) {
			be.Copy2D(3, 1, b(4), 1, b(4), huge, true)
		}},
	{name: "Transpose strideSrc", op: "Transpose", want: "src has 4 elements, needs " + maxNeed,
		call: func(be Backend, b func(int) *F32, _ func(...int32) *I32) {
			be.Transpose(3, 1, 1, b(4), 1, huge, b(4), 1, 1)
		}},
	{name: "AddBias rows·cols", op: "AddBias", want: "x has 4 elements, needs " + maxNeed,
		call: func(be Backend, b func(int) *F32, _ func(...int32) *I32) {
			be.AddBias(huge+1, 4, b(4), b(4))
		}},
	{name: "BiasGrad rows·cols", op: "BiasGrad", want: "dy has 4 elements, needs " + maxNeed,
		call: func(be Backend, b func(int) *F32, _ func(...int32) *I32) {
			be.BiasGrad(huge+1, 4, b(4), b(4))
		}},
	{name: "Gemm ldc", op: "Gemm", want: "C has 4 elements, needs " + maxNeed,
		call: func(be Backend, b func(int) *F32, _ func(...int32) *I32) {
			be.Gemm(false, false, 3, 1, 1, 1, b(3), 1, b(1), 1, 0, b(4), huge)
		}},
	{name: "GemmStridedBatched strideA", op: "GemmStridedBatched", want: "A has 2 elements, needs " + maxNeed,
		call: func(be Backend, b func(int) *F32, _ func(...int32) *I32) {
			be.GemmStridedBatched(false, false, 1, 1, 1, 1, b(2), 1, huge, b(3), 1, 1, 0, b(3), 1, 1, 3)
		}},
	{name: "GemmStridedBatched strideC", op: "GemmStridedBatched", want: "C has 3 elements, needs " + maxNeed,
		call: func(be Backend, b func(int) *F32, _ func(...int32) *I32) {
			be.GemmStridedBatched(false, false, 1, 1, 1, 0, nil, 1, 0, nil, 1, 0, 0, b(3), 1, huge, 3)
		}},
	{name: "SplitHeads", op: "SplitHeads", want: "x has 4 elements, needs " + maxNeed,
		call: func(be Backend, b func(int) *F32, _ func(...int32) *I32) {
			be.SplitHeads(huge+1, 4, 1, 1, 1, b(4), b(4))
		}},
	{name: "MergeHeads", op: "MergeHeads", want: "x has 4 elements, needs " + maxNeed,
		call: func(be Backend, b func(int) *F32, _ func(...int32) *I32) {
			be.MergeHeads(1, 1, huge+1, 2, 2, b(4), b(4))
		}},
	{name: "LSTMGatesForward hidden", op: "LSTMGatesForward", want: "pre has 16 elements, needs " + maxNeed,
		call: func(be Backend, b func(int) *F32, bi func(...int32) *I32) {
			be.LSTMGatesForward(1, 4, 1, huge+1, 0, bi(4), b(16), b(16), b(4), b(4))
		}},
	{name: "LSTMGatesBackward hidden", op: "LSTMGatesBackward", want: "act has 16 elements, needs " + maxNeed,
		call: func(be Backend, b func(int) *F32, bi func(...int32) *I32) {
			be.LSTMGatesBackward(1, 4, 1, huge+1, 0, bi(4), b(16), b(4), b(4), b(4), b(16))
		}},
	{name: "LSTMSequenceForward ldDir", op: "LSTMSequenceForward", want: "whhT has 4 elements, needs " + maxNeed,
		call: func(be Backend, b func(int) *F32, bi func(...int32) *I32) {
			be.LSTMSequenceForward(3, 1, 1, 1, bi(1), b(4), huge, b(12), b(12), b(3), b(3))
		}},
	{name: "LSTMSequenceBackward ldDir", op: "LSTMSequenceBackward", want: "whh has 4 elements, needs " + maxNeed,
		call: func(be Backend, b func(int) *F32, bi func(...int32) *I32) {
			be.LSTMSequenceBackward(3, 1, 1, 1, bi(1), b(4), huge, b(12), b(3), b(3), b(3), b(12))
		}},
	{name: "SoftmaxForward rows·cols", op: "SoftmaxForward", want: "x has 4 elements, needs " + maxNeed,
		call: func(be Backend, b func(int) *F32, _ func(...int32) *I32) {
			be.SoftmaxForward(huge+1, 4, 1, nil, 0, b(4), b(4))
		}},
	{name: "SoftmaxBackward rows·cols", op: "SoftmaxBackward", want: "y has 4 elements, needs " + maxNeed,
		call: func(be Backend, b func(int) *F32, _ func(...int32) *I32) {
			be.SoftmaxBackward(huge+1, 4, 1, nil, 0, b(4), b(4), b(4))
		}},
	// (rows + rowsPerLength − 1) wrapped to a negative need of lengths.
	{name: "SoftmaxForward lengths", op: "SoftmaxForward", want: "lengths has 1 elements, needs 4611686018427387904",
		cpuOnly: true,
		call: func(be Backend, _ func(int) *F32, bi func(...int32) *I32) {
			be.SoftmaxForward(math.MaxInt, 0, 1, bi(0), 2, nil, nil)
		}},
	{name: "CrossEntropy n·classes", op: "CrossEntropy", want: "logits has 4 elements, needs " + maxNeed,
		call: func(be Backend, b func(int) *F32, bi func(...int32) *I32) {
			be.CrossEntropy(4, huge+1, 0, b(4), bi(0, 0, 0, 0), nil, b(1), b(4), nil)
		}},
	// The CPU checks the table (dim elements) first; the GPU, the rows
	// (n·dim).
	{name: "EmbeddingForward n·dim", op: "EmbeddingForward", want: "table has 4 elements, needs 4611686018427387905",
		call: func(be Backend, b func(int) *F32, bi func(...int32) *I32) {
			be.EmbeddingForward(bi(0, 0, 0, 0), huge+1, -1, b(4), b(4))
		}},
	{name: "EmbeddingBackward n·dim", op: "EmbeddingBackward", want: "dtable has 4 elements, needs 4611686018427387905",
		call: func(be Backend, b func(int) *F32, bi func(...int32) *I32) {
			be.EmbeddingBackward(bi(0, 0, 0, 0), huge+1, -1, b(4), b(4))
		}},
	{name: "SequenceToTimeMajor steps", op: "SequenceToTimeMajor", want: "x has 4 elements, needs " + maxNeed,
		call: func(be Backend, b func(int) *F32, bi func(...int32) *I32) {
			be.SequenceToTimeMajor(1, huge+1, 4, 1, b(4), 4, 0, bi(1), b(4))
		}},
	{name: "SequenceFromTimeMajor steps", op: "SequenceFromTimeMajor", want: "x has 4 elements, needs " + maxNeed,
		call: func(be Backend, b func(int) *F32, bi func(...int32) *I32) {
			be.SequenceFromTimeMajor(1, huge+1, 4, 1, b(4), bi(1), b(4), 4, 0, false)
		}},
	// (dirs−1)·dirCols + feat wrapped to a negative row length, which
	// passed the ldX check and needed nothing of x.
	{name: "SequenceToTimeMajor dirCols", op: "SequenceToTimeMajor", want: "ldX=1 is less than the row length " + maxNeed,
		call: func(be Backend, b func(int) *F32, bi func(...int32) *I32) {
			be.SequenceToTimeMajor(1, 1, 1, 2, b(4), 1, math.MaxInt, bi(1), b(4))
		}},
	{name: "MeanPool steps", op: "MeanPool", want: "x has 4 elements, needs " + maxNeed,
		call: func(be Backend, b func(int) *F32, bi func(...int32) *I32) {
			be.MeanPool(1, huge+1, 4, bi(1), b(4), b(4), 4)
		}},
	{name: "MeanPool ldY", op: "MeanPool", want: "y has 4 elements, needs " + maxNeed,
		call: func(be Backend, b func(int) *F32, bi func(...int32) *I32) {
			be.MeanPool(3, 1, 1, bi(1, 1, 1), b(4), b(4), huge)
		}},
	{name: "MeanPoolBackward steps", op: "MeanPoolBackward", want: "dx has 4 elements, needs " + maxNeed,
		call: func(be Backend, b func(int) *F32, bi func(...int32) *I32) {
			be.MeanPoolBackward(1, huge+1, 4, bi(1), b(4), 4, b(4))
		}},
}

// runOverflowCase runs c on be and checks that it neither panics nor
// passes: the backend's error names the op and contains want.
func runOverflowCase(t *testing.T, be Backend, c overflowCase, want string) {
	t.Helper()
	b := func(n int) *F32 { return be.Alloc(n) }
	bi := func(v ...int32) *I32 {
		x := be.AllocI32(len(v))
		be.UploadI32(x, v)
		return x
	}
	if err := be.Err(); err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("panic: %v", r)
			}
		}()
		c.call(be, b, bi)
	}()
	err := be.Sync()
	if err == nil {
		t.Fatalf("no error")
	}
	if prefix := "host: " + c.op + ": "; !strings.HasPrefix(err.Error(), prefix) {
		t.Fatalf("error %q, want prefix %q", err, prefix)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q, want it to contain %q", err, want)
	}
}

// TestCPUOverflowSizes checks that sizes whose buffer needs overflow int
// fail the op's buffer checks (the need saturates at math.MaxInt) instead
// of wrapping around to a need that small buffers pass.
func TestCPUOverflowSizes(t *testing.T) {
	for _, c := range overflowCases {
		t.Run(c.name, func(t *testing.T) {
			runOverflowCase(t, NewCPU(1), c, c.want)
		})
	}
}

// TestSizeArithmetic checks satMul, satAdd and ceilDiv: exact below
// math.MaxInt, saturated at it.
func TestSizeArithmetic(t *testing.T) {
	const m = math.MaxInt
	for _, tt := range []struct {
		name      string
		got, want int
	}{
		{"satMul()", satMul(), 1},
		{"satMul(3, 4, 5)", satMul(3, 4, 5), 60},
		{"satMul(huge-1, 2)", satMul(huge-1, 2), 2 * (huge - 1)},
		{"satMul(huge, 2)", satMul(huge, 2), m},
		{"satMul(huge+1, 4)", satMul(huge+1, 4), m},
		{"satMul(m, 1)", satMul(m, 1), m},
		{"satMul(m, m, 0)", satMul(m, m, 0), 0},
		{"satMul(0, m, m)", satMul(0, m, m), 0},
		{"satMul(1<<32, 1<<32)", satMul(1<<32, 1<<32), m},
		{"satMul(1<<31, 1<<31)", satMul(1<<31, 1<<31), 1 << 62},
		{"satAdd()", satAdd(), 0},
		{"satAdd(3, 4)", satAdd(3, 4), 7},
		{"satAdd(m-1, 1)", satAdd(m-1, 1), m},
		{"satAdd(m, 1)", satAdd(m, 1), m},
		{"satAdd(huge, huge, huge)", satAdd(huge, huge, huge), m},
		{"ceilDiv(7, 2)", ceilDiv(7, 2), 4},
		{"ceilDiv(8, 2)", ceilDiv(8, 2), 4},
		{"ceilDiv(0, 3)", ceilDiv(0, 3), 0},
		{"ceilDiv(m, 2)", ceilDiv(m, 2), 1 << 62},
		{"cpuMatLen(3, 1, huge)", cpuMatLen(3, 1, huge), m},
		{"cpuMatLen(3, 2, 4)", cpuMatLen(3, 2, 4), 10},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %d, want %d", tt.name, tt.got, tt.want)
		}
	}
}

// checkAllocSizes: an allocation beyond maxAllocElems (whose 4n bytes, or
// pool size class, would wrap around to a small allocation claiming n
// elements) or below 0 is refused with nil and an error naming the op, and
// the backend's pool hands out nothing for it.
func checkAllocSizes(t *testing.T, newBackend func() Backend) {
	for _, n := range []int{-1, maxAllocElems + 1, 1<<62 + 64, math.MaxInt} {
		for _, op := range []string{"Alloc", "AllocI32"} {
			be := newBackend()
			var got bool
			if op == "Alloc" {
				got = be.Alloc(n) != nil
			} else {
				got = be.AllocI32(n) != nil
			}
			err := be.Sync()
			if got || err == nil || !strings.Contains(err.Error(), op+": size n=") {
				t.Errorf("%s(%d): a buffer %v, error %v", op, n, got, err)
			}
		}
	}
}

func TestCPUAllocSizes(t *testing.T) {
	checkAllocSizes(t, func() Backend { return NewCPU(1) })
}
