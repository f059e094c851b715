package host

import (
	"fmt"
	"math"
	"testing"
)

// refLSTM runs the LSTM cell over all steps in float64 with the carry rule
// of LSTMGatesForward, on [dirs, steps, batch, ·] buffers whose
// pre-activations are given (no recurrent weights: pre is a free input).
func refLSTM(dirs, steps, batch, hidden int, lengths []int32, pre []float64) (act, c, h []float64) {
	H := hidden
	act = make([]float64, 4*dirs*steps*batch*H)
	c = make([]float64, dirs*steps*batch*H)
	h = make([]float64, dirs*steps*batch*H)
	sig := func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
	for d := range dirs {
		for b := range batch {
			cp, hp := make([]float64, H), make([]float64, H)
			for s := range steps {
				row := (d*steps+s)*batch + b
				if s < int(lengths[b]) {
					for j := range H {
						i := sig(pre[4*row*H+j])
						f := sig(pre[4*row*H+H+j])
						g := math.Tanh(pre[4*row*H+2*H+j])
						o := sig(pre[4*row*H+3*H+j])
						act[4*row*H+j], act[4*row*H+H+j], act[4*row*H+2*H+j], act[4*row*H+3*H+j] = i, f, g, o
						cp[j] = f*cp[j] + i*g
						hp[j] = o * math.Tanh(cp[j])
					}
				}
				copy(c[row*H:(row+1)*H], cp)
				copy(h[row*H:(row+1)*H], hp)
			}
		}
	}
	return act, c, h
}

type lstmCase struct {
	dirs, steps, batch, hidden int
	lengths                    []int32
}

func (l lstmCase) String() string {
	return fmt.Sprintf("dirs=%d,steps=%d,batch=%d,hidden=%d,lengths=%v", l.dirs, l.steps, l.batch, l.hidden, l.lengths)
}

