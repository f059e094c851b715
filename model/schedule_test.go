package model

import (
	"cmp"
	"context"
	"encoding/json"
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/emotionlab/emotion/dataset"
	"github.com/emotionlab/emotion/host"
)

// TestCosineLR checks CosineAnnealingLR's closed form, stepped once an
// epoch, at values worked out by hand: (1 + cos(π·e/E))/2 of the way from
// min to lr at the e-th epoch after the first.
func TestCosineLR(t *testing.T) {
	for _, tc := range []struct {
		lr, minLR     float32
		epoch, epochs int
		want          float64
	}{
		{1e-3, 0, 1, 4, 1e-3},
		{1e-3, 0, 2, 4, 1e-3 * (1 + math.Sqrt2/2) / 2}, // cos(π/4)
		{1e-3, 0, 3, 4, 0.5e-3},
		{1e-3, 0, 4, 4, 1e-3 * (1 - math.Sqrt2/2) / 2},
		{1, 0.1, 1, 2, 1},
		{1, 0.1, 2, 2, 0.55},
		{1, 0.1, 1, 1, 1},
	} {
		if got := cosineLR(tc.lr, tc.minLR, tc.epoch, tc.epochs); math.Abs(float64(got)-tc.want) > 1e-7*tc.want {
			t.Errorf("cosineLR(%g, %g, epoch %d of %d) = %.9g, want %.9g", tc.lr, tc.minLR, tc.epoch, tc.epochs, got, tc.want)
		}
	}
}

// TestCosineSchedule: a run logs, and Adam uses, the cosine rate of each
// epoch.
func TestCosineSchedule(t *testing.T) {
	be := host.NewCPU(1)
	net := newSchedNet(be, 1, 1, 1)
	tr := newSchedTrainer(t, net, TrainConfig{Epochs: 3, LR: 0.1, MinLR: 0.01, Schedule: ScheduleCosine})
	if err := tr.Run(context.Background(), plateauData()); err != nil {
		t.Fatal(err)
	}
	want := []float64{0.1, 0.01 + 0.09*0.75, 0.01 + 0.09*0.25} // cos(π/3) = 1/2, cos(2π/3) = −1/2
	for i, e := range tr.State.History {
		if math.Abs(float64(e.LR)-want[i]) > 1e-7 {
			t.Errorf("epoch %d: lr %.9g, want %.9g", i+1, e.LR, want[i])
		}
	}
	if math.Abs(float64(tr.Opt.LR)-want[2]) > 1e-7 {
		t.Errorf("Adam's rate after the run %g, want the last epoch's %g", tr.Opt.LR, want[2])
	}
}

func plateauData() *schedData {
	return &schedData{
		train: []Inputs{twoClassBatch([]int32{0}, 1, 0)},
		val:   []Inputs{twoClassBatch([]int32{0, 0, 0, 1})},
	}
}

