package bench

import "testing"

// The tests here derive a case's traffic or arithmetic from the inputs the
// case generates (its lengths and ids as uploaded), the way the kernel
// walks them, independently of the formulas in cases.go.

// TestEmbeddingForwardCost: the gather reads every id, writes every output
// row and reads each distinct table row once, however many positions share
// it (the table stays in cache); its counted table reads never exceed the
// table, which a read per position did at every shape with repeated ids.
func TestEmbeddingForwardCost(t *testing.T) {
	s := Shapes{Batches: []int{3, 40}, Seqs: []int{100}, Hiddens: []int{8}, Rows: []int{4}, Heads: 4, Vocab: 50}
	found := 0
	for _, c := range cases(s) {
		if c.op != "EmbeddingForward" {
			continue
		}
		found++
		ids := c.data().i[0]
		table := int64(c.f32[0])
		e := table / int64(s.Vocab)
		n := int64(len(ids))
		distinct, real := map[int32]bool{}, int64(0)
		for _, id := range ids {
			if id != 0 {
				distinct[id] = true
				real++
			}
		}
		if real <= int64(len(distinct)) {
			t.Fatalf("%s %s: %d positions of %d ids, want repeats", c.name(), formatDims(c.dims), real, len(distinct))
		}
		want := 4*n + 4*n*e + 4*int64(len(distinct))*e
		if c.bytes != want {
			t.Errorf("%s %s: %d bytes, want %d (%d ids, %d real, %d distinct, E = %d)",
				c.name(), formatDims(c.dims), c.bytes, want, n, real, len(distinct), e)
		}
		if reads := c.bytes - 4*n - 4*n*e; reads > 4*table {
			t.Errorf("%s %s: %d bytes of table reads counted, the table is %d", c.name(), formatDims(c.dims), reads, 4*table)
		}
	}
	if found != 2 {
		t.Errorf("%d EmbeddingForward cases, want 2", found)
	}
}

// TestEmbeddingBackwardCost: the scatter-add reads its plan, which the host
// builds from the ids (kernel embedding_bwd in kernels/embedding.cu: an
// offset per distinct id and one more, the distinct ids, then every
// non-pad position sorted by id), the dout row of every non-pad position,
// and reads and writes once the dtable row of each distinct id, one block
// per id adding that id's rows. Its FLOPs are one add per feature of each
// non-pad position. The plan's layout is rebuilt here from the case's ids
// with a counting sort, as GPU.EmbeddingBackward does, rather than taken
// from the formula in cases.go.
func TestEmbeddingBackwardCost(t *testing.T) {
	s := Shapes{Batches: []int{3, 40}, Seqs: []int{100}, Hiddens: []int{8}, Rows: []int{4}, Heads: 4, Vocab: 50}
	found := 0
	for _, c := range cases(s) {
		if c.op != "EmbeddingBackward" {
			continue
		}
		found++
		ids := c.data().i[0]
		dout, table := int64(c.f32[0]), int64(c.f32[1])
		e := table / int64(s.Vocab)
		n := int64(len(ids))
		if dout != n*e {
			t.Fatalf("%s %s: dout of %d floats for %d ids of E = %d", c.name(), formatDims(c.dims), dout, n, e)
		}
		count := make([]int64, s.Vocab) // positions per id, pad (0) left out
		var positions int64
		for _, id := range ids {
			if id != 0 {
				count[id]++
				positions++
			}
		}
		var segments int64
		for _, k := range count {
			if k > 0 {
				segments++
			}
		}
		if positions <= segments {
			t.Fatalf("%s %s: %d positions of %d ids, want repeats", c.name(), formatDims(c.dims), positions, segments)
		}
		plan := (segments + 1) + segments + positions // offsets, ids, positions
		want := 4*plan + 4*positions*e + (4+4)*segments*e
		if c.bytes != want {
			t.Errorf("%s %s: %d bytes, want %d (%d ids, %d positions, %d distinct, E = %d: plan %d B, dout %d B, dtable %d B read and %d B written)",
				c.name(), formatDims(c.dims), c.bytes, want, n, positions, segments, e, 4*plan, 4*positions*e, 4*segments*e, 4*segments*e)
		}
		if c.flops != positions*e {
			t.Errorf("%s %s: %d FLOPs, want %d (an add per feature of each of %d positions)",
				c.name(), formatDims(c.dims), c.flops, positions*e, positions)
		}
	}
	if found != 2 {
		t.Errorf("%d EmbeddingBackward cases, want 2", found)
	}
}

// TestLSTMSequenceFlops walks the whole-sequence kernels' steps (lstm.cu)
// over the lengths the case uploads: forward, the recurrent product h_{s−1}·
// W_hhᵀ (4H columns of H multiply-adds for each unit row of the block) at
// every step but the first, then for a running row the 4 adds of the
// product and the 9 FLOPs of the cell; backward, dpre_{s+1}·W_hh at every
// step but the last, then 23 + 1 for a running row and the carried dh's
// add for an ended one.
func TestLSTMSequenceFlops(t *testing.T) {
	s := Shapes{Batches: []int{3, 40}, Seqs: []int{1, 10}, Hiddens: []int{8}, Rows: []int{4}, Heads: 4, Vocab: 50}
	found := 0
	for _, c := range cases(s) {
		if c.op != "LSTMSequenceForward" && c.op != "LSTMSequenceBackward" {
			continue
		}
		found++
		dim := map[string]int{}
		for _, d := range c.dims {
			dim[d.Name] = d.Value
		}
		b, steps, h := dim["B"], dim["T"], int64(dim["H"])
		lengths := c.data().i[0]
		var want int64
		for range 2 { // directions
			for s := range steps {
				for r := range b {
					running := s < int(lengths[r])
					if c.op == "LSTMSequenceForward" {
						if s > 0 {
							want += 4 * h * 2 * h
						}
						if running {
							want += (4 + 9) * h
						}
						continue
					}
					if s+1 < steps {
						want += 4 * h * 2 * h
					}
					if running {
						want += (23 + 1) * h
					} else {
						want += h
					}
				}
			}
		}
		if c.flops != want {
			t.Errorf("%s %s: %d FLOPs, want %d (lengths %v)", c.name(), formatDims(c.dims), c.flops, want, lengths)
		}
	}
	if found != 8 {
		t.Errorf("%d whole-sequence LSTM cases, want 8", found)
	}
}
