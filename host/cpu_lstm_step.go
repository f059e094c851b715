package host

// The whole-step LSTM ops and Transpose on the CPU: compositions of the
// CPU's GEMM and gate ops, the reference the GPU's fused kernels are checked
// against. (The CPU models keep calling the GEMM and the gates separately,
// over the running rows only.)

// Transpose writes the transpose of the rows×cols src into the cols×rows
// dst (see Backend).
func (c *CPU) Transpose(rows, cols int, src *F32, ldSrc int, dst *F32, ldDst int) {
	const op, names = "Transpose", "rows cols ldSrc ldDst"
	if c.failed() || !c.nonNeg(op, names, rows, cols, ldSrc, ldDst) || rows == 0 || cols == 0 {
		return
	}
	if !c.ld(op, "ldSrc", ldSrc, cols, names, rows, cols, ldSrc, ldDst) ||
		!c.ld(op, "ldDst", ldDst, rows, names, rows, cols, ldSrc, ldDst) ||
		!c.f32(op, "src", src, cpuMatLen(rows, cols, ldSrc), names, rows, cols, ldSrc, ldDst) ||
		!c.f32(op, "dst", dst, cpuMatLen(cols, rows, ldDst), names, rows, cols, ldSrc, ldDst) {
		return
	}
	s, d := src.cpu, dst.cpu
	for r := range rows {
		for k, v := range s[r*ldSrc : r*ldSrc+cols] {
			d[k*ldDst+r] = v
		}
	}
}

// lstmWeights checks the recurrent weights of a whole-step op: dirs
// matrices of 4·hidden·hidden elements, ldDir apart.
func (c *CPU) lstmWeights(op, name string, w *F32, ldDir, dirs, hidden int) bool {
	const names = "ldDir dirs hidden"
	per := 4 * hidden * hidden
	if !c.nonNeg(op, names, ldDir, dirs, hidden) || !c.ld(op, "ldDir", ldDir, per, names, ldDir, dirs, hidden) {
		return false
	}
	return c.f32(op, name, w, (dirs-1)*ldDir+per, names, ldDir, dirs, hidden)
}

// LSTMStepForward is GemmStridedBatched (pre_s += h_{s−1}·W_hhᵀ, both
// directions) then LSTMGatesForward (see Backend).
func (c *CPU) LSTMStepForward(dirs, steps, batch, hidden, s int, lengths *I32, whhT *F32, ldDir int, pre, act, cs, h *F32) {
	const op = "LSTMStepForward"
	if _, ok := c.lstmStep(op, dirs, steps, batch, hidden, s, lengths,
		[]*F32{pre, act}, []string{"pre", "act"}, []*F32{cs, h}, []string{"c", "h"}); !ok || dirs*batch*hidden == 0 {
		return
	}
	if !c.lstmWeights(op, "whhT", whhT, ldDir, dirs, hidden) {
		return
	}
	if s > 0 {
		G, sb := 4*hidden, steps*batch
		hPrev := h.Slice((s-1)*batch*hidden, h.Len()-(s-1)*batch*hidden)
		preS := pre.Slice(s*batch*G, pre.Len()-s*batch*G)
		c.GemmStridedBatched(false, false, batch, G, hidden, 1, hPrev, hidden, sb*hidden, whhT, G, ldDir, 1, preS, G, sb*G, dirs)
	}
	c.LSTMGatesForward(dirs, steps, batch, hidden, s, lengths, pre, act, cs, h)
}

// LSTMStepBackward is GemmStridedBatched (dh_s += dpre_{s+1}·W_hh, both
// directions) then LSTMGatesBackward (see Backend).
func (c *CPU) LSTMStepBackward(dirs, steps, batch, hidden, s int, lengths *I32, whh *F32, ldDir int, act, cs, dh, dc, dpre *F32) {
	const op = "LSTMStepBackward"
	if _, ok := c.lstmStep(op, dirs, steps, batch, hidden, s, lengths,
		[]*F32{act, dpre}, []string{"act", "dpre"}, []*F32{cs, dh, dc}, []string{"c", "dh", "dc"}); !ok || dirs*batch*hidden == 0 {
		return
	}
	if !c.lstmWeights(op, "whh", whh, ldDir, dirs, hidden) {
		return
	}
	if s+1 < steps {
		G, sb := 4*hidden, steps*batch
		dpreNext := dpre.Slice((s+1)*batch*G, dpre.Len()-(s+1)*batch*G)
		dhS := dh.Slice(s*batch*hidden, dh.Len()-s*batch*hidden)
		c.GemmStridedBatched(false, false, batch, hidden, G, 1, dpreNext, G, sb*G, whh, hidden, ldDir, 1, dhS, hidden, sb*hidden, dirs)
	}
	c.LSTMGatesBackward(dirs, steps, batch, hidden, s, lengths, act, cs, dh, dc, dpre)
}
