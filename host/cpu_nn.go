package host

import "math"

// softmaxArgs checks the sizes of a Softmax op and returns the lengths (nil
// for none).
func (c *CPU) softmaxArgs(op string, rows, cols int, lengths *I32, rowsPerLength int, bufs []*F32, bufNames []string) ([]int32, bool) {
	const names = "rows cols rowsPerLength"
	if c.failed() || !c.nonNeg(op, names, rows, cols, rowsPerLength) {
		return nil, false
	}
	for i, b := range bufs {
		if !c.f32(op, bufNames[i], b, satMul(rows, cols), names, rows, cols, rowsPerLength) {
			return nil, false
		}
	}
	if lengths == nil {
		return nil, true
	}
	if rowsPerLength < 1 {
		c.failf(op, "rowsPerLength=%d with lengths, must be ≥ 1", rowsPerLength)
		return nil, false
	}
	need := ceilDiv(rows, rowsPerLength)
	if !c.i32(op, "lengths", lengths, need, names, rows, cols, rowsPerLength) {
		return nil, false
	}
	ls := lengths.cpu[:need]
	return ls, c.lengthsIn(op, ls, cols)
}

// SoftmaxForward computes y = softmax(scale·x) over the first n columns of
// each row (n = lengths[r/rowsPerLength], or cols when lengths is nil) and
// zeros elsewhere. Per row, in float32: v_j = scale·x_j, m = max v_j,
// e_j = exp(v_j − m) (float64 exp rounded to float32), s = Σ e_j in order,
// y_j = e_j / s.
func (c *CPU) SoftmaxForward(rows, cols int, scale float32, lengths *I32, rowsPerLength int, x, y *F32) {
	ls, ok := c.softmaxArgs("SoftmaxForward", rows, cols, lengths, rowsPerLength, []*F32{x, y}, []string{"x", "y"})
	if !ok || rows*cols == 0 {
		return
	}
	sm := softmaxRows{cols: cols, scale: scale, lengths: ls, rowsPerLength: rowsPerLength}
	xs, ys := x.cpu, y.cpu
	if k := c.chunks(rows*cols, cpuGrainMath); k > 1 {
		sm := sm // the workers' copy; the serial path allocates nothing
		c.parallelRange(rows, min(k, rows), func(lo, hi int) { sm.forward(lo, hi, xs, ys) })
	} else {
		sm.forward(0, rows, xs, ys)
	}
}

// SoftmaxBackward computes dx = scale·y·(dy − Σ y·dy) over the unmasked
// columns of each row (the sum in float32, in order) and zeros elsewhere.
func (c *CPU) SoftmaxBackward(rows, cols int, scale float32, lengths *I32, rowsPerLength int, y, dy, dx *F32) {
	ls, ok := c.softmaxArgs("SoftmaxBackward", rows, cols, lengths, rowsPerLength, []*F32{y, dy, dx}, []string{"y", "dy", "dx"})
	if !ok || rows*cols == 0 {
		return
	}
	sm := softmaxRows{cols: cols, scale: scale, lengths: ls, rowsPerLength: rowsPerLength}
	ys, dys, dxs := y.cpu, dy.cpu, dx.cpu
	if k := c.chunks(rows*cols, cpuGrainCheap/4); k > 1 {
		sm := sm
		c.parallelRange(rows, min(k, rows), func(lo, hi int) { sm.backward(lo, hi, ys, dys, dxs) })
	} else {
		sm.backward(0, rows, ys, dys, dxs)
	}
}

type softmaxRows struct {
	cols          int
	scale         float32
	lengths       []int32
	rowsPerLength int
}

func (sm *softmaxRows) n(r int) int {
	if sm.lengths == nil {
		return sm.cols
	}
	return int(sm.lengths[r/sm.rowsPerLength])
}

func (sm *softmaxRows) forward(lo, hi int, x, y []float32) {
	C := sm.cols
	for r := lo; r < hi; r++ {
		n := sm.n(r)
		yr := y[r*C : (r+1)*C]
		clear(yr[n:])
		if n == 0 {
			continue
		}
		cpuSoftmax(sm.scale, x[r*C:r*C+n], yr[:n])
	}
}

