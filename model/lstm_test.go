package model

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/emotionlab/emotion/host"
)

// refLSTM is an independent float64 (bi)LSTM over packed sequences, with
// PyTorch's formulas: per direction d, weights wih[d] [4H, in], whh[d]
// [4H, H], biases bih[d], bhh[d] [4H], gates i, f, g, o.
type refLSTM struct {
	in, hidden, dirs   int
	wih, whh, bih, bhh [][]float64
}

// forward returns the output [B, T, dirs·H] (zeros at padding) and the final
// states hn[d] [B, H].
func (r *refLSTM) forward(B, T int, x []float64, lengths []int) (out []float64, hn [][]float64) {
	H, E, D := r.hidden, r.in, r.dirs
	out = make([]float64, B*T*D*H)
	hn = make([][]float64, D)
	for d := range D {
		hn[d] = make([]float64, B*H)
		for b := range B {
			L := lengths[b]
			h := make([]float64, H)
			c := make([]float64, H)
			for k := range L {
				t := k
				if d == 1 {
					t = L - 1 - k
				}
				g := make([]float64, 4*H)
				for j := range 4 * H {
					s := r.bih[d][j] + r.bhh[d][j]
					for e := range E {
						s += r.wih[d][j*E+e] * x[(b*T+t)*E+e]
					}
					for m := range H {
						s += r.whh[d][j*H+m] * h[m]
					}
					g[j] = s
				}
				for m := range H {
					i := sigmoid(g[m])
					f := sigmoid(g[H+m])
					gg := math.Tanh(g[2*H+m])
					o := sigmoid(g[3*H+m])
					c[m] = f*c[m] + i*gg
					h[m] = o * math.Tanh(c[m])
					out[(b*T+t)*D*H+d*H+m] = h[m]
				}
			}
			copy(hn[d][b*H:], h)
		}
	}
	return out, hn
}

func TestLSTMGradients(t *testing.T) {
	tests := []struct {
		name          string
		batch, steps  int
		in, hidden    int
		bidirectional bool
		lengths       []int
		dOut, dFinal  bool // which output gradients Backward gets
	}{
		{"uni/out+final", 3, 5, 7, 5, false, []int{5, 1, 3}, true, true},
		{"bi/out+final", 3, 5, 7, 5, true, []int{2, 5, 1}, true, true},
		{"bi/out only", 3, 5, 7, 5, true, []int{1, 3, 5}, true, false},
		{"bi/final only", 3, 5, 7, 5, true, []int{5, 4, 1}, false, true},
		{"bi/batch of one", 1, 4, 3, 2, true, []int{4}, true, true},
		{"bi/all full", 2, 3, 5, 3, true, []int{3, 3}, true, true},
		{"bi/empty row", 3, 4, 3, 2, true, []int{0, 4, 2}, true, true},
	}
	worst := 0.0
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			be := newBackend(t)
			rng := testRand(uint64(len(tc.name)))
			l, err := NewLSTM(be, NewRNG(7), LSTMConfig{Prefix: "lstm", In: tc.in, Hidden: tc.hidden, Bidirectional: tc.bidirectional})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Release()
			B, T, E, H, D := tc.batch, tc.steps, tc.in, tc.hidden, l.Dirs
			ref := &refLSTM{in: E, hidden: H, dirs: D}
			var vars []gradVar
			for d := range D {
				// Draw fresh values with a larger spread than the
				// initialisation, to exercise saturating gates.
				for _, p := range []*Param{l.WeightIH[d], l.WeightHH[d], l.BiasIH[d], l.BiasHH[d]} {
					v := randVals(rng, p.Len(), 0.8)
					setParam(be, p, v)
					vars = append(vars, gradVar{name: p.Name, vals: v})
				}
				ref.wih = append(ref.wih, vars[4*d].vals)
				ref.whh = append(ref.whh, vars[4*d+1].vals)
				ref.bih = append(ref.bih, vars[4*d+2].vals)
				ref.bhh = append(ref.bhh, vars[4*d+3].vals)
			}
			x := randVals(rng, B*T*E, 1) // padding holds values too: they must not matter
			xb, lb := upload(be, x), uploadInts(be, tc.lengths)
			out := l.Forward(B, T, xb, lb)
			wantOut, wantHn := ref.forward(B, T, x, tc.lengths)
			checkForward(t, "output", download(t, be, out), wantOut)
			for d := range D {
				checkForward(t, fmt.Sprintf("h_n[%d]", d), download(t, be, l.Final(d)), wantHn[d])
			}

			rOut := randVals(rng, B*T*D*H, 1)
			rFin := [][]float64{randVals(rng, B*H, 1), randVals(rng, B*H, 1)}
			var dOut *host.F32
			if tc.dOut {
				dOut = upload(be, rOut)
			}
			var dFinal []*host.F32
			if tc.dFinal {
				for d := range D {
					dFinal = append(dFinal, upload(be, rFin[d]))
				}
			}
			dx := l.Backward(dOut, dFinal...)
			for i, p := range l.Params() {
				vars[i].got = download(t, be, p.Grad)
			}
			vars = append(vars, gradVar{name: "x", vals: x, got: download(t, be, dx)})
			loss := func() float64 {
				o, hn := ref.forward(B, T, x, tc.lengths)
				s := 0.0
				if tc.dOut {
					s += dotLoss(o, rOut)
				}
				if tc.dFinal {
					for d := range D {
						s += dotLoss(hn[d], rFin[d])
					}
				}
				return s
			}
			worst = max(worst, checkGrads(t, vars, loss))
		})
	}
	t.Logf("LSTM: worst gradient relative error over all cases %.3g", worst)
}

