package model

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/emotionlab/emotion/host"
)

// schedNet is a two-class Network whose outputs the test dictates, so that
// the trainer's bookkeeping can be checked against values worked out by
// hand. In training it returns the logits carried in Inputs.Speaker (two
// per row). In its e-th evaluation pass (1-based) the first right[e−1] rows
// of a batch get logits 2 at their label and 0 at the other class, the rest
// the reverse. Its one parameter holds the number of the epoch being
// trained (evaluations done + 1), so a copy of it says which epoch it was
// taken in; it gets no gradient, so Adam leaves it as it is.
type schedNet struct {
	be       host.Backend
	p        *Param
	right    []int
	training bool
	evals    int
	logits   layerBuf
	labels   *host.I32
}

func newSchedNet(be host.Backend, right ...int) *schedNet {
	return &schedNet{be: be, p: newParam(be, "epoch", 1), right: right, training: true}
}

func (s *schedNet) Params() []*Param      { return []*Param{s.p} }
func (s *schedNet) Config() Config        { return Config{Kind: KindSentence, Classes: 2} }
func (s *schedNet) Backward(*host.F32)    {}
func (s *schedNet) Labels() *host.I32     { return s.labels }
func (s *schedNet) Dropouts() []*Dropout  { return nil }
func (s *schedNet) Embedding() *Embedding { return nil }

func (s *schedNet) SetTraining(on bool) {
	if s.training && !on {
		s.evals++
	}
	s.training = on
}

func (s *schedNet) Forward(in *Inputs) (*host.F32, error) {
	s.be.FreeI32(s.labels)
	s.labels = s.be.AllocI32(in.Size)
	s.be.UploadI32(s.labels, in.Labels)
	y := s.logits.get(s.be, 2*in.Size)
	if s.training {
		s.be.Upload(s.p.Value, []float32{float32(s.evals + 1)})
		s.be.Upload(y, in.Speaker)
		return y, nil
	}
	v := make([]float32, 2*in.Size)
	for i, label := range in.Labels {
		c := int(label)
		if i >= s.right[s.evals-1] {
			c = 1 - c
		}
		v[2*i+c] = 2
	}
	s.be.Upload(y, v)
	return y, nil
}

func (s *schedNet) Release() {
	s.be.FreeI32(s.labels)
	s.logits.release(s.be)
	freeParams(s.be, s.p)
}

// schedData serves the same training batches every epoch.
type schedData struct{ train, val []Inputs }

func (d *schedData) Train(int) []Inputs { return d.train }
func (d *schedData) Val() []Inputs      { return d.val }

// twoClassBatch is a batch of len(labels) rows with the given training
// logits (two per row).
func twoClassBatch(labels []int32, logits ...float32) Inputs {
	return Inputs{Size: len(labels), Turns: 1, MaxLen: 1, Labels: labels, Speaker: logits}
}

// nll is −log softmax(x)[y] in float64.
func nll(x []float32, y int) float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = max(m, float64(v))
	}
	var s float64
	for _, v := range x {
		s += math.Exp(float64(v) - m)
	}
	return m + math.Log(s) - float64(x[y])
}

func newSchedTrainer(t *testing.T, net *schedNet, cfg TrainConfig) *Trainer {
	t.Helper()
	tr, err := NewTrainer(net.be, net, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		tr.Release()
		net.Release()
	})
	return tr
}

// TestBestEpochAndPatience runs a schedule of validation accuracies (rows
// right of 4: 0, 2, 1, 3, 3, 2) with Patience 2 and checks, epoch by epoch,
// what follows from the rules: the first epoch is the best even at
// accuracy 0; a strictly better accuracy is a new best and resets the count
// of bad epochs (epoch 4 after the bad epoch 3); a tie is a bad epoch; the
// run stops after epoch 6, its second bad epoch in a row, with epoch 4's
// parameters kept and restored. The logged accuracy, UA (mean recall over
// the classes present: labels 0, 0, 0, 1 and the first k rows right give
// recalls min(k, 3)/3 and 0) and loss are the validation set's.
func TestBestEpochAndPatience(t *testing.T) {
	be := host.NewCPU(1)
	net := newSchedNet(be, 0, 2, 1, 3, 3, 2, 4, 4)
	tr := newSchedTrainer(t, net, TrainConfig{Epochs: 8, LR: 0.1, Patience: 2})
	data := &schedData{
		train: []Inputs{twoClassBatch([]int32{0}, 1, 0)},
		val:   []Inputs{twoClassBatch([]int32{0, 0, 0, 1})},
	}
	if err := tr.Run(context.Background(), data); err != nil {
		t.Fatal(err)
	}
	right := []int{0, 2, 1, 3, 3, 2}
	best := []bool{true, true, false, true, false, false}
	ua := []float64{0, 1.0 / 3, 1.0 / 6, 0.5, 0.5, 1.0 / 3}
	h := tr.State.History
	if len(h) != len(right) || !tr.State.Stopped {
		t.Fatalf("ran %d epochs (stopped %v), want 6", len(h), tr.State.Stopped)
	}
	good, bad := math.Log1p(math.Exp(-2)), math.Log1p(math.Exp(2)) // −log softmax of (2, 0) at 0 and at 1
	for i, e := range h {
		k := float64(right[i])
		if e.Epoch != i+1 || e.Best != best[i] || e.ValAcc != k/4 || math.Abs(e.ValUA-ua[i]) > 1e-12 {
			t.Errorf("epoch %d: %+v, want best %v, val acc %g, UA %g", i+1, e, best[i], k/4, ua[i])
		}
		if want := (k*good + (4-k)*bad) / 4; math.Abs(e.ValLoss-want) > 1e-6 {
			t.Errorf("epoch %d: val loss %.7f, want %.7f", i+1, e.ValLoss, want)
		}
	}
	if st := tr.State; st.BestEpoch != 4 || st.BestValAcc != 0.75 || st.BadEpochs != 2 {
		t.Errorf("best epoch %d (val acc %g) with %d bad epochs since, want 4 (0.75) and 2", st.BestEpoch, st.BestValAcc, st.BadEpochs)
	}
	if len(tr.Best) != 1 || len(tr.Best[0]) != 1 || tr.Best[0][0] != 4 {
		t.Errorf("best parameters %v, want those of epoch 4 ([[4]])", tr.Best)
	}
	if got := download(t, be, net.p.Value)[0]; got != 6 {
		t.Fatalf("last parameters %g, want those of epoch 6", got)
	}
	if err := tr.RestoreBest(); err != nil {
		t.Fatal(err)
	}
	if got := download(t, be, net.p.Value)[0]; got != 4 {
		t.Errorf("after RestoreBest the parameter is %g, want epoch 4's", got)
	}
}

