package model

import (
	"slices"
	"testing"

	"github.com/emotionlab/emotion/host"
)

// TestLSTMForwardSorted checks that computing only the running rows of each
// step (ForwardSorted, rows sorted longest first) gives what Forward gives:
// outputs, final states, the input gradient and every parameter gradient;
// and so does ForwardSorted with wholeSteps (the GPU's choice: the
// non-recurrent GEMMs over every row, padding included), with the bias
// gradients as a GEMM or as BiasGrads.
func TestLSTMForwardSorted(t *testing.T) {
	for _, tc := range []struct {
		name    string
		lengths []int
		hidden  int
	}{
		{"ragged with empty rows", []int{6, 6, 4, 3, 3, 1, 0, 0}, 3},
		{"all full", []int{5, 5, 5}, 3},
		{"one long row", []int{7, 1, 1, 1}, 3},
		{"unsorted falls back", []int{2, 6, 4}, 3},
		{"hidden above the fused-step limit", []int{4, 3, 1}, fusedStepMaxHidden + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			B, T, E, H := len(tc.lengths), 0, 5, tc.hidden
			for _, n := range tc.lengths {
				T = max(T, n)
			}
			host32 := make([]int32, B)
			for i, n := range tc.lengths {
				host32[i] = int32(n)
			}
			rng := testRand(9)
			x := randVals(rng, B*T*E, 1)
			dOut := randVals(rng, B*T*2*H, 1)
			dFin := [2][]float64{randVals(rng, B*H, 1), randVals(rng, B*H, 1)}
			type result struct {
				out, fin0, fin1, dx []float32
				grads               [][]float32
			}
			runOnce := func(sorted, wholeSteps bool) result {
				be := newBackend(t)
				l, err := NewLSTM(be, NewRNG(3), LSTMConfig{In: E, Hidden: H, Bidirectional: true})
				if err != nil {
					t.Fatal(err)
				}
				defer l.Release()
				l.wholeSteps = wholeSteps
				xs, lens := upload(be, x), uploadInts(be, tc.lengths)
				var out = l.Forward
				if sorted {
					out = func(b, s int, x_ *host.F32, l_ *host.I32) *host.F32 { return l.ForwardSorted(b, s, x_, l_, host32) }
				}
				var r result
				r.out = download(t, be, out(B, T, xs, lens))
				r.fin0, r.fin1 = download(t, be, l.Final(0)), download(t, be, l.Final(1))
				r.dx = download(t, be, l.Backward(upload(be, dOut), upload(be, dFin[0]), upload(be, dFin[1])))
				for _, p := range l.Params() {
					r.grads = append(r.grads, download(t, be, p.Grad))
				}
				return r
			}
			want := runOnce(false, false)
			defaultRows := biasGemmMaxRows
			defer func() { biasGemmMaxRows = defaultRows }()
			// wholeSteps takes its bias gradients as a GEMM, or, for more
			// rows than biasGemmMaxRows, as BiasGrads.
			for _, mode := range []struct {
				whole    bool
				gemmRows int
			}{{false, defaultRows}, {true, defaultRows}, {true, 0}} {
				whole := mode.whole
				biasGemmMaxRows = mode.gemmRows
				got := runOnce(true, whole)
				check := func(what string, g, w []float32) {
					if e := relErr(g, to64(w)); e > 1e-6 {
						t.Errorf("%s: relative error %.2g between ForwardSorted (wholeSteps %v, bias GEMM up to %d rows) and Forward", what, e, whole, mode.gemmRows)
					}
				}
				check("output", got.out, want.out)
				check("final 0", got.fin0, want.fin0)
				check("final 1", got.fin1, want.fin1)
				check("dx", got.dx, want.dx)
				for i := range want.grads {
					check("grad "+string(rune('0'+i)), got.grads[i], want.grads[i])
				}
			}
		})
	}
}

// TestLSTMFinalOnly checks that an LSTM that computes only its final states
// gives the final states, input gradient and parameter gradients of one that
// also computes its output, when no output gradient flows back.
func TestLSTMFinalOnly(t *testing.T) {
	const B, T, E, H = 4, 5, 3, 4
	lengths := []int{5, 3, 3, 0}
	rng := testRand(11)
	x := randVals(rng, B*T*E, 1)
	dFin := [2][]float64{randVals(rng, B*H, 1), randVals(rng, B*H, 1)}
	for _, whole := range []bool{false, true} {
		run := func(finalOnly bool) [][]float32 {
			be := newBackend(t)
			l, err := NewLSTM(be, NewRNG(5), LSTMConfig{In: E, Hidden: H, Bidirectional: true})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Release()
			l.wholeSteps, l.FinalOnly = whole, finalOnly
			out := l.Forward(B, T, upload(be, x), uploadInts(be, lengths))
			if (out == nil) != finalOnly {
				t.Fatalf("FinalOnly %v: output %v", finalOnly, out)
			}
			r := [][]float32{download(t, be, l.Final(0)), download(t, be, l.Final(1))}
			r = append(r, download(t, be, l.Backward(nil, upload(be, dFin[0]), upload(be, dFin[1]))))
			for _, p := range l.Params() {
				r = append(r, download(t, be, p.Grad))
			}
			return r
		}
		want, got := run(false), run(true)
		for i := range want {
			if !slices.Equal(got[i], want[i]) {
				t.Errorf("wholeSteps %v: result %d differs with FinalOnly", whole, i)
			}
		}
	}
}

// TestLSTMForwardSortedActiveRows: with rows sorted longest first, step s
// computes exactly the rows still running, those whose length exceeds s
// (padding costs nothing); unsorted rows, or host lengths that do not
// match the batch, compute every row at every step.
func TestLSTMForwardSortedActiveRows(t *testing.T) {
	be := newBackend(t)
	const E, H = 2, 2
	l, err := NewLSTM(be, NewRNG(1), LSTMConfig{In: E, Hidden: H, Bidirectional: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	for _, tc := range []struct {
		lengths []int
		host    []int32
		want    []int
	}{
		{[]int{4, 2, 2, 0}, []int32{4, 2, 2, 0}, []int{3, 3, 1, 1}},
		{[]int{3, 3}, []int32{3, 3}, []int{2, 2, 2}},
		{[]int{1, 3}, []int32{1, 3}, []int{2, 2, 2}},    // unsorted
		{[]int{3, 1}, []int32{3, 1, 0}, []int{2, 2, 2}}, // not the batch's
	} {
		B, T := len(tc.lengths), len(tc.want)
		x := upload(be, randVals(testRand(2), B*T*E, 1))
		lens := uploadInts(be, tc.lengths)
		l.ForwardSorted(B, T, x, lens, tc.host)
		if !slices.Equal(l.active, tc.want) {
			t.Errorf("lengths %v (host %v): rows per step %v, want %v", tc.lengths, tc.host, l.active, tc.want)
		}
		be.Free(x)
		be.FreeI32(lens)
	}
}