// cpuSoftmax writes softmax(scale·x) to y.
func cpuSoftmax(scale float32, x, y []float32) {
	y = y[:len(x)]
	m := float32(math.Inf(-1))
	for _, v := range x {
		m = max(m, scale*v)
	}
	var s float32
	for j, v := range x {
		e := exp32(scale*v - m)
		y[j] = e
		s += e
	}
	for j := range y {
		y[j] /= s
	}
}

func (sm *softmaxRows) backward(lo, hi int, y, dy, dx []float32) {
	C := sm.cols
	for r := lo; r < hi; r++ {
		n := sm.n(r)
		dxr := dx[r*C : (r+1)*C]
		clear(dxr[n:])
		yr, dyr := y[r*C:r*C+n], dy[r*C:r*C+n]
		var dot float32
		for j, v := range yr {
			dot += v * dyr[j]
		}
		for j, v := range yr {
			dxr[j] = sm.scale * v * (dyr[j] - dot)
		}
	}
}

// CrossEntropy is class-weighted softmax cross-entropy with PyTorch's
// CrossEntropyLoss(weight=w, reduction="mean", label_smoothing=ε)
// semantics (see Backend). Per row, in float32: m = max x, s = Σ exp(x_j −
// m), p_j = exp(x_j − m)/s, lse = m + log(s), nll = lse − x_y; then loss[0]
// = Σ w_i·nll_i / Σ w_i (both sums in row order) and dlogits[i,:] = (p −
// onehot(y_i))·(w_i / Σ w). With ε > 0 a row's term is (1−ε)·w_i·nll +
// ε/C·Σ_c w_c·(lse − x_c), and its gradient (1−ε)·w_i·(p − onehot(y_i)) +
// ε/C·(p·Σ_c w_c − w), over Σ w. As in PyTorch, when no row counts (every
// label ignored) the loss is NaN (0/0); the gradient is then zero, as is
// every ignored row's (and, without smoothing, every zero-weight row's).
func (c *CPU) CrossEntropy(n, classes int, smoothing float32, logits *F32, labels *I32, weights, loss, dlogits, probs *F32) {
	const op, names = "CrossEntropy", "n classes"
	if c.failed() || !c.nonNeg(op, names, n, classes) {
		return
	}
	if !(smoothing >= 0 && smoothing < 1) {
		c.failf(op, "label smoothing %g outside [0, 1) %s", smoothing, cpuSizes(names, []int{n, classes}))
		return
	}
	if n > 0 && classes == 0 {
		c.failf(op, "no classes %s", cpuSizes(names, []int{n, classes}))
		return
	}
	nc := satMul(n, classes)
	if !c.f32(op, "logits", logits, nc, names, n, classes) ||
		!c.i32(op, "labels", labels, n, names, n, classes) ||
		!c.f32(op, "loss", loss, 1, names, n, classes) ||
		(weights != nil && !c.f32(op, "weights", weights, classes, names, n, classes)) ||
		(dlogits != nil && !c.f32(op, "dlogits", dlogits, nc, names, n, classes)) ||
		(probs != nil && !c.f32(op, "probs", probs, nc, names, n, classes)) {
		return
	}
	if n == 0 { // the mean over no rows, as PyTorch's; logits and labels may be nil
		loss.cpu[0] = float32(math.NaN())
		return
	}
	ys := labels.cpu[:n]
	for i, y := range ys {
		if int(y) >= classes {
			c.failf(op, "labels[%d] = %d, not below classes=%d", i, y, classes)
			return
		}
	}
	ce := crossEntropyRows{classes: classes, x: logits.cpu, labels: ys, eps: smoothing}
	if weights != nil {
		ce.w = weights.cpu[:classes]
	}
	if smoothing > 0 {
		ce.sumWc = float32(classes)
		if ce.w != nil {
			ce.sumWc = 0
			for _, w := range ce.w {
				ce.sumWc += w
			}
		}
	}
	if dlogits != nil {
		ce.dx = dlogits.cpu
	}
	if probs != nil {
		ce.p = probs.cpu
	}
	part := c.scratch(2 * n)
	ce.nll, ce.rowW = part[:n], part[n:]
	if k := min(c.chunks(nc, cpuGrainMath), n); k > 1 {
		pce := ce // the workers' copy; the serial path allocates nothing
		c.parallelRange(n, k, pce.forward)
		loss.cpu[0] = pce.loss()
		if dlogits != nil {
			c.parallelRange(n, k, pce.gradient)
		}
	} else {
		ce.forward(0, n)
		loss.cpu[0] = ce.loss()
		if dlogits != nil {
			ce.gradient(0, n)
		}
	}
}

