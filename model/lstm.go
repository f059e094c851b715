package model

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/emotionlab/emotion/host"
)

// LSTM is one layer of torch.nn.LSTM(in, hidden, batch_first=True), one
// direction or both (bidirectional=True), run on packed sequences: each
// sequence b is processed over its first lengths[b] steps only, the reverse
// direction starting at its own last real token, so the padding of a
// shorter sequence never changes its result.
//
// Both directions run in the same backend calls (dirs = 2) on time-major,
// direction-major buffers [dirs, steps, batch, ·]: one strided-batched GEMM
// projects the inputs of every step of both directions, and only the
// recurrent GEMM h_{s−1}·W_hhᵀ (again both directions in one call) and the
// fused gate op stay in the time loop.
//
// Parameters, per direction in PyTorch's names and layouts (suffix
// "_reverse" for the reverse direction, under the prefix):
// weight_ih_l{k} [4H, in], weight_hh_l{k} [4H, H], bias_ih_l{k} [4H],
// bias_hh_l{k} [4H], gates in the order i, f, g, o. The parameters of all
// directions are views of one allocation (and their gradients of another),
// direction d's at a fixed stride, so that one call serves both directions.
type LSTM struct {
	In, Hidden, Dirs int
	Layer            int // k of the parameter names
	// FinalOnly makes Forward compute the final states (Final) and no
	// output (it returns nil), for a model that reads only h_n; Backward
	// then takes no output gradient.
	FinalOnly bool
	// NoInputGrad makes Backward compute no input gradient (it returns
	// nil), for a layer over a frozen embedding, which needs none.
	NoInputGrad bool

	WeightIH, WeightHH, BiasIH, BiasHH []*Param // indexed by direction

	be      host.Backend
	values  *host.F32 // all parameters, direction-major
	grads   *host.F32 // their gradients, same layout
	perDir  int       // parameter elements per direction
	batch   int
	steps   int
	lengths *host.I32
	xtm     layerBuf // time-major inputs [dirs, steps, batch, in]
	// gates [dirs, steps, batch, 4H] holds, in turn, a step's gate
	// pre-activations, its activated gates (the forward activates them in
	// place) and their gradients (the backward of a step overwrites the
	// gates it has read): one buffer where three were, the largest of the
	// layer, as cuDNN's reserve space holds the gates once.
	gates layerBuf
	// spent is set by Backward, whose gradients have replaced the gates,
	// and cleared by Forward.
	spent    bool
	c, h     layerBuf // cell and hidden states [dirs, steps, batch, H]
	out      layerBuf // output [batch, steps, dirs·H]
	dh, dc   layerBuf // [dirs, steps, batch, H]
	dxtm     layerBuf // [dirs, steps, batch, in]
	dx       layerBuf // [batch, steps, in]
	bias     layerBuf // [dirs, 4H] b_ih + b_hh
	whhT     layerBuf // [dirs, H, 4H] W_hhᵀ, for LSTMSequenceForward (wholeSteps)
	dbias    layerBuf // Σ dpre of each direction: [4H], or [dirs, 4H] (wholeSteps)
	ones     onesBuf  // [2·steps·batch] ones: the biases as GEMMs (wholeSteps)
	finalOut [2]*host.F32
	// active[s] is how many rows step s computes: all of them, or (with
	// ForwardSorted) only those whose sequence is still running.
	active []int
	// wholeSteps makes the input projection, the bias and the weight and
	// input gradients one op each over every row of every step, padding
	// included (ended rows have zero gate gradients, so the sums are the
	// same), instead of one op per step over its running rows. Set on a
	// launch-bound backend (host.IsLaunchBound), where a launch costs more
	// than the padded rows' FLOPs. The recurrence is then also one op
	// forward (LSTMSequenceForward) and one backward
	// (LSTMSequenceBackward), every step's recurrent product inside, over
	// every row (see fusedSteps).
	wholeSteps bool
}

// LSTMConfig describes one LSTM layer.
type LSTMConfig struct {
	Prefix        string // module name in parameter names ("lstm"), or ""
	Layer         int    // layer index k in the names weight_ih_l{k}, …
	In, Hidden    int
	Bidirectional bool
}