// TestPlateauSchedule runs validation accuracies (rows right of 4: 1, 2,
// 2, 2, 3, 3, 3, 3, 3) with LRPatience 1, LRFactor 0.5 and MinLR 0.02:
// the rate halves after the second epoch in a row without a better
// accuracy (a tie is not better), the count starts again after a
// reduction and after a new best, and the rate stops at MinLR.
func TestPlateauSchedule(t *testing.T) {
	cfg := TrainConfig{Epochs: 9, LR: 0.1, Schedule: SchedulePlateau, LRFactor: 0.5, LRPatience: 1, MinLR: 0.02}
	right := []int{1, 2, 2, 2, 3, 3, 3, 3, 3}
	wantLR := []float32{0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025}
	check := func(t *testing.T, h []EpochLog, st TrainState) {
		t.Helper()
		if len(h) != len(wantLR) {
			t.Fatalf("%d epochs, want %d", len(h), len(wantLR))
		}
		for i, e := range h {
			if math.Abs(float64(e.LR-wantLR[i])) > 1e-9 {
				t.Errorf("epoch %d: lr %g, want %g", i+1, e.LR, wantLR[i])
			}
		}
		if math.Abs(float64(st.LR)-0.02) > 1e-9 || st.LRBadEpochs != 0 {
			t.Errorf("after the run: lr %g with %d bad epochs, want MinLR 0.02 (0.025·0.5 is below it) and 0", st.LR, st.LRBadEpochs)
		}
	}
	t.Run("whole", func(t *testing.T) {
		be := host.NewCPU(1)
		tr := newSchedTrainer(t, newSchedNet(be, right...), cfg)
		if err := tr.Run(context.Background(), plateauData()); err != nil {
			t.Fatal(err)
		}
		check(t, tr.State.History, tr.State)
		if math.Abs(float64(tr.Opt.LR)-0.025) > 1e-9 {
			t.Errorf("Adam's rate after the run %g, want the last epoch's 0.025", tr.Opt.LR)
		}
	})
	// Stopped after epoch 6 (one bad epoch counted at the rate 0.05) and
	// resumed from its state, the run goes on as if never stopped.
	t.Run("resumed", func(t *testing.T) {
		be := host.NewCPU(1)
		first := cfg
		first.Epochs = 6
		tr := newSchedTrainer(t, newSchedNet(be, right...), first)
		if err := tr.Run(context.Background(), plateauData()); err != nil {
			t.Fatal(err)
		}
		if st := tr.State; math.Abs(float64(st.LR)-0.05) > 1e-9 || st.LRBadEpochs != 1 {
			t.Fatalf("after epoch 6: lr %g with %d bad epochs, want 0.05 and 1", st.LR, st.LRBadEpochs)
		}
		st := tr.State
		st.Stopped = false
		if err := st.validate(cfg, tr.Net); err != nil {
			t.Fatalf("the saved state: %v", err)
		}
		tr2 := newSchedTrainer(t, newSchedNet(be, right[6:]...), cfg)
		tr2.State = st
		if err := tr2.Run(context.Background(), plateauData()); err != nil {
			t.Fatal(err)
		}
		check(t, tr2.State.History, tr2.State)
	})
}

// TestScheduleConfig: the schedule fields no run can have are errors
// naming the field; a state whose rate exceeds the run's is corrupt.
func TestScheduleConfig(t *testing.T) {
	base := TrainConfig{Epochs: 1, LR: 0.1}
	for _, tc := range []struct {
		edit func(*TrainConfig)
		want string // "" for valid
	}{
		{func(c *TrainConfig) {}, ""},
		{func(c *TrainConfig) { c.Schedule = ScheduleConstant }, ""},
		{func(c *TrainConfig) { c.Schedule = ScheduleCosine; c.MinLR = 0.01 }, ""},
		{func(c *TrainConfig) { c.Schedule, c.LRFactor = SchedulePlateau, 0.1 }, ""},
		{func(c *TrainConfig) { c.Schedule = "step" }, "lr_schedule"},
		{func(c *TrainConfig) { c.Schedule = SchedulePlateau }, "lr_factor"},
		{func(c *TrainConfig) { c.Schedule, c.LRFactor = SchedulePlateau, 1 }, "lr_factor"},
		{func(c *TrainConfig) { c.Schedule, c.LRFactor, c.LRPatience = SchedulePlateau, 0.5, -1 }, "lr_patience"},
		{func(c *TrainConfig) { c.Schedule, c.MinLR = ScheduleCosine, 0.1 }, "min_lr"},
		{func(c *TrainConfig) { c.Schedule, c.MinLR = ScheduleCosine, float32(math.NaN()) }, "min_lr"},
		{func(c *TrainConfig) { c.Schedule, c.MinLR = ScheduleCosine, -0.01 }, "min_lr"},
	} {
		c := base
		tc.edit(&c)
		err := c.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: Validate() = %v, want %q", c, err, tc.want)
		}
	}
	net := newSchedNet(host.NewCPU(1))
	defer net.Release()
	for _, st := range []TrainState{{LR: 0.2}, {LR: -0.01}, {LRBadEpochs: 1}} {
		if err := st.validate(base, net); err == nil || !strings.Contains(err.Error(), "lr") {
			t.Errorf("state %+v: %v, want an error naming the rate", st, err)
		}
	}
}

