package cuda

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// Tests of the code the real and the emulated device share (cuda.go): they
// run in every build.

func TestEncodeArgs(t *testing.T) {
	got, err := encodeArgs([]any{-3, int32(7), uint32(math.MaxUint32), true, false, uint64(1) << 40, float32(1.5), DevicePtr(0x1234),
		math.MaxInt32, math.MinInt32})
	if err != nil {
		t.Fatal(err)
	}
	want := []encodedArg{{argI32, 0xfffffffd}, {argI32, 7}, {argI32, 0xffffffff}, {argI32, 1}, {argI32, 0},
		{argU64, 1 << 40}, {argF32, uint64(math.Float32bits(1.5))}, {argPtr, 0x1234},
		{argI32, 0x7fffffff}, {argI32, 0x80000000}}
	if len(got) != len(want) {
		t.Fatalf("%d arguments, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("argument %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	// An int that int32 cannot hold is an error, not a truncated size.
	for _, v := range []int{math.MaxInt32 + 1, math.MinInt32 - 1, 1 << 40} {
		if _, err := encodeArgs([]any{1, v}); err == nil || !strings.Contains(err.Error(), "argument 1: int") ||
			!strings.Contains(err.Error(), "does not fit int32") {
			t.Errorf("int %d: %v", v, err)
		}
	}
	if _, err := encodeArgs([]any{float64(1)}); err == nil || !strings.Contains(err.Error(), "unsupported type float64") {
		t.Errorf("float64: %v", err)
	}
}

func TestCheckShape(t *testing.T) {
	for _, tc := range []struct {
		grid, block [3]int
		shared      int
		want        string // "" for a valid shape
	}{
		{[3]int{1, 1, 1}, [3]int{1, 1, 1}, 0, ""},
		{[3]int{math.MaxInt32, 65535, 65535}, [3]int{1024, 1, 1}, 48 << 10, ""},
		{[3]int{1, 1, 1}, [3]int{16, 1, 64}, 0, ""},
		{[3]int{1, 1, 1}, [3]int{8, 2, 64}, 0, ""},
		{[3]int{0, 1, 1}, [3]int{32, 1, 1}, 0, "dimension ≤ 0"},
		{[3]int{1, 1, 1}, [3]int{32, 0, 1}, 0, "dimension ≤ 0"},
		{[3]int{1, 1, 1}, [3]int{1025, 1, 1}, 0, "exceeds 1024 threads"},
		{[3]int{1, 1, 1}, [3]int{64, 32, 1}, 0, "exceeds 1024 threads"},
		{[3]int{1, 1, 1}, [3]int{1, 1, 65}, 0, "(or z > 64)"},
		{[3]int{math.MaxInt32 + 1, 1, 1}, [3]int{32, 1, 1}, 0, "exceeds (2^31-1, 65535, 65535)"},
		{[3]int{1, 65536, 1}, [3]int{32, 1, 1}, 0, "exceeds (2^31-1, 65535, 65535)"},
		{[3]int{1, 1, 65536}, [3]int{32, 1, 1}, 0, "exceeds (2^31-1, 65535, 65535)"},
		{[3]int{1, 1, 1}, [3]int{32, 1, 1}, 48<<10 + 1, "dynamic shared memory"},
		{[3]int{1, 1, 1}, [3]int{32, 1, 1}, -1, "dynamic shared memory"},
	} {
		err := checkShape(tc.grid, tc.block, tc.shared)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("grid %v block %v shared %d: %v", tc.grid, tc.block, tc.shared, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("grid %v block %v shared %d: %v, want an error containing %q", tc.grid, tc.block, tc.shared, err, tc.want)
		}
	}
}

// TestErrorDescriptions checks what a failed launch or GEMM says of
// itself: the kernel, its shape and its arguments, or the GEMM's
// transposes and sizes.
func TestErrorDescriptions(t *testing.T) {
	err := launchError("axpy_f32", [3]int{4, 1, 1}, [3]int{256, 1, 1}, 0, []any{1000, float32(2), DevicePtr(0xabc0)}, errors.New("boom"))
	want := "cuda: launch axpy_f32 grid [4 1 1] block [256 1 1] shared 0 (int 1000, float32 2, ptr 0xabc0): boom"
	if err.Error() != want {
		t.Errorf("launch error %q\nwant %q", err, want)
	}
	for _, tc := range []struct {
		ta, tb bool
		want   string
	}{
		{false, false, "NN m=1 n=2 k=3 lda=4 ldb=5 ldc=6"},
		{false, true, "NT m=1 n=2 k=3 lda=4 ldb=5 ldc=6"},
		{true, false, "TN m=1 n=2 k=3 lda=4 ldb=5 ldc=6"},
	} {
		if got := gemmShape(tc.ta, tc.tb, 1, 2, 3, 4, 5, 6); got != tc.want {
			t.Errorf("gemmShape(%v, %v, …) = %q, want %q", tc.ta, tc.tb, got, tc.want)
		}
	}
	for s, want := range map[Stream]string{Compute: "compute", Copy: "copy", Stream(5): "stream(5)"} {
		if got := s.String(); got != want {
			t.Errorf("Stream(%d).String() = %q, want %q", int(s), got, want)
		}
	}
}
