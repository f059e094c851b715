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