// seqData serves one validation set per epoch, in turn.
type seqData struct {
	train []Inputs
	val   [][]Inputs
	calls int
}

func (d *seqData) Train(int) []Inputs { return d.train }
func (d *seqData) Val() []Inputs {
	d.calls++
	return d.val[d.calls-1]
}

// TestMonitor: the monitored score chooses the best epoch. Epoch 1 gets
// 3 of labels 0, 0, 0, 1 right (accuracy 0.75, UA (1 + 0)/2 = 0.5),
// epoch 2 the first 2 of 0, 1, 0, 0 (accuracy 0.5, UA (1/3 + 1)/2 =
// 2/3): accuracy keeps epoch 1, UA epoch 2.
func TestMonitor(t *testing.T) {
	for _, tc := range []struct {
		monitor   string
		bestEpoch int
		bestScore float64
	}{
		{"", 1, 0.75},
		{MonitorAccuracy, 1, 0.75},
		{MonitorUA, 2, 2.0 / 3},
	} {
		be := host.NewCPU(1)
		tr := newSchedTrainer(t, newSchedNet(be, 3, 2), TrainConfig{Epochs: 2, LR: 0.1, Monitor: tc.monitor})
		data := &seqData{
			train: []Inputs{twoClassBatch([]int32{0}, 1, 0)},
			val:   [][]Inputs{{twoClassBatch([]int32{0, 0, 0, 1})}, {twoClassBatch([]int32{0, 1, 0, 0})}},
		}
		if err := tr.Run(context.Background(), data); err != nil {
			t.Fatal(err)
		}
		if st := tr.State; st.BestEpoch != tc.bestEpoch || math.Abs(st.BestValAcc-tc.bestScore) > 1e-12 {
			t.Errorf("monitor %q: best epoch %d (score %g), want %d (%g)", tc.monitor, st.BestEpoch, st.BestValAcc, tc.bestEpoch, tc.bestScore)
		}
		if h := tr.State.History; len(h) != 2 || h[1].Best != (tc.bestEpoch == 2) {
			t.Errorf("monitor %q: history %+v", tc.monitor, h)
		}
	}
	// val_loss: the epoch of the lowest validation loss, its score the
	// negated loss.
	be := host.NewCPU(1)
	tr := newSchedTrainer(t, newSchedNet(be, 3, 2), TrainConfig{Epochs: 2, LR: 0.1, Monitor: MonitorLoss})
	data := &seqData{
		train: []Inputs{twoClassBatch([]int32{0}, 1, 0)},
		val:   [][]Inputs{{twoClassBatch([]int32{0, 0, 0, 1})}, {twoClassBatch([]int32{0, 1, 0, 0})}},
	}
	if err := tr.Run(context.Background(), data); err != nil {
		t.Fatal(err)
	}
	h := tr.State.History
	want := 1
	if h[1].ValLoss < h[0].ValLoss {
		want = 2
	}
	if h[0].ValLoss == h[1].ValLoss || tr.State.BestEpoch != want || tr.State.BestValAcc != -h[want-1].ValLoss {
		t.Errorf("monitor val_loss: best epoch %d (score %g), want %d (%g) of the losses %g, %g",
			tr.State.BestEpoch, tr.State.BestValAcc, want, -h[want-1].ValLoss, h[0].ValLoss, h[1].ValLoss)
	}
	if err := (TrainConfig{Epochs: 1, LR: 0.1, Monitor: "val_f1"}).Validate(); err == nil || !strings.Contains(err.Error(), "monitor") {
		t.Errorf("monitor val_f1: %v, want an error naming monitor", err)
	}
}