// Offsets of a direction's parameters inside its block.
func (l *LSTM) offIH() int { return 0 }
func (l *LSTM) offHH() int { return 4 * l.Hidden * l.In }
func (l *LSTM) offBIH() int {
	return 4*l.Hidden*l.In + 4*l.Hidden*l.Hidden
}
func (l *LSTM) offBHH() int { return l.offBIH() + 4*l.Hidden }

// NewLSTM returns an LSTM layer initialised as PyTorch's: every weight and
// bias U(−1/√H, 1/√H).
func NewLSTM(be host.Backend, rng *RNG, cfg LSTMConfig) (*LSTM, error) {
	if err := errors.Join(checkPositive("LSTM", "in", cfg.In), checkPositive("LSTM", "hidden", cfg.Hidden)); err != nil {
		return nil, err
	}
	if cfg.Layer < 0 {
		return nil, fmt.Errorf("model: LSTM: layer index %d is negative", cfg.Layer)
	}
	dirs := 1
	if cfg.Bidirectional {
		dirs = 2
	}
	H, in := cfg.Hidden, cfg.In
	l := &LSTM{In: in, Hidden: H, Dirs: dirs, Layer: cfg.Layer, be: be, wholeSteps: host.IsLaunchBound(be)}
	l.perDir = 4*H*in + 4*H*H + 8*H
	l.values = be.Alloc(dirs * l.perDir)
	l.grads = be.Alloc(dirs * l.perDir)
	view := func(d, off int, name string, shape ...int) *Param {
		name = fmt.Sprintf("%s_l%d", name, cfg.Layer)
		if d == 1 {
			name += "_reverse" // PyTorch: weight_ih_l0_reverse
		}
		p := &Param{Name: paramName(cfg.Prefix, name), Shape: shape}
		p.Value = l.values.Slice(d*l.perDir+off, p.Len())
		p.Grad = l.grads.Slice(d*l.perDir+off, p.Len())
		return p
	}
	for d := range dirs {
		l.WeightIH = append(l.WeightIH, view(d, l.offIH(), "weight_ih", 4*H, in))
		l.WeightHH = append(l.WeightHH, view(d, l.offHH(), "weight_hh", 4*H, H))
		l.BiasIH = append(l.BiasIH, view(d, l.offBIH(), "bias_ih", 4*H))
		l.BiasHH = append(l.BiasHH, view(d, l.offBHH(), "bias_hh", 4*H))
	}
	for _, p := range l.Params() {
		initUniform(be, rng, linearBound(H), p)
	}
	return l, nil
}

// Forward runs the layer over x [batch, steps, in] (batch-major, dense),
// sequence b over its first lengths[b] steps (0 ≤ lengths[b] ≤ steps), and
// returns the output [batch, steps, dirs·H]: at each real step the forward
// hidden state, then (bidirectional) the reverse one, zeros at padded
// steps, as PyTorch's pad_packed_sequence gives (nil with FinalOnly). An
// empty sequence has zero outputs and final states. The result and the final
// states (Final) are owned by l and valid until the next Forward; x need not
// stay unchanged, but lengths must until Backward.
func (l *LSTM) Forward(batch, steps int, x *host.F32, lengths *host.I32) *host.F32 {
	l.active = l.active[:0]
	for range steps {
		l.active = append(l.active, batch)
	}
	return l.forward(batch, steps, x, lengths)
}

// ForwardSorted is Forward for a batch whose rows are sorted by length,
// longest first, given on the host as hostLengths (the same values as
// lengths): then the rows still running at step s are a prefix of the
// batch, and every GEMM of step s, forward and backward, computes only
// those, as PyTorch's packed sequences do, so that padding costs nothing.
// Rows that are not sorted fall back to Forward.
func (l *LSTM) ForwardSorted(batch, steps int, x *host.F32, lengths *host.I32, hostLengths []int32) *host.F32 {
	if len(hostLengths) != batch || !slices.IsSortedFunc(hostLengths, func(a, b int32) int { return cmp.Compare(b, a) }) {
		return l.Forward(batch, steps, x, lengths)
	}
	l.active = l.active[:0]
	n := batch
	for s := range steps {
		for n > 0 && int(hostLengths[n-1]) <= s {
			n--
		}
		l.active = append(l.active, n)
	}
	return l.forward(batch, steps, x, lengths)
}

