package model

import (
	"fmt"
	"math"
	"testing"
)

// refMHA is an independent float64 torch.nn.MultiheadAttention self-attention
// (batch_first, key_padding_mask from lengths) over x [B, T, E].
func refMHA(B, T, E, heads int, x, win, bin, wout, bout []float64, lengths []int) []float64 {
	d := E / heads
	out := make([]float64, B*T*E)
	for b := range B {
		L := lengths[b]
		qkv := make([]float64, T*3*E)
		for t := range T {
			for j := range 3 * E {
				s := bin[j]
				for e := range E {
					s += win[j*E+e] * x[(b*T+t)*E+e]
				}
				qkv[t*3*E+j] = s
			}
		}
		o := make([]float64, T*E)
		for h := range heads {
			for t := range T { // every query row, padded ones too
				s := make([]float64, L)
				for u := range L {
					for k := range d {
						s[u] += qkv[t*3*E+h*d+k] * qkv[u*3*E+E+h*d+k]
					}
				}
				p := refSoftmax(s, 1/math.Sqrt(float64(d)))
				for k := range d {
					for u := range L {
						o[t*E+h*d+k] += p[u] * qkv[u*3*E+2*E+h*d+k]
					}
				}
			}
		}
		for t := range T {
			for i := range E {
				s := bout[i]
				for j := range E {
					s += wout[i*E+j] * o[t*E+j]
				}
				out[(b*T+t)*E+i] = s
			}
		}
	}
	return out
}

func TestMultiheadAttentionGradients(t *testing.T) {
	tests := []struct {
		batch, steps, embed, heads int
		lengths                    []int
	}{
		{3, 5, 6, 2, []int{5, 1, 3}},
		{2, 4, 6, 3, []int{2, 4}},
		{2, 3, 5, 1, []int{3, 1}},
		{1, 4, 4, 2, []int{4}},
		{3, 3, 4, 2, []int{3, 0, 2}}, // an empty sequence: every key masked
	}
	worst := 0.0
	for _, tc := range tests {
		for _, batched := range []bool{false, true} { // one GEMM per head, or per product (a GPU's choice)
			t.Run(fmt.Sprintf("B%d_T%d_E%d_h%d_batched%v", tc.batch, tc.steps, tc.embed, tc.heads, batched), func(t *testing.T) {
				be := newBackend(t)
				m, err := NewMultiheadAttention(be, NewRNG(3), "attn", tc.embed, tc.heads)
				if err != nil {
					t.Fatal(err)
				}
				defer m.Release()
				m.batchedHeads = batched
				rng := testRand(uint64(tc.embed*10 + tc.heads))
				B, T, E := tc.batch, tc.steps, tc.embed
				var vars []gradVar
				for _, p := range m.Params() {
					v := randVals(rng, p.Len(), 0.7)
					setParam(be, p, v)
					vars = append(vars, gradVar{name: p.Name, vals: v})
				}
				win, bin, wout, bout := vars[0].vals, vars[1].vals, vars[2].vals, vars[3].vals
				x := randVals(rng, B*T*E, 1)
				y := m.Forward(B, T, upload(be, x), uploadInts(be, tc.lengths))
				checkForward(t, "output", download(t, be, y), refMHA(B, T, E, tc.heads, x, win, bin, wout, bout, tc.lengths))

				r := randVals(rng, B*T*E, 1)
				// Two Backward calls: parameter gradients accumulate, the
				// input gradient does not.
				m.Backward(upload(be, r))
				dx := m.Backward(upload(be, r))
				for i, p := range m.Params() {
					vars[i].got = download(t, be, p.Grad)
					for j := range vars[i].got {
						vars[i].got[j] /= 2
					}
				}
				vars = append(vars, gradVar{name: "x", vals: x, got: download(t, be, dx)})
				worst = max(worst, checkGrads(t, vars, func() float64 {
					return dotLoss(refMHA(B, T, E, tc.heads, x, win, bin, wout, bout, tc.lengths), r)
				}))
			})
		}
	}
	t.Logf("MultiheadAttention: worst gradient relative error %.3g", worst)
}

// TestMultiheadAttentionByHand uses identity projections, zero biases and
// two tokens x₀ = (1, 0), x₁ = (0, 1), so that Q = K = V = x.
//
// One head (scale 1/√2): the scores of query 0 are (1/√2, 0), its weights
// (a/(a+1), 1/(a+1)) with a = e^{1/√2} = 2.0281149816, that is
// (0.669761549327, 0.330238450673), and its output is that same pair.
//
// Two heads of width 1 (scale 1): head 0 sees column 0, where query 0
// scores the keys (1, 0), weights (e/(e+1), 1/(e+1)) = (0.731058578630,
// 0.268941421370), output 0.731058578630·1 + 0.268941421370·0; head 1 sees
// column 1, where query 0 scores (0, 0) and outputs ½·0 + ½·1 = ½.
//
// A second sequence of length 1 (x₁ padding) attends only to its first
// key, so both its rows output x₀ = (1, 0).
func TestMultiheadAttentionByHand(t *testing.T) {
	const p1, q1 = 0.669761549327, 0.330238450673
	const p2 = 0.731058578630
	tests := []struct {
		heads int
		want  []float64
	}{
		{1, []float64{p1, q1, q1, p1, 1, 0, 1, 0}},
		{2, []float64{p2, 0.5, 0.5, p2, 1, 0, 1, 0}},
	}
	for _, tc := range tests {
		be := newBackend(t)
		m, err := NewMultiheadAttention(be, NewRNG(1), "", 2, tc.heads)
		if err != nil {
			t.Fatal(err)
		}
		setParam(be, m.InWeight, []float64{1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1})
		setParam(be, m.OutProj.Weight, []float64{1, 0, 0, 1})
		be.Fill(m.InBias.Value, 0)
		be.Fill(m.OutProj.Bias.Value, 0)
		x := []float64{1, 0, 0, 1, 1, 0, 0, 1}
		got := download(t, be, m.Forward(2, 2, upload(be, x), uploadInts(be, []int{2, 1})))
		for i := range got {
			if math.Abs(float64(got[i])-tc.want[i]) > 1e-6 {
				t.Errorf("heads %d: output %v, want %v", tc.heads, got, tc.want)
				break
			}
		}
		m.Release()
	}
}

func TestMultiheadAttentionInit(t *testing.T) {
	be := newBackend(t)
	if _, err := NewMultiheadAttention(be, NewRNG(1), "", 6, 4); err == nil {
		t.Error("accepted embed 6 with 4 heads")
	}
	m, err := NewMultiheadAttention(be, NewRNG(1), "self_attn", 8, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Release()
	names := []string{"self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight", "self_attn.out_proj.bias"}
	bounds := []float64{math.Sqrt(6.0 / 32), 0, 1 / math.Sqrt(8), 0}
	for i, p := range m.Params() {
		if p.Name != names[i] {
			t.Errorf("param %d named %q, want %q", i, p.Name, names[i])
		}
		v := download(t, be, p.Value)
		hi := 0.0
		for _, x := range v {
			hi = max(hi, math.Abs(float64(x)))
		}
		if hi > bounds[i] || (bounds[i] > 0 && hi < bounds[i]/2) {
			t.Errorf("%s: max |value| %g, want within U(±%g) and spread", p.Name, hi, bounds[i])
		}
	}
}