type crossEntropyRows struct {
	classes   int
	x         []float32
	labels    []int32
	w         []float32 // nil: ones
	dx, p     []float32 // nil: not wanted
	nll, rowW []float32 // per row: w_i·nll_i (smoothed) and w_i
	sumW      float32
	eps       float32 // label smoothing
	sumWc     float32 // Σ_c w_c (with eps > 0)
}

// forward computes rows [lo, hi): their weighted nll and weight, their
// probabilities into p and, as the first step of the gradient, into dx.
func (ce *crossEntropyRows) forward(lo, hi int) {
	C := ce.classes
	for i := lo; i < hi; i++ {
		x := ce.x[i*C : (i+1)*C]
		m := float32(math.Inf(-1))
		for _, v := range x {
			m = max(m, v)
		}
		var s float32
		for _, v := range x {
			s += exp32(v - m)
		}
		if ce.p != nil || ce.dx != nil {
			for j, v := range x {
				p := exp32(v-m) / s
				if ce.p != nil {
					ce.p[i*C+j] = p
				}
				if ce.dx != nil {
					ce.dx[i*C+j] = p
				}
			}
		}
		y := ce.labels[i]
		if y < 0 {
			ce.nll[i], ce.rowW[i] = 0, 0
			continue
		}
		w := float32(1)
		if ce.w != nil {
			w = ce.w[y]
		}
		lse := m + float32(math.Log(float64(s)))
		if ce.eps == 0 {
			ce.nll[i], ce.rowW[i] = w*(lse-x[y]), w
			continue
		}
		var smooth float32 // Σ_c w_c·(lse − x_c)
		for j, v := range x {
			wc := float32(1)
			if ce.w != nil {
				wc = ce.w[j]
			}
			smooth += wc * (lse - v)
		}
		ce.nll[i], ce.rowW[i] = (1-ce.eps)*w*(lse-x[y])+ce.eps/float32(C)*smooth, w
	}
}

// loss sums the rows' weights and weighted losses in order, keeps the
// weight sum for gradient and returns the mean.
func (ce *crossEntropyRows) loss() float32 {
	var sumW, sumL float32
	for i := range ce.nll {
		sumW += ce.rowW[i]
		sumL += ce.nll[i]
	}
	ce.sumW = sumW
	return sumL / sumW
}

// gradient turns the probabilities forward left in dx into the gradient.
func (ce *crossEntropyRows) gradient(lo, hi int) {
	C := ce.classes
	for i := lo; i < hi; i++ {
		dx := ce.dx[i*C : (i+1)*C]
		w := ce.rowW[i]
		y := int(ce.labels[i])
		if ce.eps > 0 {
			if y < 0 || ce.sumW == 0 {
				clear(dx)
				continue
			}
			a, b, inv := (1-ce.eps)*w, ce.eps/float32(C), 1/ce.sumW
			for j, p := range dx {
				wc := float32(1)
				if ce.w != nil {
					wc = ce.w[j]
				}
				d := a*p + b*(p*ce.sumWc-wc)
				if j == y {
					d -= a
				}
				dx[j] = d * inv
			}
			continue
		}
		if w == 0 {
			clear(dx)
			continue
		}
		g := w / ce.sumW
		for j := range dx {
			if j == y {
				dx[j] = (dx[j] - 1) * g
			} else {
				dx[j] *= g
			}
		}
	}
}

// embeddingArgs checks the sizes of an Embedding op and returns the ids.
func (c *CPU) embeddingArgs(op string, ids *I32, dim int, pad int32, table *F32, tableName string, rows *F32, rowsName string) ([]int32, bool) {
	n := ids.Len()
	const names = "n dim"
	if c.failed() || !c.nonNeg(op, names, n, dim) || !c.i32(op, "ids", ids, n, names, n, dim) {
		return nil, false
	}
	if n == 0 {
		return nil, true
	}
	if dim == 0 {
		c.failf(op, "dim=0 with %d ids", n)
		return nil, false
	}
	if !c.f32(op, tableName, table, dim, names, n, dim) || !c.f32(op, rowsName, rows, satMul(n, dim), names, n, dim) {
		return nil, false
	}
	vocab := table.Len() / dim
	for i, id := range ids.cpu {
		if id != pad && (id < 0 || int(id) >= vocab) {
			c.failf(op, "ids[%d] = %d outside [0, %d) (dim=%d, %s has %d elements)", i, id, vocab, dim, tableName, table.Len())
			return nil, false
		}
	}
	return ids.cpu, true
}

