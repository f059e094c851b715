package model

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/emotionlab/emotion/dataset"
	"github.com/emotionlab/emotion/host"
)

// TestEmbeddingSetRows checks that pretrained rows replace the initial
// draw where given, that the others and the zero padding row stay, and
// that rows of the wrong count or size are refused.
func TestEmbeddingSetRows(t *testing.T) {
	be := host.NewCPU(1)
	const V, D = 5, 3
	e, err := NewEmbeddingStd(be, NewRNG(3), "embedding", V, D, 0, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Release()
	before := download(t, be, e.Weight.Value)
	rows := [][]float32{{9, 9, 9}, nil, {1, 2, 3}, nil, {-4, 5, -6}}
	if err := e.SetRows(rows); err != nil {
		t.Fatal(err)
	}
	got := download(t, be, e.Weight.Value)
	for id := range V {
		want := before[id*D : (id+1)*D]
		if id > 0 && rows[id] != nil {
			want = rows[id]
		}
		if !slices.Equal(got[id*D:(id+1)*D], want) {
			t.Errorf("row %d = %v, want %v", id, got[id*D:(id+1)*D], want)
		}
	}
	if !slices.Equal(got[:D], []float32{0, 0, 0}) {
		t.Errorf("padding row = %v, want zeros", got[:D])
	}
	if err := e.SetRows(rows[:4]); err == nil {
		t.Error("4 rows for a vocabulary of 5: no error")
	}
	if err := e.SetRows([][]float32{nil, nil, {1, 2}, nil, nil}); err == nil {
		t.Error("a row of 2 values for an embedding of 3: no error")
	}
}

// TestFreezeEmbeddings trains both models with the embedding frozen: the
// other parameters get the same gradients as without freezing (the LSTM
// skips only the input gradient), the table gets none and keeps its
// values through training with weight decay and clipping, and a resumed
// run stays frozen.
func TestFreezeEmbeddings(t *testing.T) {
	for _, kind := range []string{KindSentence, KindDialog} {
		t.Run(kind, func(t *testing.T) {
			be := host.NewCPU(2)
			cfg := withSeed(smallConfig(kind), 5)
			cfg.Dropout = 0
			tc := TrainConfig{Epochs: 2, LR: 0.02, WeightDecay: 0.01, ClipNorm: 0.5}
			newTrainer := func(freeze bool) *Trainer {
				net, err := New(be, cfg)
				if err != nil {
					t.Fatal(err)
				}
				c := tc
				c.FreezeEmbeddings = freeze
				tr, err := NewTrainer(be, net, c)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { tr.Release(); tr.Net.Release() })
				return tr
			}
			frozen, free := newTrainer(true), newTrainer(false)
			if !frozen.Net.Embedding().Weight.Frozen || free.Net.Embedding().Weight.Frozen {
				t.Fatal("FreezeEmbeddings did not set (only) its trainer's embedding frozen")
			}

			in := toyInputs(rand.New(rand.NewPCG(1, 2)), 6, cfg.Window, 5, cfg.Vocab, cfg.SpeakerDim)
			if kind == KindSentence {
				in = toyInputs(rand.New(rand.NewPCG(1, 2)), 6, 1, 5, cfg.Vocab, cfg.SpeakerDim)
			}
			for _, tr := range []*Trainer{frozen, free} {
				tr.Net.SetTraining(true)
				lossOf(t, be, tr.Net, tr.loss, &in)
				tr.Net.Backward(tr.loss.Grad())
			}
			fp, up := frozen.Net.Params(), free.Net.Params()
			for i := range fp {
				g, want := download(t, be, fp[i].Grad), download(t, be, up[i].Grad)
				if fp[i] == frozen.Net.Embedding().Weight {
					if slices.ContainsFunc(g, func(x float32) bool { return x != 0 }) {
						t.Errorf("%s: the frozen table got a gradient", fp[i].Name)
					}
					if !slices.ContainsFunc(want, func(x float32) bool { return x != 0 }) {
						t.Errorf("%s: no gradient without freezing either: the test checks nothing", fp[i].Name)
					}
					continue
				}
				if !slices.Equal(g, want) {
					t.Errorf("%s: gradient with the embedding frozen differs from the one without", fp[i].Name)
				}
			}
			for _, tr := range []*Trainer{frozen, free} {
				ZeroGrads(be, tr.Net)
			}

			table := download(t, be, frozen.Net.Embedding().Weight.Value)
			others := download(t, be, frozen.Net.Params()[1].Value)
			data := newToyData(kind, cfg)
			if err := frozen.Run(context.Background(), data); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(download(t, be, frozen.Net.Embedding().Weight.Value), table) {
				t.Error("training changed the frozen embedding")
			}
			if slices.Equal(download(t, be, frozen.Net.Params()[1].Value), others) {
				t.Errorf("training left %s unchanged", frozen.Net.Params()[1].Name)
			}

			path := filepath.Join(t.TempDir(), "state.safetensors")
			meta := Meta{Vocab: make([]string, cfg.Vocab), Labels: dataset.LabelNames[:]}
			if err := SaveTraining(path, be, frozen, meta, false); err != nil {
				t.Fatal(err)
			}
			resumed, _, err := LoadTraining(path, be)
			if err != nil {
				t.Fatal(err)
			}
			defer resumed.Net.Release()
			defer resumed.Release()
			if !resumed.Cfg.FreezeEmbeddings || !resumed.Net.Embedding().Weight.Frozen {
				t.Error("the resumed run's embedding is not frozen")
			}
		})
	}
}

// TestAdamSkipsFrozen checks that Adam neither updates a frozen parameter
// nor counts its gradient in the clipping norm: the other parameter moves
// exactly as under an Adam that never saw the frozen one.
func TestAdamSkipsFrozen(t *testing.T) {
	be := host.NewCPU(1)
	ps, values, grads := newAdjacentParams(be, paramSpec{"frozen", []int{3}}, paramSpec{"free", []int{4}})
	defer be.Free(values)
	defer be.Free(grads)
	ref := newParam(be, "free", 4)
	defer freeParams(be, ref)
	ps[0].Frozen = true
	be.Upload(ps[0].Value, []float32{1, 2, 3})
	for _, p := range []*Param{ps[1], ref} {
		be.Upload(p.Value, []float32{0.5, -0.5, 1, -1})
	}
	a, b := NewAdam(be, ps, 0.1), NewAdam(be, []*Param{ref}, 0.1)
	defer a.Release()
	defer b.Release()
	if len(a.runs) != 2 {
		t.Fatalf("%d runs, want the frozen parameter in its own", len(a.runs))
	}
	for _, o := range []*Adam{a, b} {
		o.ClipNorm, o.WeightDecay = 0.3, 0.1
	}
	for step := range 3 {
		be.Upload(ps[0].Grad, []float32{100, -100, 100}) // would dominate the norm
		g := []float32{0.2, -0.1 * float32(step), 0.4, 0.3}
		be.Upload(ps[1].Grad, g)
		be.Upload(ref.Grad, g)
		a.Update()
		b.Update()
	}
	if got := download(t, be, ps[0].Value); !slices.Equal(got, []float32{1, 2, 3}) {
		t.Errorf("frozen parameter = %v, want it unchanged", got)
	}
	if got, want := download(t, be, ps[1].Value), download(t, be, ref.Value); !slices.Equal(got, want) {
		t.Errorf("free parameter = %v, want %v (Adam without the frozen one)", got, want)
	}
}