func TestLSTMGatesForward(t *testing.T) {
	tests := []lstmCase{
		{1, 1, 1, 1, []int32{1}},
		{1, 3, 1, 7, []int32{3}},
		{2, 5, 3, 7, []int32{5, 2, 0}},
		{2, 4, 33, 65, nil},
		{1, 6, 7, 33, []int32{6, 1, 3, 0, 6, 5, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.String(), func(t *testing.T) {
			h := newCPUHarness(t, 3)
			if tt.lengths == nil {
				tt.lengths = h.lengths(tt.batch, tt.steps)
			}
			n := tt.dirs * tt.steps * tt.batch * tt.hidden
			pv := h.rand(4 * n)
			for i := range pv {
				pv[i] *= 3
			}
			pre, lens := h.up(pv), h.upI(tt.lengths)
			// Garbage in the outputs must be overwritten, except the gates
			// of ended rows, which are left as they are.
			a0 := h.rand(4 * n)
			act, c, hs := h.up(a0), h.up(h.rand(n)), h.up(h.rand(n))
			for s := range tt.steps {
				h.c.LSTMGatesForward(tt.dirs, tt.steps, tt.batch, tt.hidden, s, lens, pre, act, c, hs)
			}
			wa, wc, wh := refLSTM(tt.dirs, tt.steps, tt.batch, tt.hidden, tt.lengths, cpuF64(pv))
			for d := range tt.dirs {
				for s := range tt.steps {
					for b := range tt.batch {
						if s >= int(tt.lengths[b]) {
							row := (d*tt.steps+s)*tt.batch + b
							for k := 4 * row * tt.hidden; k < 4*(row+1)*tt.hidden; k++ {
								wa[k] = float64(a0[k])
							}
						}
					}
				}
			}
			cpuCheckClose(t, "act", h.down(act), wa, 1e-5, 1e-7)
			cpuCheckClose(t, "c", h.down(c), wc, 1e-5, 1e-7)
			cpuCheckClose(t, "h", h.down(hs), wh, 1e-5, 1e-7)
		})
	}
}

// TestLSTMGatesHandStep checks two steps of a one-unit cell whose gates were
// chosen to have round values: i = σ(0) = 1/2, f = σ(ln 3) = 3/4,
// g = tanh(atanh(1/2)) = 1/2, o = σ(−ln 3) = 1/4. Then
//
//	c_0 = 3/4·0 + 1/2·1/2 = 0.25,     h_0 = 1/4·tanh(0.25)  = 0.0612296656
//	c_1 = 3/4·0.25 + 1/4 = 0.4375,    h_1 = 1/4·tanh(0.4375) = 0.1028925139
//
// and a second sequence of length 1 carries (c_0, h_0) into step 1.
func TestLSTMGatesHandStep(t *testing.T) {
	h := newCPUHarness(t, 1)
	gates := []float32{0, float32(math.Log(3)), float32(math.Atanh(0.5)), float32(-math.Log(3))}
	var pv []float32
	for range 4 { // [steps=2, batch=2, 4]
		pv = append(pv, gates...)
	}
	pre, lens := h.up(pv), h.upI([]int32{2, 1})
	act, c, hs := h.c.Alloc(16), h.c.Alloc(4), h.c.Alloc(4)
	for s := range 2 {
		h.c.LSTMGatesForward(1, 2, 2, 1, s, lens, pre, act, c, hs)
	}
	const h0, h1 = 0.061229665600927, 0.102892513918506 // 0.25·tanh(0.25), 0.25·tanh(0.4375)
	cpuCheckClose(t, "c", h.down(c), []float64{0.25, 0.25, 0.4375, 0.25}, 1e-6, 0)
	cpuCheckClose(t, "h", h.down(hs), []float64{h0, h0, h1, h0}, 1e-6, 0)
	cpuCheckClose(t, "act", h.down(act), []float64{0.5, 0.75, 0.5, 0.25, 0.5, 0.75, 0.5, 0.25, 0.5, 0.75, 0.5, 0.25, 0, 0, 0, 0}, 1e-6, 0)

	// Backward of L = h_1 (sequence 0) at step 1: dh_1 = 1, dc_1 = 0.
	//   tanh(c_1) = tc, dc = o·(1−tc²); dpre_o = tc·o(1−o); dpre_i = dc·g·i(1−i)
	//   dpre_f = dc·c_0·f(1−f); dpre_g = dc·i·(1−g²); dc_0 = dc·f
	tc := math.Tanh(0.4375)
	dcv := 0.25 * (1 - tc*tc)
	dh, dc, dpre := h.up([]float32{0, 0, 1, 0}), h.c.Alloc(4), h.c.Alloc(16)
	h.c.LSTMGatesBackward(1, 2, 2, 1, 1, lens, act, c, dh, dc, dpre)
	got := h.down(dpre)[8:12]
	cpuCheckClose(t, "dpre", got, []float64{dcv * 0.5 * 0.25, dcv * 0.25 * 0.75 * 0.25, dcv * 0.5 * 0.75, tc * 0.25 * 0.75}, 1e-6, 0)
	cpuCheckClose(t, "dc_0", h.down(dc)[:1], []float64{dcv * 0.75}, 1e-6, 0)
}

// TestLSTMGatesBackwardChain runs the forward over every step, then the
// backward from the last step to the first with the carry of ended rows,
// and checks dpre against central differences of
//
//	L = Σ rh·h (every step) + Σ rc·c (last step)
//
// computed with refLSTM in float64. In place, one buffer is pre, act and
// dpre, as the model's LSTM runs them: the gates activated over their
// pre-activations, their gradients over the gates; every result must have
// the bits of separate buffers.
func TestLSTMGatesBackwardChain(t *testing.T) {
	tests := []lstmCase{
		{1, 1, 1, 1, []int32{1}},
		{1, 3, 1, 5, []int32{3}},
		{2, 4, 3, 2, []int32{4, 2, 0}},
		{2, 5, 4, 3, []int32{1, 5, 3, 4}},
		{2, 3, 3, 12, []int32{3, 1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.String(), func(t *testing.T) {
			h := newCPUHarness(t, 2)
			n := tt.dirs * tt.steps * tt.batch * tt.hidden
			pv, rh := h.rand(4*n), h.rand(n)
			for i := range pv {
				pv[i] *= 2
			}
			last := make([]float32, n) // rc at the last step of each direction, 0 elsewhere
			rc := h.rand(n)
			for d := range tt.dirs {
				o := ((d*tt.steps + tt.steps - 1) * tt.batch) * tt.hidden
				copy(last[o:o+tt.batch*tt.hidden], rc[o:])
			}
			lens := h.upI(tt.lengths)
			// run returns act after the forward, then c, h, dpre, dh and dc.
			run := func(inPlace bool) [][]float32 {
				pre := h.up(pv)
				act, c, hs := h.c.Alloc(4*n), h.c.Alloc(n), h.c.Alloc(n)
				if inPlace {
					act = pre
				}
				for s := range tt.steps {
					h.c.LSTMGatesForward(tt.dirs, tt.steps, tt.batch, tt.hidden, s, lens, pre, act, c, hs)
				}
				gates := h.down(act)
				dh, dc, dpre := h.up(rh), h.up(last), h.c.Alloc(4*n)
				if inPlace {
					dpre = act
				}
				for s := tt.steps - 1; s >= 0; s-- {
					h.c.LSTMGatesBackward(tt.dirs, tt.steps, tt.batch, tt.hidden, s, lens, act, c, dh, dc, dpre)
				}
				return [][]float32{gates, h.down(c), h.down(hs), h.down(dpre), h.down(dh), h.down(dc)}
			}
			apart, together := run(false), run(true)
			p64, rh64, rc64 := cpuF64(pv), cpuF64(rh), cpuF64(last)
			num := cpuNumGrad(p64, func() float64 {
				_, c, h := refLSTM(tt.dirs, tt.steps, tt.batch, tt.hidden, tt.lengths, p64)
				return cpuDot(rh64, h) + cpuDot(rc64, c)
			})
			cpuCheckGrad(t, "LSTMGatesBackward", apart[3], num)
			for i, name := range []string{"act", "c", "h", "dpre", "dh", "dc"} {
				for k, v := range apart[i] {
					// An ended row's gates are left as they were: its
					// pre-activations in place, zeros apart.
					if i == 0 && int(tt.lengths[k/(4*tt.hidden)%tt.batch]) <= k/(4*tt.hidden*tt.batch)%tt.steps {
						continue
					}
					if math.Float32bits(together[i][k]) != math.Float32bits(v) {
						t.Fatalf("in place: %s[%d] = %g, %g with separate buffers", name, k, together[i][k], v)
					}
				}
			}
		})
	}
}