// EmbeddingForward gathers rows of the vocab×dim table, vocab =
// table.Len()/dim: out[i,:] = table[ids[i],:], zeros for ids equal to pad.
func (c *CPU) EmbeddingForward(ids *I32, dim int, pad int32, table, out *F32) {
	is, ok := c.embeddingArgs("EmbeddingForward", ids, dim, pad, table, "table", out, "out")
	if !ok || len(is) == 0 {
		return
	}
	t, o := table.cpu, out.cpu
	if k := c.chunks(len(is)*dim, cpuGrainCheap); k > 1 {
		c.parallelRange(len(is), min(k, len(is)), func(lo, hi int) { cpuEmbedGather(is[lo:hi], pad, dim, t, o[lo*dim:hi*dim]) })
	} else {
		cpuEmbedGather(is, pad, dim, t, o)
	}
}

// cpuEmbedGather copies the table rows of ids into out, zeros for pad.
func cpuEmbedGather(ids []int32, pad int32, dim int, table, out []float32) {
	for i, id := range ids {
		dst := out[i*dim : (i+1)*dim]
		if id != pad {
			copy(dst, table[int(id)*dim:(int(id)+1)*dim])
		} else {
			clear(dst)
		}
	}
}

// cpuEmbedCols is the width of the column strips EmbeddingBackward's tasks
// scatter-add: a strip takes every id in order, so the sums are
// deterministic.
const cpuEmbedCols = 32

// EmbeddingBackward accumulates dout[i,:] into dtable[ids[i],:], skipping
// ids equal to pad; rows of repeated ids are added in the order of ids.
func (c *CPU) EmbeddingBackward(ids *I32, dim int, pad int32, dout, dtable *F32) {
	is, ok := c.embeddingArgs("EmbeddingBackward", ids, dim, pad, dtable, "dtable", dout, "dout")
	if !ok || len(is) == 0 {
		return
	}
	d, t := dout.cpu, dtable.cpu
	strips := (dim + cpuEmbedCols - 1) / cpuEmbedCols
	if strips > 1 && c.chunks(len(is)*dim, cpuGrainCheap) > 1 {
		c.work.run(strips, func(_, s int) {
			cpuEmbedScatter(is, pad, dim, s*cpuEmbedCols, min((s+1)*cpuEmbedCols, dim), d, t)
		})
	} else {
		cpuEmbedScatter(is, pad, dim, 0, dim, d, t)
	}
}

// cpuEmbedScatter adds columns [j0, j1) of the rows of dout into dtable.
func cpuEmbedScatter(ids []int32, pad int32, dim, j0, j1 int, dout, dtable []float32) {
	for i, id := range ids {
		if id == pad {
			continue
		}
		src := dout[i*dim+j0 : i*dim+j1]
		dst := dtable[int(id)*dim+j0 : int(id)*dim+j1]
		for j, v := range src {
			dst[j] += v
		}
	}
}

// seqArgs checks the sizes of a Sequence op and returns the lengths.
func (c *CPU) seqArgs(op string, batch, steps, feat, dirs int, x *F32, ldX, dirCols int, lengths *I32, y *F32, from bool) ([]int32, bool) {
	const names = "batch steps feat dirs ldX dirCols"
	vals := []int{batch, steps, feat, dirs, ldX, dirCols}
	if c.failed() || !c.nonNeg(op, names, vals...) || !c.i32(op, "lengths", lengths, batch, names, vals...) {
		return nil, false
	}
	if dirs < 1 || dirs > 2 {
		c.failf(op, "dirs=%d, want 1 or 2 %s", dirs, cpuSizes(names, vals))
		return nil, false
	}
	if from && dirs == 2 && dirCols != 0 && dirCols < feat {
		c.failf(op, "dirCols=%d overlaps the %d features of the other direction %s", dirCols, feat, cpuSizes(names, vals))
		return nil, false
	}
	if satMul(batch, steps, feat) == 0 {
		return nil, true
	}
	xCols := satAdd(satMul(dirs-1, dirCols), feat) // a row of x: dirs runs of feat, dirCols apart
	if !c.ld(op, "ldX", ldX, xCols, names, vals...) ||
		!c.f32(op, "x", x, cpuMatLen(satMul(batch, steps), xCols, ldX), names, vals...) ||
		!c.f32(op, "y", y, satMul(dirs, steps, batch, feat), names, vals...) {
		return nil, false
	}
	ls := lengths.cpu[:batch]
	return ls, c.lengthsIn(op, ls, steps)
}