// TestTrainLogByDefinition checks an epoch's training loss and accuracy
// against their definitions over batches of different sizes: the mean of
// the rows' losses (each batch's mean weighted by its rows) and the
// fraction of rows whose argmax is the label (the first class on a tie).
func TestTrainLogByDefinition(t *testing.T) {
	be := host.NewCPU(1)
	net := newSchedNet(be, 4)
	tr := newSchedTrainer(t, net, TrainConfig{Epochs: 1, LR: 0.1})
	a := twoClassBatch([]int32{0}, 2, 0)                   // right
	b := twoClassBatch([]int32{0, 1, 1}, 0, 0, 0, 1, 1, 0) // right (tie), right, wrong
	data := &schedData{train: []Inputs{a, b}, val: []Inputs{twoClassBatch([]int32{0, 1})}}
	if err := tr.Run(context.Background(), data); err != nil {
		t.Fatal(err)
	}
	var sum float64
	n := 0
	for _, in := range data.train {
		for i, y := range in.Labels {
			sum += nll(in.Speaker[2*i:2*i+2], int(y))
			n++
		}
	}
	e := tr.State.History[0]
	if want := sum / float64(n); math.Abs(e.TrainLoss-want) > 1e-6 {
		t.Errorf("train loss %.7f, want the mean over the rows %.7f", e.TrainLoss, want)
	}
	if e.TrainAcc != 0.75 || e.BatchCount != 2 {
		t.Errorf("train accuracy %g over %d batches, want 0.75 over 2", e.TrainAcc, e.BatchCount)
	}
}

// TestRunEdgeCases: an epoch without training batches is still validated
// (and the first is the best); an error from OnEpoch stops the run and is
// returned; a non-finite training loss is an error; and Run continues the
// Adam step count of t.State, as a resumed run must.
func TestRunEdgeCases(t *testing.T) {
	be := host.NewCPU(1)
	val := []Inputs{twoClassBatch([]int32{0, 1})}
	t.Run("no training batches", func(t *testing.T) {
		net := newSchedNet(be, 1, 2)
		tr := newSchedTrainer(t, net, TrainConfig{Epochs: 2, LR: 0.1})
		if err := tr.Run(context.Background(), &schedData{val: val}); err != nil {
			t.Fatal(err)
		}
		h := tr.State.History
		if len(h) != 2 || h[0].BatchCount != 0 || h[0].TrainLoss != 0 || h[1].ValAcc != 1 || tr.State.BestEpoch != 2 {
			t.Errorf("history %+v, best epoch %d", h, tr.State.BestEpoch)
		}
	})
	t.Run("OnEpoch error", func(t *testing.T) {
		net := newSchedNet(be, 1, 1, 1)
		tr := newSchedTrainer(t, net, TrainConfig{Epochs: 3, LR: 0.1})
		stop := errors.New("disk full")
		tr.OnEpoch = func(l EpochLog) error {
			if l.Epoch == 2 {
				return stop
			}
			return nil
		}
		err := tr.Run(context.Background(), &schedData{train: []Inputs{twoClassBatch([]int32{0}, 1, 0)}, val: val})
		if !errors.Is(err, stop) || len(tr.State.History) != 2 {
			t.Errorf("Run = %v after %d epochs, want %v after 2", err, len(tr.State.History), stop)
		}
	})
	t.Run("NaN loss", func(t *testing.T) {
		net := newSchedNet(be, 1)
		tr := newSchedTrainer(t, net, TrainConfig{Epochs: 1, LR: 0.1})
		nan := float32(math.NaN())
		err := tr.Run(context.Background(), &schedData{train: []Inputs{twoClassBatch([]int32{0}, nan, 0)}, val: val})
		if err == nil || !strings.Contains(err.Error(), "loss is NaN") || len(tr.State.History) != 0 {
			t.Errorf("Run = %v, history %d epochs; want a NaN loss error before any epoch ends", err, len(tr.State.History))
		}
	})
	t.Run("Adam step from the state", func(t *testing.T) {
		net := newSchedNet(be, 1)
		tr := newSchedTrainer(t, net, TrainConfig{Epochs: 1, LR: 0.1})
		tr.State.AdamStep = 100
		batch := twoClassBatch([]int32{0}, 1, 0)
		if err := tr.Run(context.Background(), &schedData{train: []Inputs{batch, batch}, val: val}); err != nil {
			t.Fatal(err)
		}
		if tr.Opt.Step != 102 || tr.State.AdamStep != 102 {
			t.Errorf("Adam step %d (state %d) after 2 batches from step 100, want 102", tr.Opt.Step, tr.State.AdamStep)
		}
	})
}