// TestPlateauStopsAtEps: as ReduceLROnPlateau (eps 1e-8), a reduction
// smaller than 1e-8 leaves the rate where it is, and the count starts
// again. Reducing on and on, 1e-3·(1e-6)^k underflowed to 0, the mark of
// a rate never reduced, and the run went back to LR.
func TestPlateauStopsAtEps(t *testing.T) {
	be := host.NewCPU(1)
	right := []int{3, 3, 3, 3, 3, 3, 3, 3, 3, 3}
	tr := newSchedTrainer(t, newSchedNet(be, right...), TrainConfig{Epochs: len(right), LR: 1e-3, Schedule: SchedulePlateau, LRFactor: 1e-6})
	if err := tr.Run(context.Background(), plateauData()); err != nil {
		t.Fatal(err)
	}
	reduced := float32(1e-3) * float32(1e-6)
	for i, e := range tr.State.History {
		want := reduced
		if i < 2 {
			want = 1e-3
		}
		if e.LR != want {
			t.Errorf("epoch %d: lr %g, want %g", i+1, e.LR, want)
		}
	}
	if st := tr.State; st.LR != reduced || st.LRBadEpochs != 0 {
		t.Errorf("after the run: lr %g with %d bad epochs, want %g and 0", st.LR, st.LRBadEpochs, reduced)
	}
}

// TestTrainConfigJSON: a config names its schedule and monitored score
// and writes its schedule's fields, 0 included (a plateau run's
// lr_patience 0 is not the flag's default 2), and no other schedule's;
// it reads back as it was.
func TestTrainConfigJSON(t *testing.T) {
	for _, tc := range []struct {
		cfg  TrainConfig
		want string
	}{
		{TrainConfig{Epochs: 2, LR: 0.1},
			`{"epochs":2,"lr":0.1,"weight_decay":0,"clip_norm":0,"patience":0,"class_weights":null,"lr_schedule":"constant","monitor":"val_acc"}`},
		{TrainConfig{Epochs: 2, LR: 0.1, Schedule: ScheduleCosine, Monitor: MonitorUA},
			`{"epochs":2,"lr":0.1,"weight_decay":0,"clip_norm":0,"patience":0,"class_weights":null,"lr_schedule":"cosine","monitor":"val_ua","min_lr":0}`},
		{TrainConfig{Epochs: 2, LR: 0.1, Schedule: SchedulePlateau, LRFactor: 0.5, ClassWeights: []float32{1, 2}},
			`{"epochs":2,"lr":0.1,"weight_decay":0,"clip_norm":0,"patience":0,"class_weights":[1,2],"lr_schedule":"plateau","monitor":"val_acc","min_lr":0,"lr_factor":0.5,"lr_patience":0}`},
	} {
		b, err := json.Marshal(tc.cfg)
		if err != nil || string(b) != tc.want {
			t.Errorf("%+v: %s (%v), want %s", tc.cfg, b, err, tc.want)
			continue
		}
		var back TrainConfig
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		want := tc.cfg
		want.Schedule, want.Monitor = cmp.Or(want.Schedule, ScheduleConstant), cmp.Or(want.Monitor, MonitorAccuracy)
		if !reflect.DeepEqual(back, want) {
			t.Errorf("%s reads back as %+v, want %+v", b, back, want)
		}
	}
}