// SequenceToTimeMajor rearranges the batch-major x into the dense
// time-major y of each direction, the second reversing each sequence's
// real steps, and zeros padded steps (see Backend).
func (c *CPU) SequenceToTimeMajor(batch, steps, feat, dirs int, x *F32, ldX, dirCols int, lengths *I32, y *F32) {
	ls, ok := c.seqArgs("SequenceToTimeMajor", batch, steps, feat, dirs, x, ldX, dirCols, lengths, y, false)
	if !ok || batch*steps*feat == 0 {
		return
	}
	sq := seqMap{batch: batch, steps: steps, feat: feat, dirs: dirs, ldX: ldX, dirCols: dirCols, lengths: ls}
	xs, ys := x.cpu, y.cpu
	rows := dirs * steps * batch
	if k := c.chunks(rows*feat, cpuGrainCheap); k > 1 {
		sq := sq // the workers' copy; the serial path allocates nothing
		c.parallelRange(rows, min(k, rows), func(lo, hi int) { sq.toTimeMajor(lo, hi, xs, ys) })
	} else {
		sq.toTimeMajor(0, rows, xs, ys)
	}
}

// SequenceFromTimeMajor writes the time-major y of each direction back into
// the batch-major x with the index maps of SequenceToTimeMajor (its
// adjoint); padded positions of x are zeroed, or left as they are with
// accumulate, which adds instead.
func (c *CPU) SequenceFromTimeMajor(batch, steps, feat, dirs int, y *F32, lengths *I32, x *F32, ldX, dirCols int, accumulate bool) {
	ls, ok := c.seqArgs("SequenceFromTimeMajor", batch, steps, feat, dirs, x, ldX, dirCols, lengths, y, true)
	if !ok || batch*steps*feat == 0 {
		return
	}
	sq := seqMap{batch: batch, steps: steps, feat: feat, dirs: dirs, ldX: ldX, dirCols: dirCols, lengths: ls}
	xs, ys := x.cpu, y.cpu
	if k := c.chunks(dirs*batch*steps*feat, cpuGrainCheap); k > 1 {
		sq := sq
		c.parallelRange(batch*steps, min(k, batch*steps), func(lo, hi int) { sq.fromTimeMajor(lo, hi, ys, xs, accumulate) })
	} else {
		sq.fromTimeMajor(0, batch*steps, ys, xs, accumulate)
	}
}

// seqMap is the index map of the Sequence ops: direction d of x is the
// feat columns at d·dirCols of its rows, d = 1 reads each sequence's real
// steps in reverse.
type seqMap struct {
	batch, steps, feat, dirs, ldX, dirCols int
	lengths                                []int32
}

// pos returns the position of sequence b that time step t of direction d
// reads, or −1 for a padded step.
func (sq *seqMap) pos(d, b, t int) int {
	l := int(sq.lengths[b])
	switch {
	case t >= l:
		return -1
	case d == 1:
		return l - 1 - t
	}
	return t
}

// toTimeMajor fills rows [lo, hi) of y, row (d·steps + t)·batch + b.
func (sq *seqMap) toTimeMajor(lo, hi int, x, y []float32) {
	F := sq.feat
	for r := lo; r < hi; r++ {
		d, t, b := r/(sq.steps*sq.batch), r/sq.batch%sq.steps, r%sq.batch
		dst := y[r*F : (r+1)*F]
		if p := sq.pos(d, b, t); p >= 0 {
			o := (b*sq.steps+p)*sq.ldX + d*sq.dirCols
			copy(dst, x[o:o+F])
		} else {
			clear(dst)
		}
	}
}

