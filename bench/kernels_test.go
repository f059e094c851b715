package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emotionlab/emotion/host"
)

func TestShapesNamed(t *testing.T) {
	tests := []struct {
		name    string
		batches []int
		hiddens []int
		seqs    []int
		rows    []int
		wantErr bool
	}{
		{name: "full", batches: []int{32, 128, 512}, hiddens: []int{64, 128, 256, 512}, seqs: []int{10, 50, 100}, rows: []int{10, 100}},
		{name: "quick", batches: []int{32}, hiddens: []int{64, 128}, seqs: []int{10, 50}, rows: []int{10, 100}},
		{name: "tiny", batches: []int{3}, hiddens: []int{8}, seqs: []int{5}, rows: []int{3}},
		{name: "large", batches: []int{512}, hiddens: []int{512}, seqs: []int{100}, rows: []int{100}},
		{name: "huge", wantErr: true},
	}
	for _, tc := range tests {
		s, err := ShapesNamed(tc.name)
		if tc.wantErr {
			if err == nil || !strings.Contains(err.Error(), "tiny, quick, large, full") {
				t.Errorf("%s: error %v, want the list of names", tc.name, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !slices.Equal(s.Batches, tc.batches) || !slices.Equal(s.Hiddens, tc.hiddens) || !slices.Equal(s.Seqs, tc.seqs) || !slices.Equal(s.Rows, tc.rows) {
			t.Errorf("%s: %+v", tc.name, s)
		}
		s.Batches[0] = -1 // a copy: the set itself must not change
		if again, _ := ShapesNamed(tc.name); again.Batches[0] != tc.batches[0] {
			t.Errorf("%s: ShapesNamed returned the shared slices", tc.name)
		}
	}
}

// TestCasesCoverEveryOp checks that every compute op of host.Backend has a
// benchmark case (the catalogue must grow with the interface).
func TestCasesCoverEveryOp(t *testing.T) {
	notOps := map[string]bool{"Name": true, "Alloc": true, "AllocI32": true, "Free": true, "FreeI32": true,
		"Sync": true, "Err": true, "UploadI32": true, "DownloadI32": true}
	s, _ := ShapesNamed("tiny")
	have := map[string]bool{}
	for _, c := range cases(s) {
		have[c.op] = true
	}
	typ := reflect.TypeFor[host.Backend]()
	for i := range typ.NumMethod() {
		m := typ.Method(i).Name
		if !notOps[m] && !have[m] {
			t.Errorf("no benchmark case for host.Backend.%s", m)
		}
	}
}

// TestCaseCosts checks the counted bytes and FLOPs of cases against
// numbers worked out by hand from the formulas of the package
// documentation.
func TestCaseCosts(t *testing.T) {
	s := Shapes{Batches: []int{3}, Seqs: []int{5}, Hiddens: []int{8}, Rows: []int{4}, Heads: 4, Vocab: 50}
	n := 3 * 5 * 16 // B·T·2H
	tests := []struct {
		name         string // "Op (variant)"
		bytes, flops int64
	}{
		{"Fill ([B,T,2H])", 4 * 240, 0},
		{"Copy ([B,T,2H])", 8 * 240, 0},
		{"Axpy ([B,T,2H])", 12 * 240, 2 * 240},
		{"TanhBackward ([B,T,2H])", 12 * 240, 3 * 240},
		{"Copy2D ([B·T,2H] into [B·T,2H+3])", 8 * 15 * 16, 0},
		{"AddBias ([B·T,4H])", 8*15*32 + 4*32, 15 * 32},
		{"BiasGrad ([B·T,4H])", 4*15*32 + 8*32, 15 * 32},
		{"Transpose (W_hh [4H,H], 2 directions)", 8 * 2 * 32 * 8, 0},
		{"CrossEntropy (4 classes, weighted)", 12*3*4 + 4*3 + 4*4 + 4, 9 * 3 * 4},
		{"AdamStep ([V,2H])", 32 * 50 * 16, 14 * 50 * 16},
		// 2 directions of (T·B)×4H×2H: A 15·16, B 32·16, C 15·32.
		{"GemmStridedBatched (LSTM input projection x·W_ihᵀ)", 4 * 2 * (15*16 + 32*16 + 15*32), 2 * 2 * 15 * 32 * 16},
		// 2 directions of B×4H×H, C read and written (beta 1).
		{"GemmStridedBatched (LSTM recurrent step pre += h·W_hhᵀ)", 4 * 2 * (3*8 + 32*8 + 2*3*32), 2*2*3*32*8 + 2*2*3*32},
		// B·R rows × 3E × E, E = 2H = 16.
		{"Gemm (attention in-projection x·W_inᵀ)", 4 * (12*16 + 48*16 + 12*48), 2 * 12 * 48 * 16},
		// per window: R×R×d, d = E/heads = 4.
		{"GemmStridedBatched (attention scores Q·Kᵀ, one head)", 4 * 3 * (4*4 + 4*4 + 4*4), 2 * 3 * 4 * 4 * 4},
		// rows = B·heads·R = 48 of R = 4.
		{"SoftmaxForward (attention)", 8*48*4 + 4*3, 6 * 48 * 4},
		// B·R = 12 rows of 3E = 48 floats, read and written.
		{"SplitHeads (qkv)", 8 * 12 * 48, 0},
		{"MergeHeads (qkv)", 8 * 12 * 48, 0},
	}
	byName := map[string]*kernelCase{}
	for _, c := range cases(s) {
		byName[c.name()] = c
	}
	if n != 240 {
		t.Fatal("bad test arithmetic")
	}
	for _, tc := range tests {
		c := byName[tc.name]
		if c == nil {
			t.Errorf("no case %q", tc.name)
			continue
		}
		if c.bytes != tc.bytes || c.flops != tc.flops {
			t.Errorf("%s: %d bytes, %d FLOPs; want %d, %d", tc.name, c.bytes, c.flops, tc.bytes, tc.flops)
		}
	}
	// The LSTM step counts its running and ended rows apart (11H and 8H
	// forward, 13H and 15H backward; 9 and 0 FLOPs, 23 and 1); at B = 40
	// both kinds occur.
	for _, b := range []int{3, 40} {
		sb := s
		sb.Batches = []int{b}
		for _, c := range cases(sb) {
			var running, ended, runFlops, endFlops int64
			switch c.op {
			case "LSTMGatesForward":
				running, ended, runFlops, endFlops = 11, 8, 9, 0
			case "LSTMGatesBackward":
				running, ended, runFlops, endFlops = 13, 15, 23, 1
			default:
				continue
			}
			e := int64(endedAt(stepLengths(c.opSeed(), b), 1))
			r := int64(b) - e
			if b == 40 && (e == 0 || r == 0) {
				t.Errorf("%s at B = 40: %d of 40 rows ended, want some of each", c.name(), e)
			}
			want, wantFlops := 4*int64(b)+4*2*8*(running*r+ended*e), 2*8*(runFlops*r+endFlops*e)
			if c.bytes != want || c.flops != wantFlops {
				t.Errorf("%s at B = %d (%d ended): %d bytes, %d FLOPs; want %d, %d", c.name(), b, e, c.bytes, c.flops, want, wantFlops)
			}
		}
	}
	// The whole-sequence forward writes the gates of running row-steps
	// only: 6H for each of the T·B row-steps, 4H more for each of the L
	// running ones, the weights once per direction.
	sq := s
	sq.Batches, sq.Seqs = []int{40}, []int{10}
	found := false
	for _, c := range cases(sq) {
		if c.op != "LSTMSequenceForward" {
			continue
		}
		found = true
		L := sum32(seqLengths(c.seed(), 40, 10))
		if L == 40*10 {
			t.Errorf("LSTMSequenceForward: every length 10, want some shorter")
		}
		// The product (8H² a row) at the 9 steps after the first, the
		// cell (13H) at the L running row-steps.
		want, wantFlops := 4*40+4*2*(10*40*6*8+L*4*8)+4*2*4*8*8, 2*(9*40*8*64+L*13*8)
		if c.bytes != want || c.flops != wantFlops {
			t.Errorf("LSTMSequenceForward: %d bytes, %d FLOPs; want %d, %d (L = %d)", c.bytes, c.flops, want, wantFlops, L)
		}
	}
	if !found {
		t.Error("no LSTMSequenceForward case")
	}
	// Its backward reads the gates, c and dh_s and writes dpre at every
	// row-step, and dc's first value once; the product at the 4 steps
	// before the last, 24H a running row-step, H an ended one.
	if c := byName["LSTMSequenceBackward (2 directions)"]; c == nil {
		t.Error("no LSTMSequenceBackward case")
	} else {
		L := sum32(seqLengths(c.seed(), 3, 5))
		want, wantFlops := 4*3+4*2*5*3*10*8+4*2*3*8+4*2*4*8*8, 2*(4*3*8*64+L*24*8+(15-L)*8)
		if c.bytes != int64(want) || c.flops != wantFlops {
			t.Errorf("LSTMSequenceBackward: %d bytes, %d FLOPs; want %d, %d (L = %d)", c.bytes, c.flops, want, wantFlops, L)
		}
	}
	// Sequence ops count the real positions of their lengths.
	for _, name := range []string{"SequenceToTimeMajor (2 directions, F=2H)", "MeanPool (F=2H)"} {
		c := byName[name]
		lens := seqLengths(c.seed(), 3, 5)
		if lens[2] != 5 || slices.Min(lens) < 3 {
			t.Errorf("%s: lengths %v, want in [3, 5] with the last 5", name, lens)
		}
		L := sum32(lens)
		want := 4*3 + 2*(4*L*16+4*3*5*16)
		if name == "MeanPool (F=2H)" {
			want = 4*3 + 4*L*16 + 4*3*16
		}
		if c.bytes != want {
			t.Errorf("%s: %d bytes, want %d (L = %d)", name, c.bytes, want, L)
		}
	}
}

func TestRelErr(t *testing.T) {
	nan := float32(math.NaN())
	tests := []struct {
		got, want []float32
		err       float64 // NaN: want NaN
		at        int
	}{
		{[]float32{1, 2, 3}, []float32{1, 2, 3}, 0, 0},
		{[]float32{1, 2, 3.003}, []float32{1, 2, 3}, 0.003 / (3 + math.Sqrt(14.0/3)), 2},
		{[]float32{0, 1e-3}, []float32{0, 0}, math.Inf(1), 1}, // all-zero reference: any difference fails
		{[]float32{1, nan}, []float32{1, 2}, math.NaN(), 1},
		{[]float32{nan}, []float32{nan}, math.NaN(), 0},
		{[]float32{1}, []float32{1, 2}, math.Inf(1), 0},
	}
	for i, tc := range tests {
		e, at := relErr(tc.got, tc.want)
		switch {
		case math.IsNaN(tc.err):
			if !math.IsNaN(e) || at != tc.at {
				t.Errorf("%d: %g at %d, want NaN at %d", i, e, at, tc.at)
			}
		case math.Abs(e-tc.err) > 1e-6*max(1, tc.err) && !(math.IsInf(e, 1) && math.IsInf(tc.err, 1)):
			t.Errorf("%d: %g, want %g", i, e, tc.err)
		case at != tc.at:
			t.Errorf("%d: at %d, want %d", i, at, tc.at)
		}
	}
}

// fixedTimer is a backend whose OpTimer reports 10 µs per call.
type fixedTimer struct {
	host.Backend
	calls, heldCalls int
	launches         int64 // see countingTimer
}

func (f *fixedTimer) TimeOps(n int, held bool, fn func()) (time.Duration, time.Duration, error) {
	start := time.Now()
	for range n {
		fn()
	}
	f.calls += n
	if held {
		f.heldCalls += n
	}
	return time.Duration(n) * 10 * time.Microsecond, time.Since(start), nil
}

// countingTimer is a fixedTimer that counts launches, as the GPU backend
// does.
type countingTimer struct{ *fixedTimer }

func (c countingTimer) Launches() int64 { return c.launches }

// TestHostLaunchNS checks that the host's part of the launch floor is the
// wall time of issuing calls, apart from the device time an OpTimer
// reports: a backend whose Fill returns at once, timed at 10 µs a call.
func TestHostLaunchNS(t *testing.T) {
	be := &fixedTimer{Backend: host.NewCPU(1)}
	c, err := MeasureCeilings(be, tinyOptions(""))
	if err != nil {
		t.Fatal(err)
	}
	if c.LaunchNS != 10_000 || !(c.HostLaunchNS > 0 && c.HostLaunchNS < 5_000) {
		t.Errorf("launch floor %g ns, host's part %g ns; want 10,000 and well under it", c.LaunchNS, c.HostLaunchNS)
	}
	ns, err := hostIssueNS(be, func() {
		for start := time.Now(); time.Since(start) < 20*time.Microsecond; {
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if ns < 20_000 {
		t.Errorf("issuing a call that takes 20 µs: %g ns a call", ns)
	}
}

// TestMeasureRestores: an op in place is timed from its inputs in every
// group: restore runs before the estimate and before each group, never
// inside one.
func TestMeasureRestores(t *testing.T) {
	be := &fixedTimer{Backend: host.NewCPU(1)}
	since, longest, restores := 0, 0, 0 // calls since the last restore
	tm, err := measureRestoring(be, func() {
		since++
		longest = max(longest, since)
	}, func() {
		since = 0
		restores++
	}, 20*time.Millisecond, false)
	if err != nil {
		t.Fatal(err)
	}
	// 1 ms groups of 100 calls at the timer's 10 µs: 20 groups.
	if restores != 21 || longest != 100 || tm.calls != 2000 {
		t.Errorf("%d restores, at most %d calls after one, %d calls timed; want 21 (the estimate and 20 groups), 100, 2000", restores, longest, tm.calls)
	}
}

func TestMeasureUsesOpTimer(t *testing.T) {
	for _, held := range []bool{false, true} {
		be := &fixedTimer{Backend: host.NewCPU(1)}
		ran := 0
		tm, err := measure(be, func() { ran++ }, 20*time.Millisecond, held)
		if err != nil {
			t.Fatal(err)
		}
		if tm.device != 10*time.Microsecond || !(tm.issue > 0 && tm.issue < tm.device) {
			t.Errorf("held %v: median %v, issue %v; want the timer's 10µs and the wall time of a call that does nothing", held, tm.device, tm.issue)
		}
		// 1 ms groups of 100 calls; 20 ms → 20 groups, plus the estimate.
		if tm.calls != 2000 || ran != tm.calls+1 || be.calls != ran {
			t.Errorf("held %v: %d calls timed, %d run, %d through the timer; want 2000, 2001, 2001", held, tm.calls, ran, be.calls)
		}
		if want := map[bool]int{false: 0, true: ran}[held]; be.heldCalls != want {
			t.Errorf("held %v: %d calls held, want %d", held, be.heldCalls, want)
		}
	}
}

// TestMeasureHeldLaunches checks that a held group stays within
// heldLaunches launches on a backend that counts them: 3 a call makes
// groups of 85 calls, not 100.
func TestMeasureHeldLaunches(t *testing.T) {
	ft := &fixedTimer{Backend: host.NewCPU(1)}
	be := countingTimer{ft}
	ran := 0
	call := func() {
		ran++
		ft.launches += 3
	}
	tm, err := measure(be, call, 20*time.Millisecond, true)
	if err != nil {
		t.Fatal(err)
	}
	// 20 ms at 85 calls of 10 µs: 23 groups.
	if per := 85; tm.calls != 23*per || ran != tm.calls+2 {
		t.Errorf("%d calls timed, %d run; want 23 groups of %d and 2 more run (the count of launches, the estimate)", tm.calls, ran, per)
	}
	ft.calls, ran = 0, 0
	if _, err := measure(be, call, 20*time.Millisecond, false); err != nil || ft.calls != ran {
		t.Errorf("not held: %v; %d calls through the timer, %d run", err, ft.calls, ran)
	}
}

// tinyOptions are options for fast runs.
func tinyOptions(ops string) KernelOptions {
	s, _ := ShapesNamed("tiny")
	o := KernelOptions{Shapes: s, Budget: time.Millisecond, RotateBytes: 64 << 10, CopyBytes: 1 << 20, GemmN: 32}
	if ops != "" {
		o.Ops = regexp.MustCompile(ops)
	}
	return o
}

func TestRunKernelsCPU(t *testing.T) {
	be := host.NewCPU(2)
	o := tinyOptions("")
	ceil, err := MeasureCeilings(be, o)
	if err != nil {
		t.Fatal(err)
	}
	if !(ceil.CopyGBps > 0) || !(ceil.SgemmGFlops > 0) || !(ceil.LaunchNS > 0) || !(ceil.HostLaunchNS > 0) || ceil.SgemmN != 32 || ceil.CopyBytes != 1<<20 ||
		!(ceil.UploadGBps > 0) || !(ceil.DownloadGBps > 0) || ceil.LinkBytes != 1<<20 {
		t.Fatalf("ceilings %+v", ceil)
	}
	var seen []KernelResult
	rep, err := RunKernels(be, host.NewCPU(1), o, ceil, func(r KernelResult) { seen = append(seen, r) })
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed != 0 || len(rep.Results) != len(cases(o.Shapes)) || !reflect.DeepEqual(seen, rep.Results) {
		t.Fatalf("%d failed, %d results (%d cases), %d reported", rep.Failed, len(rep.Results), len(cases(o.Shapes)), len(seen))
	}
	if rep.Reference != "cpu (1 thread)" || rep.Backend != "cpu (2 threads)" || rep.Date == "" {
		t.Errorf("report header %q %q %q", rep.Backend, rep.Reference, rep.Date)
	}
	for _, r := range rep.Results {
		if !r.Validated || r.MaxErr > r.Tolerance || r.Error != "" {
			t.Errorf("%s %s: validated %v, error %g, %q", r.Name(), r.Shape, r.Validated, r.MaxErr, r.Error)
		}
		if !(r.MedianNS > 0) || r.Calls < 3 || r.Copies < 1 || r.Copies > 512 {
			t.Errorf("%s %s: median %g ns over %d calls, %d copies", r.Name(), r.Shape, r.MedianNS, r.Calls, r.Copies)
		}
		sec := r.MedianNS / 1e9
		if d := r.GBps - float64(r.Bytes)/sec/1e9; math.Abs(d) > 1e-9*r.GBps {
			t.Errorf("%s: %g GB/s from %d bytes in %g ns", r.Name(), r.GBps, r.Bytes, r.MedianNS)
		}
		// Upload and Download are judged by the host link's rates.
		copyRate, link := ceil.CopyGBps, ""
		switch r.Op {
		case "Upload":
			copyRate, link = ceil.UploadGBps, "upload"
		case "Download":
			copyRate, link = ceil.DownloadGBps, "download"
		}
		if r.Link != link {
			t.Errorf("%s: link %q, want %q", r.Name(), r.Link, link)
		}
		if d := r.PctCopy - 100*r.GBps/copyRate; math.Abs(d) > 1e-9*r.PctCopy {
			t.Errorf("%s: %g%% of copy (%g GB/s against %g)", r.Name(), r.PctCopy, r.GBps, copyRate)
		}
		if d := r.PctSgemm - 100*r.GFlops/ceil.SgemmGFlops; math.Abs(d) > 1e-9*max(r.PctSgemm, 1) {
			t.Errorf("%s: %g%% of SGEMM", r.Name(), r.PctSgemm)
		}
		// The bound is the largest of the three limits, so it is at least
		// each of the other two percentages.
		if r.PctBound < r.PctCopy*(1-1e-9) || r.PctBound < r.PctSgemm*(1-1e-9) || r.PctBound < 100*ceil.LaunchNS/r.MedianNS*(1-1e-9) {
			t.Errorf("%s: %g%% of the bound, %g%% of copy, %g%% of SGEMM, floor %g ns in %g ns",
				r.Name(), r.PctBound, r.PctCopy, r.PctSgemm, ceil.LaunchNS, r.MedianNS)
		}
		if len(r.Dims) == 0 || r.Shape == "" {
			t.Errorf("%s: no shape", r.Name())
		}
	}
}

func TestRunKernelsFilterAndNoValidate(t *testing.T) {
	o := tinyOptions(`^Softmax`)
	o.NoValidate = true
	rep, err := RunKernels(host.NewCPU(1), host.NewCPU(1), o, Ceilings{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rep.Results {
		names = append(names, r.Name())
		if r.Validated || r.PctCopy != 0 {
			t.Errorf("%s: validated %v, %g%% of no ceiling", r.Name(), r.Validated, r.PctCopy)
		}
	}
	if want := []string{"SoftmaxForward (attention)", "SoftmaxBackward (attention)"}; !slices.Equal(names, want) || rep.Reference != "" {
		t.Errorf("cases %q (reference %q), want %q", names, rep.Reference, want)
	}
}

// broken wraps a backend and spoils one op's output.
type broken struct {
	host.Backend
	op    string
	delta float32 // added to every output element
	nan   bool    // or make the first element NaN
}

func (b *broken) spoil(op string, y *host.F32) {
	if op != b.op {
		return
	}
	v := make([]float32, y.Len())
	b.Download(v, y)
	for i := range v {
		v[i] += b.delta
	}
	if b.nan {
		v[0] = float32(math.NaN())
	}
	b.Upload(y, v)
}

func (b *broken) Tanh(x, y *host.F32) { b.Backend.Tanh(x, y); b.spoil("Tanh", y) }
func (b *broken) SoftmaxForward(rows, cols int, scale float32, lengths *host.I32, rpl int, x, y *host.F32) {
	b.Backend.SoftmaxForward(rows, cols, scale, lengths, rpl, x, y)
	b.spoil("SoftmaxForward", y)
}
func (b *broken) Gemm(transA, transB bool, m, n, k int, alpha float32, a *host.F32, lda int, bb *host.F32, ldb int, beta float32, c *host.F32, ldc int) {
	b.Backend.Gemm(transA, transB, m, n, k, alpha, a, lda, bb, ldb, beta, c, ldc)
	b.spoil("Gemm", c)
}

// TestRunKernelsReportsBrokenOp checks the validation path: an op whose
// outputs are off beyond its tolerance (or NaN) is reported and not timed,
// the other ops pass, and an error within tolerance passes.
func TestRunKernelsReportsBrokenOp(t *testing.T) {
	tests := []struct {
		op, ops string
		delta   float32
		nan     bool
		fail    bool
	}{
		{op: "Tanh", ops: `^(Tanh|Axpy) `, delta: 1e-3, fail: true},
		{op: "Tanh", ops: `^(Tanh|Axpy) `, delta: 1e-8},
		{op: "Tanh", ops: `^(Tanh|Axpy) `, nan: true, fail: true},
		{op: "SoftmaxForward", ops: `^Softmax`, delta: 1e-2, fail: true},
		{op: "Gemm", ops: `^(Gemm|Axpy) `, delta: 1e-6},
		{op: "Gemm", ops: `^(Gemm|Axpy) `, delta: 0.1, fail: true},
	}
	for _, tc := range tests {
		be := &broken{Backend: host.NewCPU(1), op: tc.op, delta: tc.delta, nan: tc.nan}
		rep, err := RunKernels(be, host.NewCPU(1), tinyOptions(tc.ops), Ceilings{}, nil)
		if err != nil {
			t.Fatalf("%+v: %v", tc, err)
		}
		failed := 0
		for _, r := range rep.Results {
			bad := r.Op == tc.op && tc.fail
			switch {
			case bad && (r.Error == "" || r.Validated || r.MedianNS != 0):
				t.Errorf("%+v: %s passed (error %q, %g ns)", tc, r.Name(), r.Error, r.MedianNS)
			case bad && !strings.Contains(r.Error, ErrMismatch.Error()):
				t.Errorf("%+v: %s: error %q", tc, r.Name(), r.Error)
			case !bad && (r.Error != "" || !r.Validated):
				t.Errorf("%+v: %s failed: %s", tc, r.Name(), r.Error)
			}
			if bad {
				failed++
			}
		}
		if rep.Failed != failed || (tc.fail && failed == 0) || len(rep.Results) < 2 {
			t.Errorf("%+v: Failed = %d of %d, want %d", tc, rep.Failed, len(rep.Results), failed)
		}
	}
}

// erring is a backend whose Sync fails: RunKernels must stop with it.
type erring struct{ host.Backend }

func (erring) Sync() error { return errors.New("device lost") }

func TestRunKernelsBackendError(t *testing.T) {
	if _, err := MeasureCeilings(erring{host.NewCPU(1)}, tinyOptions("")); err == nil || !strings.Contains(err.Error(), "device lost") {
		t.Errorf("ceilings: %v", err)
	}
	_, err := RunKernels(erring{host.NewCPU(1)}, nil, tinyOptions("^Copy "), Ceilings{}, nil)
	if err == nil || !strings.Contains(err.Error(), "device lost") || !strings.Contains(err.Error(), "Copy ([B,T,2H]) B=3 T=5 H=8") {
		t.Errorf("cases: %v", err)
	}
}

func TestCeilingsBoundNS(t *testing.T) {
	c := Ceilings{CopyGBps: 4000, SgemmGFlops: 50000, LaunchNS: 2500}
	for _, tc := range []struct {
		name         string
		bytes, flops int64
		want         float64
	}{
		{"latency: 26 kB", 26_000, 18_000, 2500},
		{"bandwidth: 25 MB", 25_000_000, 4_000_000, 6250},
		{"compute: a large GEMM", 400_000_000, 1e12, 2e7},
		{"nothing moved", 0, 0, 2500},
	} {
		if got := c.BoundNS(tc.bytes, tc.flops); math.Abs(got-tc.want) > 1e-9*tc.want {
			t.Errorf("%s: bound %g ns, want %g", tc.name, got, tc.want)
		}
	}
	// Ceilings that were not measured drop out.
	if got := (Ceilings{LaunchNS: 10}).BoundNS(1e9, 1e12); got != 10 {
		t.Errorf("launch floor alone: %g ns, want 10", got)
	}
	if got := (Ceilings{CopyGBps: 1}).BoundNS(1000, 1e12); got != 1000 {
		t.Errorf("copy alone: %g ns, want 1000", got)
	}
}

// launcher is a backend that launches kernels, dependently or not.
type launcher struct {
	host.Backend
	dependent bool
}

func (l launcher) DependentLaunch() bool { return l.dependent }

func TestLaunchMode(t *testing.T) {
	cpu := host.NewCPU(1)
	for _, tc := range []struct {
		be   host.Backend
		want string
	}{
		{cpu, ""},
		{launcher{cpu, true}, "dependent"},
		{launcher{cpu, false}, "stream"},
	} {
		if got := LaunchMode(tc.be); got != tc.want {
			t.Errorf("LaunchMode(%T) = %q, want %q", tc.be, got, tc.want)
		}
	}
	// The kernel report carries it.
	tiny, err := ShapesNamed("tiny")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := RunKernels(launcher{cpu, false}, nil, KernelOptions{Shapes: tiny, Ops: regexp.MustCompile(`^Fill`), Budget: time.Millisecond}, Ceilings{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Launches != "stream" || len(rep.Results) == 0 {
		t.Errorf("report launches %q over %d results, want stream", rep.Launches, len(rep.Results))
	}
}

// TestTargetsSameBytesCopy checks that RunKernels times a copy of each
// target op's bytes, as it times the ops: under a timer that gives every
// call 10 µs, the copy takes 10 µs and the op runs at 100% of it.
func TestTargetsSameBytesCopy(t *testing.T) {
	be := &fixedTimer{Backend: host.NewCPU(1)}
	rep, err := RunKernels(be, nil, tinyOptions("^LSTMGatesForward"), Ceilings{CopyGBps: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Targets) != 1 {
		t.Fatalf("targets %+v, want LSTMGatesForward's", rep.Targets)
	}
	if g := rep.Targets[0]; g.SameBytesCopyNS != 10_000 || g.PctOfSameBytesCopy != 100 || g.MedianNS != 10_000 {
		t.Errorf("target %+v: want a 10 µs copy, 100%% of it", g)
	}
}

// waitingTimer is a backend whose ops wait for the device: a held group
// fails with host.ErrHostWaited, as the GPU backend's does.
type waitingTimer struct{ fixedTimer }

func (w *waitingTimer) TimeOps(n int, held bool, fn func()) (time.Duration, time.Duration, error) {
	if held {
		fn()
		return 0, 0, fmt.Errorf("TimeOps: %w", host.ErrHostWaited)
	}
	return w.fixedTimer.TimeOps(n, false, fn)
}

// TestMeasureHostWaited checks that an op that waits for the device inside
// a held group is timed without the hold, and says so.
func TestMeasureHostWaited(t *testing.T) {
	be := &waitingTimer{fixedTimer{Backend: host.NewCPU(1)}}
	tm, err := measure(be, func() {}, 5*time.Millisecond, true)
	if err != nil {
		t.Fatal(err)
	}
	if !tm.hostPaced || tm.device != 10*time.Microsecond || be.heldCalls != 0 || be.calls == 0 {
		t.Errorf("timing %+v, %d calls held, %d not: want it timed without the hold and marked", tm, be.heldCalls, be.calls)
	}
	if tm, err := measure(be, func() {}, 5*time.Millisecond, false); err != nil || tm.hostPaced {
		t.Errorf("not held: %+v, %v; want no mark", tm, err)
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		d    []time.Duration
		want time.Duration
	}{{[]time.Duration{5}, 5}, {[]time.Duration{9, 1, 5}, 5}, {[]time.Duration{8, 2, 4, 6}, 5}, {[]time.Duration{3, 1}, 2}} {
		if got := median(slices.Clone(tc.d)); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.d, got, tc.want)
		}
	}
}

// TestMeasureGroupCount checks the bounds on the groups measure times: at
// least three however small the budget, at most 31 however large.
func TestMeasureGroupCount(t *testing.T) {
	for _, tc := range []struct {
		budget time.Duration
		groups int
	}{{time.Microsecond, 3}, {20 * time.Millisecond, 20}, {100 * time.Millisecond, 31}} {
		be := &fixedTimer{Backend: host.NewCPU(1)}
		tm, err := measure(be, func() {}, tc.budget, false)
		if err != nil {
			t.Fatal(err)
		}
		// 10 µs a call: groups of 100 calls fill the 1 ms group target.
		if tm.calls != 100*tc.groups {
			t.Errorf("budget %v: %d calls timed, want %d groups of 100", tc.budget, tm.calls, tc.groups)
		}
	}
}

func TestRotationCopies(t *testing.T) {
	for _, tc := range []struct {
		footprint, rotate int64
		want              int
	}{
		{0, 1 << 20, 1},         // nothing to copy
		{100, 0, 1},             // no rotation asked
		{100, 100, 1},           // one copy fills it
		{100, 250, 3},           // enough copies to fill it: rounded up
		{100, 300, 3},           // exactly
		{3, 7, 3},               //
		{100, 1 << 40, 512},     // at most 512
		{1 << 20, 1 << 30, 512}, //
	} {
		if got := rotationCopies(tc.footprint, tc.rotate); got != tc.want {
			t.Errorf("rotationCopies(%d, %d) = %d, want %d", tc.footprint, tc.rotate, got, tc.want)
		}
	}
}

// TestCeilingsFromTimer checks the ceilings' arithmetic under a timer that
// gives every call 10 µs: the copy of two buffers of CopyBytes reads one
// and writes the other, and a square SGEMM of n does 2n³ FLOPs.
func TestCeilingsFromTimer(t *testing.T) {
	be := &fixedTimer{Backend: host.NewCPU(1)}
	o := tinyOptions("")
	c, err := MeasureCeilings(be, o)
	if err != nil {
		t.Fatal(err)
	}
	wantCopy := 2 * float64(o.CopyBytes) / 10e-6 / 1e9
	wantGemm := 2 * math.Pow(float64(o.GemmN), 3) / 10e-6 / 1e9
	if math.Abs(c.CopyGBps-wantCopy) > 1e-9*wantCopy || math.Abs(c.SgemmGFlops-wantGemm) > 1e-9*wantGemm {
		t.Errorf("copy %g GB/s, SGEMM %g GFLOP/s; want %g and %g", c.CopyGBps, c.SgemmGFlops, wantCopy, wantGemm)
	}
}

// sizeRecorder records the lengths of the buffers of its Copies and
// Scales.
type sizeRecorder struct {
	*fixedTimer
	copies, scales []int
}

func (s *sizeRecorder) Copy(dst, src *host.F32) {
	s.copies = append(s.copies, dst.Len())
	s.fixedTimer.Copy(dst, src)
}

func (s *sizeRecorder) Scale(alpha float32, x *host.F32) {
	s.scales = append(s.scales, x.Len())
	s.fixedTimer.Scale(alpha, x)
}

// TestSameBytesCopySize checks that the copy a target is compared with
// moves the op's bytes: half of them read and half written, by a Copy of
// bytes/8 floats or a Scale in place of as many. (The in-place form's
// timing also copies its buffers back from a pristine set: Copies of their
// sizes.)
func TestSameBytesCopySize(t *testing.T) {
	be := &sizeRecorder{fixedTimer: &fixedTimer{Backend: host.NewCPU(1)}}
	o := tinyOptions("^LSTMGatesForward")
	rep, err := RunKernels(be, nil, o, Ceilings{CopyGBps: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Targets) != 1 || len(be.scales) == 0 {
		t.Fatalf("targets %+v, %d scales", rep.Targets, len(be.scales))
	}
	restored := map[int]bool{} // the sizes of the in-place form's buffers
	for _, c := range cases(o.Shapes) {
		if c.op == "LSTMGatesForward" && c.inPlace {
			for _, n := range c.f32 {
				restored[n] = true
			}
		}
	}
	want := int(rep.Targets[0].Bytes / 8)
	if restored[want] || len(restored) == 0 {
		t.Fatalf("bad test: buffers of %v floats, the same-size copy %d", restored, want)
	}
	sameSize := 0
	for _, n := range be.copies {
		if n == want {
			sameSize++
		} else if !restored[n] {
			t.Fatalf("a copy of %d floats for %d bytes, want %d floats (copies %v)", n, rep.Targets[0].Bytes, want, be.copies)
		}
	}
	if sameSize == 0 {
		t.Errorf("no Copy of %d floats among %v", want, be.copies)
	}
	for _, n := range be.scales {
		if n != want {
			t.Fatalf("a Scale of %d floats for %d bytes, want %d floats (scales %v)", n, rep.Targets[0].Bytes, want, be.scales)
		}
	}
}

// TestReportJSONWithNaN checks that a report whose failed case has a NaN
// (or infinite) relative error still encodes as JSON, the error as null:
// the report of a kernel that wrote NaN (or left memory unwritten, NaN on
// the emulated device) is exactly the one to keep.
func TestReportJSONWithNaN(t *testing.T) {
	be := &broken{Backend: host.NewCPU(1), op: "Tanh", nan: true}
	rep, err := RunKernels(be, host.NewCPU(1), tinyOptions(`^(Tanh|Axpy) `), Ceilings{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	bad, good := 0, 1 // Tanh's result, Axpy's
	if rep.Results[0].Op != "Tanh" {
		bad, good = 1, 0
	}
	if rep.Failed != 1 || len(rep.Results) != 2 || rep.Results[bad].Op != "Tanh" || !math.IsNaN(rep.Results[bad].MaxErr) {
		t.Fatalf("%d failed; results %+v; want Tanh failed with a NaN error", rep.Failed, rep.Results)
	}
	rep.Results[good].MaxErr = math.Inf(1)
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var back KernelReport
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Results []map[string]any `json:"results"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	for i, r := range raw.Results {
		if v, ok := r["max_rel_err"]; !ok || v != nil {
			t.Errorf("result %d: max_rel_err %v (present %v), want null", i, v, ok)
		}
	}
	if back.Failed != 1 || back.Results[bad].Error == "" || back.Results[bad].Op != "Tanh" || back.Results[good].Tolerance != rep.Results[good].Tolerance {
		t.Errorf("read back %+v", back.Results)
	}
	// A finite error is a number.
	ok := KernelResult{Op: "Fill", MaxErr: 2.5e-7}
	if b, err := json.Marshal(ok); err != nil || !strings.Contains(string(b), `"max_rel_err":2.5e-7`) {
		t.Errorf("finite error: %s, %v", b, err)
	}
}