func (l *LSTM) forward(batch, steps int, x *host.F32, lengths *host.I32) *host.F32 {
	be := l.be
	l.batch, l.steps, l.lengths, l.spent = batch, steps, lengths, false
	D, H, in := l.Dirs, l.Hidden, l.In
	G := 4 * H
	sb := steps * batch

	// xtm[d]: x time-major, the reverse direction reading each sequence
	// backwards; both directions in one op.
	xtm := l.xtm.get(be, D*sb*in)
	be.SequenceToTimeMajor(batch, steps, in, D, x, in, 0, lengths, xtm)
	// pre[d] = xtm[d]·W_ih[d]ᵀ + b_ih[d] + b_hh[d] for every step at once.
	pre := l.gates.get(be, D*sb*G)
	wih := l.values.Slice(l.offIH(), l.values.Len()-l.offIH())
	l.eachRun(func(s0, s1, n int) {
		// Steps s0..s1−1 run the same n rows: one GEMM when n is the
		// whole batch (their rows are contiguous), else one per step.
		if n == batch {
			off := s0 * batch
			be.GemmStridedBatched(false, true, (s1-s0)*batch, G, in, 1,
				xtm.Slice(off*in, xtm.Len()-off*in), in, sb*in,
				wih, in, l.perDir,
				0, pre.Slice(off*G, pre.Len()-off*G), G, sb*G, D)
			return
		}
		for st := s0; st < s1; st++ {
			off := st * batch
			be.GemmStridedBatched(false, true, n, G, in, 1,
				xtm.Slice(off*in, xtm.Len()-off*in), in, sb*in,
				wih, in, l.perDir,
				0, pre.Slice(off*G, pre.Len()-off*G), G, sb*G, D)
		}
	})
	if l.wholeSteps {
		// pre[d] += 1·b_ih[d] + 1·b_hh[d] on every row: a GEMM of k = 2,
		// ones [sb, 2] times the two biases (adjacent, so a [2, 4H]
		// matrix), both directions in one launch instead of an Axpy and an
		// AddBias per direction.
		be.GemmStridedBatched(false, false, sb, G, 2, 1,
			l.ones.get(be, 2*sb), 2, 0,
			l.values.Slice(l.offBIH(), l.values.Len()-l.offBIH()), G, l.perDir,
			1, pre, G, sb*G, D)
	} else {
		l.addBiases(pre)
	}

	act := pre // activated in place
	c := l.c.get(be, D*sb*H)
	h := l.h.get(be, D*sb*H)
	whh := l.values.Slice(l.offHH(), l.values.Len()-l.offHH())
	if l.fusedSteps() {
		// The whole recurrence in one op; it reads W_hhᵀ (coalesced on a
		// GPU), transposed once per Forward.
		whhT := l.whhT.get(be, D*H*G)
		be.Transpose(D, G, H, whh, H, l.perDir, whhT, G, H*G)
		be.LSTMSequenceForward(D, steps, batch, H, lengths, whhT, H*G, pre, act, c, h)
	} else {
		for s := range steps {
			if s > 0 {
				// pre[d, s] += h[d, s−1]·W_hh[d]ᵀ, both directions in one call.
				hPrev := h.Slice((s-1)*batch*H, h.Len()-(s-1)*batch*H)
				preS := pre.Slice(s*batch*G, pre.Len()-s*batch*G)
				if n := l.active[s]; n > 0 {
					be.GemmStridedBatched(false, true, n, G, H, 1,
						hPrev, H, sb*H,
						whh, H, l.perDir,
						1, preS, G, sb*G, D)
				}
			}
			be.LSTMGatesForward(D, steps, batch, H, s, lengths, pre, act, c, h)
		}
	}

	for d := range D {
		l.finalOut[d] = h.Slice((d*steps+steps-1)*batch*H, batch*H)
	}
	if l.FinalOnly {
		return nil
	}
	// out: direction d's h in columns d·H.
	out := l.out.get(be, batch*steps*D*H)
	be.SequenceFromTimeMajor(batch, steps, H, D, h, lengths, out, D*H, H, false)
	return out
}

