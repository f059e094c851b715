package host

// lstmStep checks the sizes of an LSTMGates op and returns the lengths.
func (c *CPU) lstmStep(op string, dirs, steps, batch, hidden, s int, lengths *I32, gates4 []*F32, gates4Names []string, state []*F32, stateNames []string) ([]int32, bool) {
	const names = "dirs steps batch hidden s"
	if c.failed() || !c.nonNeg(op, names, dirs, steps, batch, hidden, s) {
		return nil, false
	}
	if s >= steps {
		c.failf(op, "step s=%d outside [0, %d)", s, steps)
		return nil, false
	}
	if !c.i32(op, "lengths", lengths, batch, "batch", batch) {
		return nil, false
	}
	n := satMul(dirs, steps, batch, hidden)
	for i, b := range gates4 {
		if !c.f32(op, gates4Names[i], b, satMul(4, n), names, dirs, steps, batch, hidden, s) {
			return nil, false
		}
	}
	for i, b := range state {
		if !c.f32(op, stateNames[i], b, n, names, dirs, steps, batch, hidden, s) {
			return nil, false
		}
	}
	var ls []int32
	if lengths != nil {
		ls = lengths.cpu[:batch]
	}
	if !c.lengthsIn(op, ls, steps) {
		return nil, false
	}
	return ls, true
}

// LSTMGatesForward is one fused time step s of dirs LSTM directions over a
// batch (see Backend). With σ the logistic function and tanh computed in
// float64 and rounded to float32, each active row computes, per unit j,
//
//	i, f, g, o = σ(pre_i), σ(pre_f), tanh(pre_g), σ(pre_o)
//	c_s = f·c_{s−1} + i·g;  h_s = o·tanh(c_s)
//
// in float32 (c_{−1} = 0). Rows with s ≥ lengths[b] carry c and h (zero at
// s = 0) and leave their gates in act untouched.
func (c *CPU) LSTMGatesForward(dirs, steps, batch, hidden, s int, lengths *I32, pre, act, cs, hs *F32) {
	ls, ok := c.lstmStep("LSTMGatesForward", dirs, steps, batch, hidden, s, lengths,
		[]*F32{pre, act}, []string{"pre", "act"}, []*F32{cs, hs}, []string{"c", "h"})
	if !ok || dirs*batch*hidden == 0 {
		return
	}
	l := lstmLayout{steps: steps, batch: batch, hidden: hidden, s: s, lengths: ls}
	rows := dirs * batch
	p, a, cc, h := pre.cpu, act.cpu, cs.cpu, hs.cpu
	if k := c.chunks(rows*hidden, cpuGrainMath/4); k > 1 {
		l := l // the workers' copy; the serial path allocates nothing
		c.parallelRange(rows, min(k, rows), func(lo, hi int) { l.forward(lo, hi, p, a, cc, h) })
	} else {
		l.forward(0, rows, p, a, cc, h)
	}
}

// LSTMGatesBackward is step s of backpropagation through time (see
// Backend). For an active row, per unit j, with c_{s−1} = 0 at s = 0:
//
//	dc  = dc_s + dh_s·o·(1 − tanh²(c_s))
//	dpre_i = dc·g·i(1−i);   dpre_f = dc·c_{s−1}·f(1−f)
//	dpre_g = dc·i·(1−g²);   dpre_o = dh_s·tanh(c_s)·o(1−o)
//	dc_{s−1} = dc·f  (s > 0)
//
// A row that had ended writes zero dpre and, for s > 0, sets dc_{s−1} = dc_s
// and adds dh_s into dh_{s−1}. dc at s is read as it is: the caller keeps it
// zero at the last step (as Alloc leaves it), or puts there a gradient for
// the final cell state.
func (c *CPU) LSTMGatesBackward(dirs, steps, batch, hidden, s int, lengths *I32, act, cs, dh, dc, dpre *F32) {
	ls, ok := c.lstmStep("LSTMGatesBackward", dirs, steps, batch, hidden, s, lengths,
		[]*F32{act, dpre}, []string{"act", "dpre"}, []*F32{cs, dh, dc}, []string{"c", "dh", "dc"})
	if !ok || dirs*batch*hidden == 0 {
		return
	}
	l := lstmLayout{steps: steps, batch: batch, hidden: hidden, s: s, lengths: ls}
	rows := dirs * batch
	a, cc, dhs, dcs, dp := act.cpu, cs.cpu, dh.cpu, dc.cpu, dpre.cpu
	if k := c.chunks(rows*hidden, cpuGrainMath/2); k > 1 {
		l := l
		c.parallelRange(rows, min(k, rows), func(lo, hi int) { l.backward(lo, hi, a, cc, dhs, dcs, dp) })
	} else {
		l.backward(0, rows, a, cc, dhs, dcs, dp)
	}
}

// lstmLayout addresses step s of the [dirs, steps, batch, ·] buffers of an
// LSTMGates op; row r = d·batch + b is direction d, sequence b.
type lstmLayout struct {
	steps, batch, hidden, s int
	lengths                 []int32
}