// TestScheduleResumeMatchesUninterrupted: a run under each schedule (the
// plateau one monitoring UA), stopped in the middle of an epoch (for the
// plateau schedule, once it has reduced the rate and counted an epoch
// without a better UA since), saved, loaded and finished, ends bit for
// bit as the uninterrupted run: the rates, the history and the
// parameters. README says a test checks this; TestResumeMatchesUninterrupted
// runs the constant rate alone.
func TestScheduleResumeMatchesUninterrupted(t *testing.T) {
	const epochs, stopAt = 6, 4*8 + 3 // epoch 5, batch 3 (8 batches an epoch)
	for _, cfg := range []TrainConfig{
		{Epochs: epochs, LR: 0.1, Schedule: SchedulePlateau, LRFactor: 0.5, LRPatience: 1, Monitor: MonitorUA},
		{Epochs: epochs, LR: 0.05, Schedule: ScheduleCosine, MinLR: 0.001},
	} {
		t.Run(cfg.Schedule, func(t *testing.T) {
			be := host.NewCPU(2)
			newTrainer := func() *Trainer {
				c := smallConfig(KindSentence)
				c.Dropout, c.WordDropout = 0.1, 0.05
				net, err := New(be, withSeed(c, 7))
				if err != nil {
					t.Fatal(err)
				}
				tr, err := NewTrainer(be, net, cfg)
				if err != nil {
					t.Fatal(err)
				}
				return tr
			}
			full := newTrainer()
			defer full.Net.Release()
			defer full.Release()
			data := newToyData(KindSentence, full.Net.Config())
			if err := full.Run(context.Background(), data); err != nil {
				t.Fatal(err)
			}

			part := newTrainer()
			ctx, cancel := context.WithCancel(context.Background())
			steps := 0
			part.OnBatch = func(done, total, seen int, loss, acc float64) {
				if steps++; steps == stopAt {
					cancel()
				}
			}
			if err := part.Run(ctx, data); err != ErrInterrupted {
				t.Fatalf("Run = %v, want ErrInterrupted", err)
			}
			if st := part.State; cfg.Schedule == SchedulePlateau && (st.LR == 0 || st.LRBadEpochs == 0) {
				t.Fatalf("interrupted at the rate %g with %d bad epochs: the test checks no reduced rate or count of the plateau state", st.LR, st.LRBadEpochs)
			}
			path := filepath.Join(t.TempDir(), "state.safetensors")
			meta := Meta{Vocab: make([]string, part.Net.Config().Vocab), Labels: dataset.LabelNames[:]}
			if err := SaveTraining(path, be, part, meta, false); err != nil {
				t.Fatal(err)
			}
			part.Net.Release()
			part.Release()

			resumed, _, err := LoadTraining(path, be)
			if err != nil {
				t.Fatal(err)
			}
			defer resumed.Net.Release()
			defer resumed.Release()
			if err := resumed.Run(context.Background(), data); err != nil {
				t.Fatal(err)
			}
			if len(resumed.State.History) != len(full.State.History) {
				t.Fatalf("%d epochs resumed, %d uninterrupted", len(resumed.State.History), len(full.State.History))
			}
			for i, h := range full.State.History {
				g := resumed.State.History[i]
				g.Seconds, g.UttPerSec = h.Seconds, h.UttPerSec
				if g != h {
					t.Errorf("epoch %d: resumed %+v, uninterrupted %+v", i+1, g, h)
				}
			}
			if a, b := full.State, resumed.State; a.LR != b.LR || a.LRBadEpochs != b.LRBadEpochs || a.BestEpoch != b.BestEpoch || a.BestValAcc != b.BestValAcc {
				t.Errorf("resumed state lr %g, %d bad epochs, best %d (%g); uninterrupted %g, %d, %d (%g)",
					b.LR, b.LRBadEpochs, b.BestEpoch, b.BestValAcc, a.LR, a.LRBadEpochs, a.BestEpoch, a.BestValAcc)
			}
			fp, rp := full.Net.Params(), resumed.Net.Params()
			for i := range fp {
				a, b := make([]float32, fp[i].Len()), make([]float32, rp[i].Len())
				be.Download(a, fp[i].Value)
				be.Download(b, rp[i].Value)
				if !slices.Equal(a, b) {
					t.Fatalf("%s: resumed and uninterrupted parameters differ", fp[i].Name)
				}
			}
		})
	}
}