// Final returns the final hidden state h_n [batch, H] of direction dir
// (0 forward, 1 reverse) of the last Forward: the forward direction's state
// after each sequence's last real step, the reverse direction's after its
// first, as PyTorch's h_n[dir]. It is a view of l's buffers.
func (l *LSTM) Final(dir int) *host.F32 { return l.finalOut[dir] }

// Backward backpropagates through the last Forward. dOut [batch, steps,
// dirs·H] is the gradient of the output, or nil for none; dFinal holds, per
// direction, the gradient of Final(dir) [batch, H], each nil or absent for
// none (more gradients than directions is a programming error and panics).
// Gradients at padded steps of dOut are ignored. It accumulates the
// parameter gradients and returns the gradient of x [batch, steps, in] (zeros
// at padded steps), owned by l, or nil with NoInputGrad. It runs once per
// Forward: the gate gradients overwrite the saved gates, so a second call
// is a programming error and panics.
func (l *LSTM) Backward(dOut *host.F32, dFinal ...*host.F32) *host.F32 {
	be := l.be
	batch, steps := l.batch, l.steps
	D, H, in := l.Dirs, l.Hidden, l.In
	G := 4 * H
	sb := steps * batch
	lengths := l.lengths
	if len(dFinal) > D {
		panic(fmt.Sprintf("model: LSTM.Backward: %d final-state gradients for %d directions", len(dFinal), D))
	}
	if l.spent {
		panic("model: LSTM.Backward: called twice after one Forward (the first overwrote the saved gates)")
	}
	l.spent = true

	dh := l.dh.get(be, D*sb*H)
	if dOut == nil {
		be.Fill(dh, 0) // every direction at once
	} else {
		be.SequenceToTimeMajor(batch, steps, H, D, dOut, D*H, H, lengths, dh)
	}
	for d := range D {
		dhd := dh.Slice(d*sb*H, sb*H)
		// Ended rows carry their state to the last step, so the gradient
		// of h_n enters there and flows back to each row's own last step.
		if d < len(dFinal) && dFinal[d] != nil {
			be.Axpy(1, dFinal[d], dhd.Slice((steps-1)*batch*H, batch*H))
		}
	}
	// The gradients of step s overwrite its gates, which only step s reads.
	act, c, h := l.gates.view, l.c.view, l.h.view
	dpre := act
	whh := l.values.Slice(l.offHH(), l.values.Len()-l.offHH())
	if l.fusedSteps() {
		// The whole backward recurrence in one op (dh is consumed); no
		// gradient flows into the last c (dc nil).
		be.LSTMSequenceBackward(D, steps, batch, H, lengths, whh, l.perDir, act, c, dh, nil, dpre)
	} else {
		dc := l.dc.get(be, D*sb*H)
		for d := range D {
			be.Fill(dc.Slice((d*steps+steps-1)*batch*H, batch*H), 0)
		}
		for s := steps - 1; s >= 0; s-- {
			be.LSTMGatesBackward(D, steps, batch, H, s, lengths, act, c, dh, dc, dpre)
			// dh[d, s−1] += dpre[d, s]·W_hh[d] (zero for rows that had ended).
			if n := l.active[s]; s > 0 && n > 0 {
				dpreS := dpre.Slice(s*batch*G, dpre.Len()-s*batch*G)
				dhPrev := dh.Slice((s-1)*batch*H, dh.Len()-(s-1)*batch*H)
				be.GemmStridedBatched(false, false, n, H, G, 1,
					dpreS, G, sb*G,
					whh, H, l.perDir,
					1, dhPrev, H, sb*H, D)
			}
		}
	}

	// dW_hh[d] += Σ_{s≥1} dpre[d, s]ᵀ·h[d, s−1]; dW_ih[d] += dpre[d]ᵀ·xtm[d];
	// dxtm[d] = dpre[d]·W_ih[d]: one GEMM over a run of steps when they
	// compute the whole batch, else one per step over its running rows.
	xtm := l.xtm.view
	var dxtm *host.F32
	if !l.NoInputGrad {
		dxtm = l.dxtm.get(be, D*sb*in)
	}
	gih := l.grads.Slice(l.offIH(), l.grads.Len()-l.offIH())
	ghh := l.grads.Slice(l.offHH(), l.grads.Len()-l.offHH())
	wih := l.values.Slice(l.offIH(), l.values.Len()-l.offIH())
	l.eachRun(func(s0, s1, n int) {
		rows, per := n, 1 // rows per GEMM and GEMMs over the run
		if n == batch {
			rows, per = (s1-s0)*batch, s1-s0
		}
		for st := s0; st < s1; st += per {
			off := st * batch
			dp := dpre.Slice(off*G, dpre.Len()-off*G)
			be.GemmStridedBatched(true, false, G, in, rows, 1,
				dp, G, sb*G,
				xtm.Slice(off*in, xtm.Len()-off*in), in, sb*in,
				1, gih, in, l.perDir, D)
			if dxtm != nil {
				be.GemmStridedBatched(false, false, rows, in, G, 1,
					dp, G, sb*G,
					wih, in, l.perDir,
					0, dxtm.Slice(off*in, dxtm.Len()-off*in), in, sb*in, D)
			}
			// The recurrent weight's gradient pairs step s with h at s−1.
			first := st
			if first == 0 {
				first = 1
			}
			if k := (st + per - first) * rows / per; k > 0 && first < st+per {
				o := first * batch
				be.GemmStridedBatched(true, false, G, H, k, 1,
					dpre.Slice(o*G, dpre.Len()-o*G), G, sb*G,
					h.Slice((first-1)*batch*H, h.Len()-(first-1)*batch*H), H, sb*H,
					1, ghh, H, l.perDir, D)
			}
		}
	})
	// Both biases get Σ dpre over the rows that ran.
	switch {
	case l.wholeSteps && sb < biasGemmMaxRows:
		// [db_ih[d]; db_hh[d]] += ones [2, sb] · dpre[d]: every row (an
		// ended row's dpre is zero), both biases and both directions in
		// one launch instead of a Fill, a BiasGrad and two Axpys per
		// direction.
		be.GemmStridedBatched(false, false, 2, G, sb, 1,
			l.ones.get(be, 2*sb), sb, 0,
			dpre, G, sb*G,
			1, l.grads.Slice(l.offBIH(), l.grads.Len()-l.offBIH()), G, l.perDir, D)
	case l.wholeSteps:
		// Many rows: one BiasGrad per direction over all of them, into a
		// zeroed scratch, then added to both biases.
		dbias := l.dbias.get(be, D*G)
		be.Fill(dbias, 0)
		for d := range D {
			be.BiasGrad(sb, G, dpre.Slice(d*sb*G, sb*G), dbias.Slice(d*G, G))
		}
		for d := range D {
			be.Axpy(1, dbias.Slice(d*G, G), l.BiasIH[d].Grad)
			be.Axpy(1, dbias.Slice(d*G, G), l.BiasHH[d].Grad)
		}
	default:
		dbias := l.dbias.get(be, G)
		for d := range D {
			be.Fill(dbias, 0)
			l.eachRows(func(off, rows int) {
				be.BiasGrad(rows, G, dpre.Slice((d*sb+off)*G, rows*G), dbias)
			})
			be.Axpy(1, dbias, l.BiasIH[d].Grad)
			be.Axpy(1, dbias, l.BiasHH[d].Grad)
		}
	}
	if dxtm == nil {
		return nil
	}
	// dx: the sum of the directions' input gradients (dirCols 0).
	dx := l.dx.get(be, batch*steps*in)
	be.SequenceFromTimeMajor(batch, steps, in, D, dxtm, lengths, dx, in, 0, false)
	return dx
}