// fromTimeMajor fills rows [lo, hi) of x, row b·steps + p: each direction's
// columns, or, with dirCols = 0, their sum (direction 0 first).
func (sq *seqMap) fromTimeMajor(lo, hi int, y, x []float32, accumulate bool) {
	F := sq.feat
	for r := lo; r < hi; r++ {
		b, p := r/sq.steps, r%sq.steps
		l := int(sq.lengths[b])
		for d := range sq.dirs {
			dst := x[r*sq.ldX+d*sq.dirCols : r*sq.ldX+d*sq.dirCols+F]
			add := accumulate || (d > 0 && sq.dirCols == 0) // the sum of the directions
			if p >= l {
				if !add {
					clear(dst)
				}
				continue
			}
			t := p
			if d == 1 {
				t = l - 1 - p
			}
			o := ((d*sq.steps+t)*sq.batch + b) * F
			src := y[o : o+F]
			if add {
				for j, v := range src {
					dst[j] += v
				}
			} else {
				copy(dst, src)
			}
		}
	}
}

// poolArgs checks the sizes of a MeanPool op and returns the lengths.
func (c *CPU) poolArgs(op string, batch, steps, feat int, lengths *I32, seq *F32, seqName string, pooled *F32, pooledName string, ld int, ldName, names string) ([]int32, bool) {
	if c.failed() || !c.nonNeg(op, names, batch, steps, feat, ld) ||
		!c.i32(op, "lengths", lengths, batch, names, batch, steps, feat, ld) {
		return nil, false
	}
	if satMul(batch, feat) == 0 {
		return nil, true
	}
	if !c.ld(op, ldName, ld, feat, names, batch, steps, feat, ld) ||
		!c.f32(op, seqName, seq, satMul(batch, steps, feat), names, batch, steps, feat, ld) ||
		!c.f32(op, pooledName, pooled, cpuMatLen(batch, feat, ld), names, batch, steps, feat, ld) {
		return nil, false
	}
	ls := lengths.cpu[:batch]
	return ls, c.lengthsIn(op, ls, steps)
}

// MeanPool averages each sequence of the batch-major [batch, steps, feat] x
// over its first lengths[b] steps into y[b*ldY+f]: the float32 sum in step
// order divided by the length; an empty sequence gives zeros.
func (c *CPU) MeanPool(batch, steps, feat int, lengths *I32, x, y *F32, ldY int) {
	ls, ok := c.poolArgs("MeanPool", batch, steps, feat, lengths, x, "x", y, "y", ldY, "ldY", "batch steps feat ldY")
	if !ok || batch*feat == 0 {
		return
	}
	xs, ys := x.cpu, y.cpu
	if k := c.chunks(batch*steps*feat, cpuGrainCheap); k > 1 {
		c.parallelRange(batch, min(k, batch), func(lo, hi int) { cpuMeanPool(lo, hi, steps, feat, ls, xs, ys, ldY) })
	} else {
		cpuMeanPool(0, batch, steps, feat, ls, xs, ys, ldY)
	}
}

// cpuMeanPool pools sequences [lo, hi).
func cpuMeanPool(lo, hi, steps, feat int, lengths []int32, x, y []float32, ldY int) {
	for b := lo; b < hi; b++ {
		yr := y[b*ldY : b*ldY+feat]
		clear(yr)
		l := int(lengths[b])
		if l == 0 {
			continue
		}
		for t := range l {
			xr := x[(b*steps+t)*feat : (b*steps+t+1)*feat]
			for j, v := range xr {
				yr[j] += v
			}
		}
		for j := range yr {
			yr[j] /= float32(l)
		}
	}
}

// MeanPoolBackward writes dx[b,t,:] = dy[b,:]/lengths[b] for t < lengths[b]
// and zeros at padded steps.
func (c *CPU) MeanPoolBackward(batch, steps, feat int, lengths *I32, dy *F32, ldDY int, dx *F32) {
	ls, ok := c.poolArgs("MeanPoolBackward", batch, steps, feat, lengths, dx, "dx", dy, "dy", ldDY, "ldDY", "batch steps feat ldDY")
	if !ok || batch*feat == 0 {
		return
	}
	dys, dxs := dy.cpu, dx.cpu
	if k := c.chunks(batch*steps*feat, cpuGrainCheap); k > 1 {
		c.parallelRange(batch, min(k, batch), func(lo, hi int) { cpuMeanPoolBackward(lo, hi, steps, feat, ls, dys, ldDY, dxs) })
	} else {
		cpuMeanPoolBackward(0, batch, steps, feat, ls, dys, ldDY, dxs)
	}
}