// at returns the offset, in hidden-sized units, of row r at step t.
func (l *lstmLayout) at(r, t int) int {
	d, b := r/l.batch, r%l.batch
	return (d*l.steps+t)*l.batch + b
}

func (l *lstmLayout) forward(lo, hi int, pre, act, c, h []float32) {
	H := l.hidden
	for r := lo; r < hi; r++ {
		o := l.at(r, l.s)
		cs, hs := c[o*H:(o+1)*H], h[o*H:(o+1)*H]
		a := act[4*o*H : 4*(o+1)*H]
		var cp, hp []float32
		if l.s > 0 {
			op := l.at(r, l.s-1)
			cp, hp = c[op*H:(op+1)*H], h[op*H:(op+1)*H]
		}
		if l.s >= int(l.lengths[r%l.batch]) {
			if cp == nil {
				clear(cs)
				clear(hs)
			} else {
				copy(cs, cp)
				copy(hs, hp)
			}
			continue
		}
		lstmForwardRow(pre[4*o*H:4*(o+1)*H], a, cp, cs, hs)
	}
}

// lstmForwardRow computes one active row: pre and act hold the 4·H gates,
// cPrev is nil at s = 0. The activations are computed a gate at a time by
// the vector sigmoid and tanh (see vecmath.go), then c and h.
func lstmForwardRow(pre, act, cPrev, c, h []float32) {
	H := len(c)
	vecSigmoid32(act[:2*H], pre[:2*H]) // i, f
	vecTanh32(act[2*H:3*H], pre[2*H:3*H])
	vecSigmoid32(act[3*H:4*H], pre[3*H:4*H])
	ai, af, ag, ao := act[:H], act[H:2*H], act[2*H:3*H], act[3*H:4*H]
	h = h[:H]
	if cPrev != nil {
		cPrev = cPrev[:H]
	}
	for j := range c {
		var cp float32
		if cPrev != nil {
			cp = cPrev[j]
		}
		c[j] = af[j]*cp + ai[j]*ag[j]
	}
	vecTanh32(h, c)
	for j, o := range ao {
		h[j] *= o
	}
}

func (l *lstmLayout) backward(lo, hi int, act, c, dh, dc, dpre []float32) {
	H := l.hidden
	for r := lo; r < hi; r++ {
		o := l.at(r, l.s)
		dhs, dcs := dh[o*H:(o+1)*H], dc[o*H:(o+1)*H]
		dp := dpre[4*o*H : 4*(o+1)*H]
		var cp, dhp, dcp []float32
		if l.s > 0 {
			op := l.at(r, l.s-1)
			cp, dhp, dcp = c[op*H:(op+1)*H], dh[op*H:(op+1)*H], dc[op*H:(op+1)*H]
		}
		if l.s >= int(l.lengths[r%l.batch]) {
			clear(dp)
			if dcp != nil {
				copy(dcp, dcs)
				for j, v := range dhs {
					dhp[j] += v
				}
			}
			continue
		}
		lstmBackwardRow(act[4*o*H:4*(o+1)*H], c[o*H:(o+1)*H], cp, dhs, dcs, dp, dcp)
	}
}

// lstmBlock is the number of units whose tanh(c) lstmBackwardRow computes
// at once, in a buffer on the stack.
const lstmBlock = 256

// lstmBackwardRow computes one active row; cPrev and dcPrev are nil at s = 0.
func lstmBackwardRow(act, c, cPrev, dh, dc, dpre, dcPrev []float32) {
	H := len(c)
	var buf [lstmBlock]float32
	for j0 := 0; j0 < H; j0 += lstmBlock {
		j1 := min(j0+lstmBlock, H)
		tcs := buf[:j1-j0]
		vecTanh32(tcs, c[j0:j1])
		ai, af, ag, ao := act[j0:j1], act[H+j0:H+j1], act[2*H+j0:2*H+j1], act[3*H+j0:3*H+j1]
		di, df, dg, do := dpre[j0:j1], dpre[H+j0:H+j1], dpre[2*H+j0:2*H+j1], dpre[3*H+j0:3*H+j1]
		dhs, dcs := dh[j0:j1], dc[j0:j1]
		var cps, dcps []float32
		if cPrev != nil {
			cps = cPrev[j0:j1]
		}
		if dcPrev != nil {
			dcps = dcPrev[j0:j1]
		}
		for j, tc := range tcs {
			i, f, g, o := ai[j], af[j], ag[j], ao[j]
			dhj := dhs[j]
			dct := dcs[j] + dhj*o*(1-tc*tc)
			var cp float32
			if cps != nil {
				cp = cps[j]
			}
			di[j] = dct * g * i * (1 - i)
			df[j] = dct * cp * f * (1 - f)
			dg[j] = dct * i * (1 - g*g)
			do[j] = dhj * tc * o * (1 - o)
			if dcps != nil {
				dcps[j] = dct * f
			}
		}
	}
}