// addBiases adds b_ih[d] + b_hh[d], summed once per direction, to the rows
// of pre [dirs, steps, batch, 4H] that run.
func (l *LSTM) addBiases(pre *host.F32) {
	be := l.be
	G, sb := 4*l.Hidden, l.steps*l.batch
	bias := l.bias.get(be, l.Dirs*G)
	for d := range l.Dirs {
		bd := bias.Slice(d*G, G)
		be.Copy(bd, l.BiasIH[d].Value)
		be.Axpy(1, l.BiasHH[d].Value, bd)
		l.eachRows(func(off, rows int) {
			be.AddBias(rows, G, pre.Slice((d*sb+off)*G, rows*G), bd)
		})
	}
}

// biasGemmMaxRows is the most time-major rows (steps·batch) whose bias
// gradients the whole-step LSTM takes as one GEMM with a [2, rows] matrix
// of ones. cuBLAS runs that m = 2 GEMM far from the copy bandwidth: on the
// H200 15 µs at 1,888 rows (the sentence model's batches; a launch or
// three) but 72.5 µs at 32,000 (dialog batches of 320 utterances: 0.41 ms
// of a 3.8 ms step), where a BiasGrad reads the rows at about a third of
// the copy rate (~12 µs) and the up to eight more launches cost ~30 µs. A
// variable so that tests can take either way.
var biasGemmMaxRows = 8192

