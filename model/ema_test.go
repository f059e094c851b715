package model

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/emotionlab/emotion/host"
)

// TestEMAMatchesReference drives an EMA over adjacent, lone and frozen
// parameters with new random values at every update and checks each
// average against a float64 moving average (the first update a copy, then
// decay·average + (1−decay)·value); Swap must exchange values and averages
// exactly, twice undo itself, and do nothing before the first update.
func TestEMAMatchesReference(t *testing.T) {
	be := host.NewCPU(1)
	adjacent, values, grads := newAdjacentParams(be, paramSpec{"a.weight", []int{3, 5}}, paramSpec{"a.bias", []int{3}})
	defer be.Free(values)
	defer be.Free(grads)
	lone := newParam(be, "b", 7)
	frozen := newParam(be, "frozen", 4)
	frozen.Frozen = true
	defer freeParams(be, lone, frozen)
	params := []*Param{frozen, adjacent[0], adjacent[1], lone}

	for _, bad := range []float32{-0.1, 1, 1.5, float32(math.NaN())} {
		if _, err := NewEMA(be, params, bad); err == nil {
			t.Errorf("NewEMA(decay %g) = nil error", bad)
		}
	}
	const decay = 0.75
	e, err := NewEMA(be, params, decay)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Release()
	if len(e.runs) != 2 {
		t.Errorf("%d runs, want 2: a.weight with a.bias, and b", len(e.runs))
	}
	if e.Average(0) != nil {
		t.Error("the frozen parameter has an average")
	}

	r := rand.New(rand.NewPCG(1, 2))
	set := func() [][]float32 {
		var vs [][]float32
		for _, p := range params {
			v := make([]float32, p.Len())
			for j := range v {
				v[j] = float32(r.NormFloat64())
			}
			be.Upload(p.Value, v)
			vs = append(vs, v)
		}
		return vs
	}
	vs := set()
	e.Swap() // before any update: nothing to swap
	for i, p := range params {
		if !slices.Equal(download(t, be, p.Value), vs[i]) {
			t.Fatalf("%s changed by a Swap before the first update", p.Name)
		}
	}
	ref := make([][]float64, len(params))
	for step := range 6 {
		if step > 0 {
			vs = set()
		}
		e.Update()
		for i := range params {
			if ref[i] == nil {
				ref[i] = make([]float64, len(vs[i]))
				for j, x := range vs[i] {
					ref[i][j] = float64(x)
				}
				continue
			}
			for j, x := range vs[i] {
				ref[i][j] = decay*ref[i][j] + (1-decay)*float64(x)
			}
		}
	}
	if e.Updates != 6 {
		t.Errorf("Updates = %d, want 6", e.Updates)
	}
	for i, p := range params {
		if p.Frozen {
			continue
		}
		got := download(t, be, e.Average(i))
		for j := range got {
			if d := math.Abs(float64(got[j]) - ref[i][j]); d > 1e-6*(1+math.Abs(ref[i][j])) {
				t.Fatalf("%s[%d]: average %g, reference %g", p.Name, j, got[j], ref[i][j])
			}
		}
	}

	avgs := make([][]float32, len(params))
	for i, p := range params {
		if !p.Frozen {
			avgs[i] = download(t, be, e.Average(i))
		}
	}
	e.Swap()
	for i, p := range params {
		want, wantAvg := avgs[i], vs[i]
		if p.Frozen {
			want = vs[i]
		}
		if !slices.Equal(download(t, be, p.Value), want) {
			t.Errorf("%s after Swap: not its average", p.Name)
		}
		if !p.Frozen && !slices.Equal(download(t, be, e.Average(i)), wantAvg) {
			t.Errorf("%s's average after Swap: not the values", p.Name)
		}
	}
	e.Swap()
	for i, p := range params {
		if !slices.Equal(download(t, be, p.Value), vs[i]) {
			t.Errorf("%s after two Swaps: not its own values", p.Name)
		}
	}

	if err := e.SetAverage(0, make([]float32, 4)); err == nil {
		t.Error("SetAverage of a frozen parameter: nil error")
	}
	if err := e.SetAverage(3, make([]float32, 6)); err == nil {
		t.Error("SetAverage with 6 of 7 elements: nil error")
	}
}

// TestTrainerValidatesTheAverage trains the toy models with a moving
// average and follows the weights after every step (OnBatch): the best
// epoch's kept weights are the float64 moving average of every step up to
// the end of that epoch, they score the logged validation accuracy, and
// the network trains on from (and ends with) its own weights.
func TestTrainerValidatesTheAverage(t *testing.T) {
	const decay = 0.8
	for _, kind := range []string{KindSentence, KindDialog} {
		t.Run(kind, func(t *testing.T) {
			be := host.NewCPU(2)
			tr := newToyTrainerEMA(t, be, kind, 4, decay)
			defer tr.Net.Release()
			defer tr.Release()
			data := newToyData(kind, tr.Net.Config())
			params := tr.Net.Params()
			var ref [][]float64
			var last [][]float32
			var atEpoch [][][]float64 // the reference average at the end of each epoch
			tr.OnBatch = func(int, int, int, float64, float64) {
				last = last[:0]
				for i, p := range params {
					v := download(t, be, p.Value)
					last = append(last, v)
					if len(ref) < len(params) {
						ref = append(ref, make([]float64, len(v)))
						for j, x := range v {
							ref[i][j] = float64(x)
						}
						continue
					}
					for j, x := range v {
						ref[i][j] = decay*ref[i][j] + (1-decay)*float64(x)
					}
				}
			}
			tr.OnEpoch = func(EpochLog) error {
				snap := make([][]float64, len(ref))
				for i := range ref {
					snap[i] = slices.Clone(ref[i])
				}
				atEpoch = append(atEpoch, snap)
				return nil
			}
			if err := tr.Run(context.Background(), data); err != nil {
				t.Fatal(err)
			}
			best := atEpoch[tr.State.BestEpoch-1]
			for i, p := range params {
				for j, x := range tr.Best[i] {
					if d := math.Abs(float64(x) - best[i][j]); d > 1e-5*(1+math.Abs(best[i][j])) {
						t.Fatalf("%s[%d]: kept %g, the average at epoch %d is %g", p.Name, j, x, tr.State.BestEpoch, best[i][j])
					}
				}
				if !slices.Equal(download(t, be, p.Value), last[i]) {
					t.Fatalf("%s after training: not the last step's own weights", p.Name)
				}
			}
			if slices.Equal(tr.Best[0], last[0]) {
				t.Fatal("the kept weights are the last step's: nothing was averaged")
			}
			if err := tr.RestoreBest(); err != nil {
				t.Fatal(err)
			}
			ev, err := Evaluate(be, tr.Net, data.Val(), tr.loss)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := ev.Accuracy(), tr.State.History[tr.State.BestEpoch-1].ValAcc; got != want {
				t.Errorf("the kept weights score %g, the best epoch logged %g", got, want)
			}
		})
	}
}
