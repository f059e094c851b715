package host

import (
	"fmt"
	"testing"
)

// BenchmarkLSTMGates measures one time step of the fused LSTM cell, forward
// and backward, for both directions of a BiLSTM over a batch (a step of the
// recurrence; the GEMMs around it are in BenchmarkGemm). Half the sequences
// have ended, as in a length-sorted batch near its end.
func BenchmarkLSTMGates(b *testing.B) {
	for _, sh := range []struct{ dirs, batch, hidden int }{{2, 32, 64}, {2, 32, 128}, {2, 32, 256}, {1, 1, 64}} {
		b.Run(fmt.Sprintf("dirs=%d,batch=%d,hidden=%d", sh.dirs, sh.batch, sh.hidden), func(b *testing.B) {
			const steps, s = 4, 2
			c := NewCPU(0)
			n := sh.dirs * steps * sh.batch * sh.hidden
			lens := make([]int32, sh.batch)
			for i := range lens {
				lens[i] = int32(steps - 2*(i%2)) // ended rows alternate with active ones
			}
			l := c.AllocI32(sh.batch)
			c.UploadI32(l, lens)
			pre, act, cs, hs := c.Alloc(4*n), c.Alloc(4*n), c.Alloc(n), c.Alloc(n)
			dh, dc, dpre := c.Alloc(n), c.Alloc(n), c.Alloc(4*n)
			c.Fill(pre, 0.3)
			c.Fill(dh, 0.1)
			b.Run("forward", func(b *testing.B) {
				for range b.N {
					c.LSTMGatesForward(sh.dirs, steps, sh.batch, sh.hidden, s, l, pre, act, cs, hs)
				}
				b.ReportMetric(float64(b.N*sh.dirs*sh.batch*sh.hidden)/b.Elapsed().Seconds()/1e6, "Munits/s")
			})
			b.Run("backward", func(b *testing.B) {
				for range b.N {
					c.LSTMGatesBackward(sh.dirs, steps, sh.batch, sh.hidden, s, l, act, cs, dh, dc, dpre)
				}
				b.ReportMetric(float64(b.N*sh.dirs*sh.batch*sh.hidden)/b.Elapsed().Seconds()/1e6, "Munits/s")
			})
			if err := c.Err(); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkCPUDispatch measures the cost of running an empty op on two
// workers: the overhead that the parallel thresholds must amortise.
func BenchmarkCPUDispatch(b *testing.B) {
	c := NewCPU(2)
	for range b.N {
		c.parallelRange(2, 2, func(lo, hi int) {})
	}
}