// fusedStepMaxHidden is the largest hidden size whose recurrence uses the
// whole-sequence ops: there the per-step recurrent product is small enough
// that a GEMM launch is mostly overhead. Larger products go to cuBLAS, one
// per step. It is an estimate from the H200's GEMM timings
// (kernels/NOTES.md), to be tuned by measurement.
const fusedStepMaxHidden = 256

// fusedSteps reports whether the recurrence is one whole-sequence op each
// way.
func (l *LSTM) fusedSteps() bool { return l.wholeSteps && l.Hidden <= fusedStepMaxHidden }

// eachRun calls f for each maximal run of steps [s0, s1) that compute the
// same number n of rows; with wholeSteps, once for every step and row.
func (l *LSTM) eachRun(f func(s0, s1, n int)) {
	if l.wholeSteps {
		if len(l.active) > 0 && l.batch > 0 {
			f(0, len(l.active), l.batch)
		}
		return
	}
	for s0 := 0; s0 < len(l.active); {
		s1 := s0 + 1
		for s1 < len(l.active) && l.active[s1] == l.active[s0] {
			s1++
		}
		if n := l.active[s0]; n > 0 {
			f(s0, s1, n)
		}
		s0 = s1
	}
}

// eachRows calls f with the time-major row offset and count of each block
// of rows that runs: a run of steps that compute the whole batch is one
// block, any other step its own.
func (l *LSTM) eachRows(f func(off, rows int)) {
	l.eachRun(func(s0, s1, n int) {
		if n == l.batch {
			f(s0*l.batch, (s1-s0)*l.batch)
			return
		}
		for s := s0; s < s1; s++ {
			f(s*l.batch, n)
		}
	})
}

// Params returns, per direction, weight_ih, weight_hh, bias_ih and bias_hh,
// the order of PyTorch's state_dict.
func (l *LSTM) Params() []*Param {
	ps := make([]*Param, 0, 4*l.Dirs)
	for d := range l.Dirs {
		ps = append(ps, l.WeightIH[d], l.WeightHH[d], l.BiasIH[d], l.BiasHH[d])
	}
	return ps
}

// bindParams frees the allocation l's parameters were made in and takes
// its direction-major block from where they are now (see packParams).
func (l *LSTM) bindParams() {
	l.be.Free(l.values)
	l.be.Free(l.grads)
	first, last := l.WeightIH[0], l.BiasHH[l.Dirs-1]
	l.values = host.Join(first.Value, last.Value)
	l.grads = host.Join(first.Grad, last.Grad)
}

// Release frees l's buffers and parameters.
func (l *LSTM) Release() {
	for _, b := range []*layerBuf{&l.xtm, &l.gates, &l.c, &l.h, &l.out, &l.dh, &l.dc, &l.dxtm, &l.dx, &l.bias, &l.dbias, &l.whhT, &l.ones.layerBuf} {
		b.release(l.be)
	}
	l.be.Free(l.values)
	l.be.Free(l.grads)
	l.values, l.grads = nil, nil
	l.finalOut = [2]*host.F32{}
}
