package bench

import (
	"fmt"
	"slices"
	"strings"
)

// Shapes is a set of model sizes that RunKernels sweeps. Each op runs at the
// combinations of the sizes it depends on (see the op table in the package
// documentation and Cases).
type Shapes struct {
	Name    string `json:"name"`
	Batches []int  `json:"batches"` // utterances (or dialog windows) per batch: B
	Seqs    []int  `json:"seqs"`    // time steps of a sequence (tokens per utterance): T
	Hiddens []int  `json:"hiddens"` // LSTM hidden size per direction: H
	Rows    []int  `json:"rows"`    // attention rows: turns of a window (10) or tokens (100): R
	Heads   int    `json:"heads"`   // attention heads
	Vocab   int    `json:"vocab"`   // embedding rows: V
}

// The shape sets. Full is the sweep of the issue (every batch, hidden
// size, sequence length and attention length of the two models); quick
// keeps batch 32 and the two smaller hidden sizes, for a CPU run of a
// couple of minutes; large keeps the largest of each size, where the
// issue's bandwidth targets apply, for a short GPU run; tiny is for tests.
var shapeSets = []Shapes{
	{Name: "tiny", Batches: []int{3}, Seqs: []int{5}, Hiddens: []int{8}, Rows: []int{3}, Heads: 4, Vocab: 50},
	{Name: "quick", Batches: []int{32}, Seqs: []int{10, 50}, Hiddens: []int{64, 128}, Rows: []int{10, 100}, Heads: 4, Vocab: 1614},
	{Name: "large", Batches: []int{512}, Seqs: []int{100}, Hiddens: []int{512}, Rows: []int{100}, Heads: 4, Vocab: 1614},
	{Name: "full", Batches: []int{32, 128, 512}, Seqs: []int{10, 50, 100}, Hiddens: []int{64, 128, 256, 512}, Rows: []int{10, 100}, Heads: 4, Vocab: 1614},
}

// ShapeNames lists the names ShapesNamed accepts.
func ShapeNames() []string {
	var names []string
	for _, s := range shapeSets {
		names = append(names, s.Name)
	}
	return names
}

// ShapesNamed returns the shape set called name: tiny, quick or full.
func ShapesNamed(name string) (Shapes, error) {
	for _, s := range shapeSets {
		if s.Name == name {
			s.Batches = slices.Clone(s.Batches)
			s.Seqs = slices.Clone(s.Seqs)
			s.Hiddens = slices.Clone(s.Hiddens)
			s.Rows = slices.Clone(s.Rows)
			return s, nil
		}
	}
	return Shapes{}, fmt.Errorf("unknown shape set %q (want %s)", name, strings.Join(ShapeNames(), ", "))
}

// Dim is one named size of a benchmark case.
type Dim struct {
	Name  string
	Value int
}

// formatDims writes dims as "B=32 T=50 H=64".
func formatDims(dims []Dim) string {
	var b strings.Builder
	for i, d := range dims {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d", d.Name, d.Value)
	}
	return b.String()
}

// sweep calls f for every combination of the sizes named in which
// ("B", "T", "H", "R"), in that nesting order.
func (s Shapes) sweep(which string, f func(b, t, h, r int)) {
	one := []int{0}
	pick := func(name string, vals []int) []int {
		if strings.Contains(which, name) {
			return vals
		}
		return one
	}
	for _, b := range pick("B", s.Batches) {
		for _, t := range pick("T", s.Seqs) {
			for _, h := range pick("H", s.Hiddens) {
				for _, r := range pick("R", s.Rows) {
					f(b, t, h, r)
				}
			}
		}
	}
}
