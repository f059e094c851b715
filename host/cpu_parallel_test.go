package host

import (
	"slices"
	"testing"
)

// TestParallelPathsMatchOneThread runs on 2 threads the parallel paths
// that the other host tests, at sizes below their split thresholds, leave
// serial (LSTMGatesBackward, Copy, ReLUBackward): the work goes to the
// pool, and the results are 1 thread's, bit for bit (go test -race checks
// that the chunks do not overlap).
func TestParallelPathsMatchOneThread(t *testing.T) {
	run := func(threads int) (lstm, cp, relu []float32, dispatches int) {
		h := newCPUHarness(t, threads)
		c := h.c
		const dirs, steps, batch, hidden = 2, 4, 64, 128
		n := dirs * steps * batch * hidden
		lens := h.lengths(batch, steps)
		l := h.upI(lens)
		pre, act, cs, hs := h.up(h.rand(4*n)), c.Alloc(4*n), c.Alloc(n), c.Alloc(n)
		dh, dc, dpre := h.up(h.rand(n)), c.Alloc(n), c.Alloc(4*n)
		for s := range steps {
			c.LSTMGatesForward(dirs, steps, batch, hidden, s, l, pre, act, cs, hs)
		}
		before := c.work.dispatches
		for s := steps - 1; s >= 0; s-- {
			c.LSTMGatesBackward(dirs, steps, batch, hidden, s, l, act, cs, dh, dc, dpre)
		}
		if threads > 1 && c.work.dispatches-before != steps {
			t.Errorf("backward: %d dispatches over %d steps", c.work.dispatches-before, steps)
		}
		lstm = slices.Concat(h.down(dpre), h.down(dh), h.down(dc))
		src, dst := h.up(h.rand(1<<19)), c.Alloc(1<<19)
		c.Copy(dst, src)
		cp = h.down(dst)
		y, dy, dx := h.up(h.rand(1<<17)), h.up(h.rand(1<<17)), c.Alloc(1<<17)
		c.ReLUBackward(y, dy, dx)
		relu = h.down(dx)
		return lstm, cp, relu, c.work.dispatches
	}
	l1, c1, r1, _ := run(1)
	l2, c2, r2, d := run(2)
	if d < 1+4+1 { // at least: 4 backward steps, the copy, the ReLU
		t.Errorf("%d parallel dispatches", d)
	}
	if !slices.Equal(l1, l2) || !slices.Equal(c1, c2) || !slices.Equal(r1, r2) {
		t.Error("2 threads differ from 1")
	}
}