// TestLSTMByHand checks one BiLSTM against numbers worked out by hand.
// With W_hh = 0 and zero biases, pre-activations of ln 3 and ln 2 give
// σ(ln 3) = 3/4 and tanh(ln 2) = 3/5 exactly, and a zero input gives
// σ(0) = 1/2, tanh(0) = 0.
//
// Forward weights W_ih = [ln3, ln3, ln2, ln3] (i, f, g, o), reverse
// [ln3, ln3, ln2, 0]. Sequence 0 is x = (1, 0):
//
//	fwd t0: c = ¾·⅗ = 0.45,        h = ¾·tanh(0.45) = 0.316424253937506
//	fwd t1: c = ½·0.45 = 0.225,    h = ½·tanh(0.225) = 0.110639233949222
//	rev t1 (first): c = 0, h = 0
//	rev t0: c = ½·0 + ¾·⅗ = 0.45, h = ½·tanh(0.45) = 0.210949502625004
//
// Sequence 1 is x = (1, 7) with length 1: the 7 is padding, so both
// directions see only the 1 and the reverse one starts there.
func TestLSTMByHand(t *testing.T) {
	be := newBackend(t)
	l, err := NewLSTM(be, NewRNG(1), LSTMConfig{Prefix: "lstm", In: 1, Hidden: 1, Bidirectional: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	ln2, ln3 := math.Log(2), math.Log(3)
	setParam(be, l.WeightIH[0], []float64{ln3, ln3, ln2, ln3})
	setParam(be, l.WeightIH[1], []float64{ln3, ln3, ln2, 0})
	for d := range 2 {
		for _, p := range []*Param{l.WeightHH[d], l.BiasIH[d], l.BiasHH[d]} {
			be.Fill(p.Value, 0)
		}
	}
	const (
		f0 = 0.316424253937506
		f1 = 0.110639233949222
		r0 = 0.210949502625004
	)
	out := l.Forward(2, 2, upload(be, []float64{1, 0, 1, 7}), uploadInts(be, []int{2, 1}))
	checks := []struct {
		what string
		buf  *host.F32
		want []float64
	}{
		// [batch, steps, fwd|rev]
		{"output", out, []float64{f0, r0, f1, 0, f0, r0, 0, 0}},
		{"h_n forward", l.Final(0), []float64{f1, f0}},
		{"h_n reverse", l.Final(1), []float64{r0, r0}},
	}
	for _, c := range checks {
		got := download(t, be, c.buf)
		for i := range got {
			if math.Abs(float64(got[i])-c.want[i]) > 1e-6 {
				t.Errorf("%s = %v, want %v", c.what, got, c.want)
				break
			}
		}
	}
}

// TestLSTMPaddingInvariance checks packed semantics: a sequence gives the
// same outputs and final states alone and padded inside a longer batch,
// whatever the padding holds.
func TestLSTMPaddingInvariance(t *testing.T) {
	for _, bidir := range []bool{false, true} {
		t.Run(fmt.Sprintf("bidirectional=%v", bidir), func(t *testing.T) {
			be := newBackend(t)
			l, err := NewLSTM(be, NewRNG(3), LSTMConfig{In: 4, Hidden: 3, Bidirectional: bidir})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Release()
			rng := testRand(11)
			const E, L, T = 4, 3, 6
			seq := randVals(rng, L*E, 1)

			// Alone: batch of one, steps = its length.
			out := l.Forward(1, L, upload(be, seq), uploadInts(be, []int{L}))
			alone := download(t, be, out)
			var aloneFinal [][]float32
			for d := range l.Dirs {
				aloneFinal = append(aloneFinal, download(t, be, l.Final(d)))
			}

			// Padded: row 1 of a batch of 2 with 6 steps, garbage padding.
			x := randVals(rng, 2*T*E, 5)
			copy(x[T*E:], seq)
			out = l.Forward(2, T, upload(be, x), uploadInts(be, []int{T, L}))
			padded := download(t, be, out)
			DH := l.Dirs * l.Hidden
			for i := range L * DH {
				if d := math.Abs(float64(padded[T*DH+i] - alone[i])); d > 1e-6 {
					t.Fatalf("output %d differs by %g padded: %v vs %v", i, d, padded[T*DH:T*DH+L*DH], alone)
				}
			}
			for i := L * DH; i < T*DH; i++ {
				if padded[T*DH+i] != 0 {
					t.Fatalf("padded output %d = %g, want 0", i, padded[T*DH+i])
				}
			}
			for d := range l.Dirs {
				fin := download(t, be, l.Final(d))[l.Hidden:]
				for i := range fin {
					if math.Abs(float64(fin[i]-aloneFinal[d][i])) > 1e-6 {
						t.Fatalf("h_n[%d] padded %v, alone %v", d, fin, aloneFinal[d])
					}
				}
			}
		})
	}
}

func TestLSTMParams(t *testing.T) {
	be := newBackend(t)
	l, err := NewLSTM(be, NewRNG(5), LSTMConfig{Prefix: "enc.lstm", Layer: 1, In: 6, Hidden: 4, Bidirectional: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	want := []struct {
		name  string
		shape []int
	}{
		{"enc.lstm.weight_ih_l1", []int{16, 6}},
		{"enc.lstm.weight_hh_l1", []int{16, 4}},
		{"enc.lstm.bias_ih_l1", []int{16}},
		{"enc.lstm.bias_hh_l1", []int{16}},
		{"enc.lstm.weight_ih_l1_reverse", []int{16, 6}},
		{"enc.lstm.weight_hh_l1_reverse", []int{16, 4}},
		{"enc.lstm.bias_ih_l1_reverse", []int{16}},
		{"enc.lstm.bias_hh_l1_reverse", []int{16}},
	}
	ps := l.Params()
	if len(ps) != len(want) {
		t.Fatalf("%d params, want %d", len(ps), len(want))
	}
	bound := 1 / math.Sqrt(4) // PyTorch: U(−1/√hidden, 1/√hidden), whatever the input size
	var largest float64       // the largest |value| of the layer's 384 draws
	for i, p := range ps {
		if p.Name != want[i].name || fmt.Sprint(p.Shape) != fmt.Sprint(want[i].shape) {
			t.Errorf("param %d = %s %v, want %s %v", i, p.Name, p.Shape, want[i].name, want[i].shape)
		}
		if p.Value.Len() != p.Len() || p.Grad.Len() != p.Len() {
			t.Errorf("%s: buffers of %d and %d elements, want %d", p.Name, p.Value.Len(), p.Grad.Len(), p.Len())
		}
		v := download(t, be, p.Value)
		lo, hi := 0.0, 0.0
		for _, x := range v {
			lo, hi = min(lo, float64(x)), max(hi, float64(x))
		}
		if lo < -bound || hi > bound || hi-lo < bound/2 {
			t.Errorf("%s: values in [%g, %g], want spread over U(−%g, %g)", p.Name, lo, hi, bound, bound)
		}
		largest = max(largest, -lo, hi)
	}
	// Of 384 draws of U(−b, b), none above 0.9·b has probability 0.9³⁸⁴:
	// a smaller bound (1/√in = 0.41 here, the input size's) would show.
	if largest < 0.9*bound {
		t.Errorf("largest |value| %g, want the bound %g of U(−1/√hidden, 1/√hidden) nearly reached", largest, bound)
	}
	if NumParams(l) != 2*(16*6+16*4+32) {
		t.Errorf("NumParams = %d", NumParams(l))
	}
	if _, err := NewLSTM(be, NewRNG(1), LSTMConfig{In: 0, Hidden: 3}); err == nil {
		t.Error("NewLSTM accepted in = 0")
	}
}

// TestLSTMBackwardAccumulates checks that a second Forward and Backward
// add to the parameter gradients, that a second Backward after one Forward
// (whose saved gates the first overwrote) panics, and that buffers are
// reused for a smaller batch.
func TestLSTMBackwardAccumulates(t *testing.T) {
	be := newBackend(t)
	l, err := NewLSTM(be, NewRNG(9), LSTMConfig{In: 3, Hidden: 2, Bidirectional: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	rng := testRand(2)
	x, lengths := upload(be, randVals(rng, 2*4*3, 1)), uploadInts(be, []int{4, 2})
	dOut := upload(be, randVals(rng, 2*4*4, 1))
	l.Forward(2, 4, x, lengths)
	l.Backward(dOut)
	once := download(t, be, l.WeightHH[1].Grad)
	l.Forward(2, 4, x, lengths)
	l.Backward(dOut)
	twice := download(t, be, l.WeightHH[1].Grad)
	for i := range once {
		if math.Abs(float64(twice[i]-2*once[i])) > 1e-5*(1+math.Abs(float64(once[i]))) {
			t.Fatalf("grad after two Backward %v, want twice %v", twice, once)
		}
	}
	func() {
		defer func() {
			if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "twice after one Forward") {
				t.Errorf("a second Backward after one Forward: recovered %v, want a panic saying so", r)
			}
		}()
		l.Backward(dOut)
	}()
	l.Forward(1, 3, x.Slice(0, 9), uploadInts(be, []int{3}))
	if l.out.all.Len() != 2*4*4 {
		t.Errorf("output allocation %d elements after a smaller batch, want it kept at %d", l.out.all.Len(), 2*4*4)
	}
}

// BenchmarkBiLSTM is one BiLSTM layer forward and backward, E=128, H=64,
// batch 32, 50 steps, every sequence full length. FLOPs counted are the
// GEMMs' 2·m·n·k per direction: forward input projection 2·B·T·E·4H and
// recurrence 2·B·(T−1)·H·4H; backward three times as much (dW_ih and dx;
// dW_hh and dh_{s−1}). Elementwise gate work is not counted.
func BenchmarkBiLSTM(b *testing.B) {
	const B, T, E, H = 32, 50, 128, 64
	be := host.NewCPU(0)
	l, err := NewLSTM(be, NewRNG(1), LSTMConfig{In: E, Hidden: H, Bidirectional: true})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Release()
	rng := testRand(1)
	lengths := make([]int, B)
	for i := range lengths {
		lengths[i] = T
	}
	x, lb := upload(be, randVals(rng, B*T*E, 1)), uploadInts(be, lengths)
	dOut := upload(be, randVals(rng, B*T*2*H, 1))
	flops := 2.0 * 3 * (2*B*T*E*4*H + 2*B*(T-1)*H*4*H)
	b.ResetTimer()
	for range b.N {
		l.Forward(B, T, x, lb)
		l.Backward(dOut)
	}
	if err := be.Sync(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// TestLSTMNoInputGrad checks that NoInputGrad returns no input gradient,
// allocates none, and leaves the parameter gradients as they are without it.
func TestLSTMNoInputGrad(t *testing.T) {
	be := newBackend(t)
	rng := testRand(3)
	x, lengths := upload(be, randVals(rng, 3*4*3, 1)), uploadInts(be, []int{4, 1, 3})
	dOut := upload(be, randVals(rng, 3*4*4, 1))
	var grads [2][][]float32
	for i, skip := range []bool{false, true} {
		l, err := NewLSTM(be, NewRNG(9), LSTMConfig{In: 3, Hidden: 2, Bidirectional: true})
		if err != nil {
			t.Fatal(err)
		}
		l.NoInputGrad = skip
		l.Forward(3, 4, x, lengths)
		if dx := l.Backward(dOut); (dx == nil) != skip {
			t.Errorf("NoInputGrad %v: Backward returned %v", skip, dx)
		}
		if skip && (l.dxtm.all != nil || l.dx.all != nil) {
			t.Error("NoInputGrad: input-gradient buffers were allocated")
		}
		for _, p := range l.Params() {
			grads[i] = append(grads[i], download(t, be, p.Grad))
		}
		l.Release()
	}
	for i := range grads[0] {
		if !slices.Equal(grads[0][i], grads[1][i]) {
			t.Errorf("parameter %d: gradient with NoInputGrad differs", i)
		}
	}
}
