package host

// The whole-sequence LSTM ops and Transpose on the CPU: compositions of the
// CPU's GEMM and gate ops, the reference the GPU's fused kernels are checked
// against. (The CPU models keep calling the GEMM and the gates separately,
// over the running rows only.)

// Transpose writes the transposes of batch rows×cols matrices src into the
// cols×rows matrices dst (see Backend).
func (c *CPU) Transpose(batch, rows, cols int, src *F32, ldSrc, strideSrc int, dst *F32, ldDst, strideDst int) {
	const op, names = "Transpose", "batch rows cols ldSrc strideSrc ldDst strideDst"
	vals := []int{batch, rows, cols, ldSrc, strideSrc, ldDst, strideDst}
	if c.failed() || !c.nonNeg(op, names, vals...) || batch == 0 || rows == 0 || cols == 0 {
		return
	}
	if !c.ld(op, "ldSrc", ldSrc, cols, names, vals...) || !c.ld(op, "ldDst", ldDst, rows, names, vals...) ||
		!c.f32(op, "src", src, satAdd(satMul(batch-1, strideSrc), cpuMatLen(rows, cols, ldSrc)), names, vals...) ||
		!c.f32(op, "dst", dst, satAdd(satMul(batch-1, strideDst), cpuMatLen(cols, rows, ldDst)), names, vals...) {
		return
	}
	for i := range batch {
		s, d := src.cpu[i*strideSrc:], dst.cpu[i*strideDst:]
		for r := range rows {
			for k, v := range s[r*ldSrc : r*ldSrc+cols] {
				d[k*ldDst+r] = v
			}
		}
	}
}

// lstmWeights checks the recurrent weights of a whole-sequence op: dirs
// matrices of 4·hidden·hidden elements, ldDir apart.
func (c *CPU) lstmWeights(op, name string, w *F32, ldDir, dirs, hidden int) bool {
	const names = "ldDir dirs hidden"
	per := satMul(4, hidden, hidden)
	if !c.nonNeg(op, names, ldDir, dirs, hidden) || !c.ld(op, "ldDir", ldDir, per, names, ldDir, dirs, hidden) {
		return false
	}
	return c.f32(op, name, w, satAdd(satMul(dirs-1, ldDir), per), names, ldDir, dirs, hidden)
}

// lstmSequence checks a whole-sequence op's sizes and buffers (those of
// its first step, which are every step's) and weights; ok is false when
// there is nothing to do or an error was recorded.
func (c *CPU) lstmSequence(op string, dirs, steps, batch, hidden int, lengths *I32, w *F32, wName string, ldDir int,
	gates4 []*F32, gates4Names []string, state []*F32, stateNames []string) bool {
	if c.failed() || !c.nonNeg(op, "dirs steps batch hidden", dirs, steps, batch, hidden) || steps == 0 {
		return false
	}
	if _, ok := c.lstmStep(op, dirs, steps, batch, hidden, 0, lengths, gates4, gates4Names, state, stateNames); !ok {
		return false
	}
	return dirs*batch*hidden > 0 && c.lstmWeights(op, wName, w, ldDir, dirs, hidden)
}

// LSTMSequenceForward is, step by step, GemmStridedBatched (pre_s +=
// h_{s−1}·W_hhᵀ, both directions) then LSTMGatesForward (see Backend).
func (c *CPU) LSTMSequenceForward(dirs, steps, batch, hidden int, lengths *I32, whhT *F32, ldDir int, pre, act, cs, h *F32) {
	if !c.lstmSequence("LSTMSequenceForward", dirs, steps, batch, hidden, lengths, whhT, "whhT", ldDir,
		[]*F32{pre, act}, []string{"pre", "act"}, []*F32{cs, h}, []string{"c", "h"}) {
		return
	}
	G, sb := 4*hidden, steps*batch
	for s := range steps {
		if s > 0 {
			hPrev := h.Slice((s-1)*batch*hidden, h.Len()-(s-1)*batch*hidden)
			preS := pre.Slice(s*batch*G, pre.Len()-s*batch*G)
			c.GemmStridedBatched(false, false, batch, G, hidden, 1, hPrev, hidden, sb*hidden, whhT, G, ldDir, 1, preS, G, sb*G, dirs)
		}
		c.LSTMGatesForward(dirs, steps, batch, hidden, s, lengths, pre, act, cs, h)
	}
}

// LSTMSequenceBackward is, step by step from the last, GemmStridedBatched
// (dh_s += dpre_{s+1}·W_hh, both directions) then LSTMGatesBackward (see
// Backend).
func (c *CPU) LSTMSequenceBackward(dirs, steps, batch, hidden int, lengths *I32, whh *F32, ldDir int, act, cs, dh, dc, dpre *F32) {
	if dc == nil { // no gradient flows into the last c: start from zeros
		dc = c.Alloc(dirs * steps * batch * hidden)
		defer c.Free(dc)
	}
	if !c.lstmSequence("LSTMSequenceBackward", dirs, steps, batch, hidden, lengths, whh, "whh", ldDir,
		[]*F32{act, dpre}, []string{"act", "dpre"}, []*F32{cs, dh, dc}, []string{"c", "dh", "dc"}) {
		return
	}
	G, sb := 4*hidden, steps*batch
	for s := steps - 1; s >= 0; s-- {
		if s+1 < steps {
			dpreNext := dpre.Slice((s+1)*batch*G, dpre.Len()-(s+1)*batch*G)
			dhS := dh.Slice(s*batch*hidden, dh.Len()-s*batch*hidden)
			c.GemmStridedBatched(false, false, batch, hidden, G, 1, dpreNext, G, sb*G, whh, hidden, ldDir, 1, dhS, hidden, sb*hidden, dirs)
		}
		c.LSTMGatesBackward(dirs, steps, batch, hidden, s, lengths, act, cs, dh, dc, dpre)
	}
}