// cpuMeanPoolBackward spreads the gradients of sequences [lo, hi).
func cpuMeanPoolBackward(lo, hi, steps, feat int, lengths []int32, dy []float32, ldDY int, dx []float32) {
	for b := lo; b < hi; b++ {
		l := int(lengths[b])
		dyr := dy[b*ldDY : b*ldDY+feat]
		for t := range steps {
			dxr := dx[(b*steps+t)*feat : (b*steps+t+1)*feat]
			if t >= l {
				clear(dxr)
				continue
			}
			for j, v := range dyr {
				dxr[j] = v / float32(l)
			}
		}
	}
}

// AdamStep updates one parameter in place as torch.optim.Adam (AdamW when
// p.Decoupled) does for a single tensor. With bc1 = 1−β1ᵗ and bc2 = 1−β2ᵗ in
// float64, stepSize = float32(lr/bc1) and root = float32(√bc2), per element
// in float32:
//
//	g = grad (+ wd·param for Adam);  param *= 1 − lr·wd (AdamW)
//	m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g·g
//	param −= stepSize · m / (√v/root + eps)
//
// All four buffers hold param.Len() elements or more.
func (c *CPU) AdamStep(p AdamParams, param, grad, m, v *F32) {
	const op = "AdamStep"
	n := param.Len()
	if c.failed() || !c.f32(op, "param", param, n, "n", n) || !c.f32(op, "grad", grad, n, "n", n) ||
		!c.f32(op, "m", m, n, "n", n) || !c.f32(op, "v", v, n, "n", n) {
		return
	}
	if p.Step < 1 {
		c.failf(op, "Step=%d, must be ≥ 1", p.Step)
		return
	}
	if n == 0 {
		return
	}
	a := adamConsts(p)
	ps, gs, ms, vs := param.cpu, grad.cpu[:n], m.cpu[:n], v.cpu[:n]
	if k := c.chunks(n, cpuGrainCheap/4); k > 1 {
		a := a // the workers' copy; the serial path allocates nothing
		c.parallelRange(n, k, func(lo, hi int) { a.update(ps[lo:hi], gs[lo:hi], ms[lo:hi], vs[lo:hi], p.ZeroGrad) })
	} else {
		a.update(ps, gs, ms, vs, p.ZeroGrad)
	}
}

type adamStep struct {
	b1, b2, c1, c2, eps, stepSize, root, wd, decay float32
}

func adamConsts(p AdamParams) adamStep {
	t := float64(p.Step)
	bc1 := 1 - math.Pow(float64(p.Beta1), t)
	bc2 := 1 - math.Pow(float64(p.Beta2), t)
	a := adamStep{
		b1: p.Beta1, b2: p.Beta2, c1: 1 - p.Beta1, c2: 1 - p.Beta2, eps: p.Eps,
		stepSize: float32(float64(p.LR) / bc1),
		root:     float32(math.Sqrt(bc2)),
		decay:    1,
	}
	if p.Decoupled {
		a.decay = 1 - p.LR*p.WeightDecay
	} else {
		a.wd = p.WeightDecay
	}
	return a
}

// update steps p, m and v from g, then zeroes g when zeroGrad (while the
// chunk is in cache). Without weight decay the AVX kernel takes all but the
// last few elements, with the same bits as updateGo.
func (a *adamStep) update(p, g, m, v []float32, zeroGrad bool) {
	g, m, v = g[:len(p)], m[:len(p)], v[:len(p)]
	n := adamVec(a, p, g, m, v)
	a.updateGo(p[n:], g[n:], m[n:], v[n:])
	if zeroGrad {
		clear(g)
	}
}

// updateGo steps p, m and v from g, one element at a time: the reference.
func (a *adamStep) updateGo(p, g, m, v []float32) {
	g, m, v = g[:len(p)], m[:len(p)], v[:len(p)]
	for i, w := range p {
		gi := g[i]
		// Every product is rounded before it is added (the conversions
		// forbid fusing them into FMAs, as GOAMD64=v3 otherwise does), so
		// that this is the AVX kernel's arithmetic, bit for bit, whatever
		// the build: which elements take this path depends on the threads.
		if a.wd != 0 {
			gi += float32(a.wd * w)
		}
		if a.decay != 1 {
			w *= a.decay
		}
		mi := float32(a.b1*m[i]) + float32(a.c1*gi)
		vi := float32(a.b2*v[i]) + float32(float32(a.c2*gi)*gi)
		m[i], v[i] = mi, vi
		p[i] = w - a.stepSize*mi/(float32(math.Sqrt(float64(vi)))/a.root+a.eps)
	}
}
