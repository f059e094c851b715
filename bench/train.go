package bench

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"runtime/metrics"
	"time"

	"github.com/emotionlab/emotion/host"
	"github.com/emotionlab/emotion/model"
)

// TrainReport is the outcome of RunTrain. tests/pytorch_bench.py prints
// the same fields for PyTorch.
type TrainReport struct {
	Framework string `json:"framework"` // "emotion"
	Backend   string `json:"backend"`
	Launches  string `json:"launches,omitempty"` // see LaunchMode
	Threads   int    `json:"threads"`            // GOMAXPROCS
	Model     string `json:"model"`
	Source    string `json:"source"`
	Params    int    `json:"params"`
	BatchSize int    `json:"batch_size"` // rows of the largest batch
	Warmup    int    `json:"warmup"`
	Steps     int    `json:"steps"` // timed steps of each pass

	// Per timed step, on average: rows (utterances classified), real
	// tokens, and token slots including padding.
	RowsPerStep   float64 `json:"rows_per_step"`
	TokensPerStep float64 `json:"tokens_per_step"`
	PaddedPerStep float64 `json:"padded_tokens_per_step"`

	// The headline pass: steps with nothing but the step's own loss read
	// back.
	Seconds   float64 `json:"seconds"`
	UttPerSec float64 `json:"utt_per_sec"`
	MsPerStep float64 `json:"ms_per_step"`

	// The split pass: the mean time per step of each phase, the device
	// synchronised between them (forward includes the loss, optimizer the
	// zeroing of the gradients and reading the loss back).
	ForwardMs   float64 `json:"forward_ms"`
	BackwardMs  float64 `json:"backward_ms"`
	OptimizerMs float64 `json:"optimizer_ms"`

	FinalLoss float64 `json:"final_loss"`

	// Memory: the process's peak resident set (VmHWM on Linux, see
	// rusage_unix.go), the Go heap's
	// peak in-use bytes sampled after every step of the split pass and its
	// size at the end, the bytes the Go runtime allocated per step of the
	// headline pass (0 in steady state); the backend's pool (device memory
	// on a GPU) and, on a GPU, the device allocations made.
	PeakRSSBytes      int64   `json:"peak_rss_bytes"`
	HeapPeakBytes     int64   `json:"heap_peak_bytes"`
	HeapSysBytes      int64   `json:"heap_sys_bytes"`
	AllocBytesPerStep float64 `json:"alloc_bytes_per_step"`
	PoolBytes         int64   `json:"pool_bytes"`
	DeviceMallocs     int     `json:"device_mallocs"`

	// LaunchesPerStep is the kernel launches and GEMMs per step of the
	// headline pass, on a GPU (each costs the host a few microseconds).
	LaunchesPerStep float64 `json:"launches_per_step,omitempty"`

	// Profile is where the device time of a step goes (emotion bench
	// train --profile, GPU only): filled by the caller from ProfileTrain.
	Profile *TrainProfile `json:"profile,omitempty"`
}

// launchCounter is the GPU backend's count of launches.
type launchCounter interface {
	Launches() int64
}

// poolStats is the GPU backend's pool report.
type poolStats interface {
	PoolStats() (mallocs int, bytes int64)
}

// poolBytes is the CPU backend's.
type poolBytes interface {
	PoolBytes() int64
}

// trainer is one network with its loss and optimiser.
type trainer struct {
	be    host.Backend
	net   model.Network
	loss  *model.CrossEntropyLoss
	opt   *model.Adam
	lossB *host.F32 // the loss of the last forward, on the device
	lv    []float32
}

func newTrainer(be host.Backend, b *Batches, cfg model.Config) (*trainer, error) {
	net, err := model.New(be, cfg)
	if err != nil {
		return nil, err
	}
	loss, err := model.NewCrossEntropyLoss(be, cfg.Classes, b.ClassWeights)
	if err != nil {
		net.Release()
		return nil, err
	}
	net.SetTraining(true)
	return &trainer{be: be, net: net, loss: loss, opt: model.NewAdam(be, net.Params(), 1e-3), lv: make([]float32, 1)}, nil
}

func (t *trainer) release() {
	t.opt.Release()
	t.loss.Release()
	t.net.Release()
}

// forward runs the network and the loss on in.
func (t *trainer) forward(in *model.Inputs) error {
	logits, err := t.net.Forward(in)
	if err != nil {
		return err
	}
	t.lossB = t.loss.Forward(in.Size, logits, t.net.Labels())
	return nil
}

// backward backpropagates the loss.
func (t *trainer) backward() { t.net.Backward(t.loss.Grad()) }

// update steps the optimiser (which zeroes the gradients) and reads the
// loss back, which waits for the whole step.
func (t *trainer) update() (float64, error) {
	t.opt.Update()
	t.be.Download(t.lv, t.lossB)
	if err := t.be.Sync(); err != nil {
		return 0, err
	}
	l := float64(t.lv[0])
	if math.IsNaN(l) || math.IsInf(l, 0) {
		return l, fmt.Errorf("loss is %g", l)
	}
	return l, nil
}

// step is one whole training step on in.
func (t *trainer) step(in *model.Inputs) (float64, error) {
	if err := t.forward(in); err != nil {
		return 0, err
	}
	t.backward()
	return t.update()
}

// heapAllocs reads the Go runtime's cumulative heap allocation in bytes.
func heapAllocs() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// RunTrain builds a network of cfg on be and trains it with Adam
// (lr 1e-3) on b's class-weighted cross-entropy in three passes after one
// step on each warm-up batch: a warm-up pass, steps untimed steps over the
// timed batches in turn (so that every buffer has grown to the largest
// batch and the timed passes run in steady state); the split pass, the
// same steps with be synchronised after the forward (and loss), the
// backward and the optimiser; the headline pass, the same steps timed as a
// whole, each step reading only its loss back (as a training loop that
// logs its loss does).
func RunTrain(be host.Backend, b *Batches, cfg model.Config, steps int) (*TrainReport, error) {
	t, timed, err := startTrainer(be, b, cfg, steps)
	if err != nil {
		return nil, err
	}
	defer t.release()
	rep := &TrainReport{Framework: "emotion", Backend: be.Name(), Launches: LaunchMode(be), Threads: runtime.GOMAXPROCS(0), Model: cfg.Kind,
		Source: b.Source, Params: model.NumParams(t.net), Warmup: b.Warmup, Steps: steps}
	var stats BatchStats
	for i := range steps {
		in := &timed[i%len(timed)]
		rep.BatchSize = max(rep.BatchSize, in.Size)
		stats.Add(Stats(timed[i%len(timed) : i%len(timed)+1]))
	}
	rep.RowsPerStep = float64(stats.Rows) / float64(steps)
	rep.TokensPerStep = float64(stats.Tokens) / float64(steps)
	rep.PaddedPerStep = float64(stats.Padded) / float64(steps)

	// Split pass.
	var fwd, bwd, upd time.Duration
	var ms runtime.MemStats
	for i := range steps {
		in := &timed[i%len(timed)]
		t0 := time.Now()
		if err := t.forward(in); err != nil {
			return nil, fmt.Errorf("split step %d: %w", i+1, err)
		}
		if err := be.Sync(); err != nil {
			return nil, fmt.Errorf("split step %d: forward: %w", i+1, err)
		}
		t1 := time.Now()
		t.backward()
		if err := be.Sync(); err != nil {
			return nil, fmt.Errorf("split step %d: backward: %w", i+1, err)
		}
		t2 := time.Now()
		if _, err := t.update(); err != nil {
			return nil, fmt.Errorf("split step %d: %w", i+1, err)
		}
		t3 := time.Now()
		fwd += t1.Sub(t0)
		bwd += t2.Sub(t1)
		upd += t3.Sub(t2)
		runtime.ReadMemStats(&ms)
		rep.HeapPeakBytes = max(rep.HeapPeakBytes, int64(ms.HeapInuse))
	}
	perStep := func(d time.Duration) float64 { return d.Seconds() * 1e3 / float64(steps) }
	rep.ForwardMs, rep.BackwardMs, rep.OptimizerMs = perStep(fwd), perStep(bwd), perStep(upd)

	// Headline pass.
	allocs := heapAllocs()
	var launches0 int64
	lc, counts := be.(launchCounter)
	if counts {
		launches0 = lc.Launches()
	}
	start := time.Now()
	for i := range steps {
		if rep.FinalLoss, err = t.step(&timed[i%len(timed)]); err != nil {
			return nil, fmt.Errorf("step %d: %w", i+1, err)
		}
	}
	elapsed := time.Since(start)
	rep.AllocBytesPerStep = float64(heapAllocs()-allocs) / float64(steps)
	if counts {
		rep.LaunchesPerStep = float64(lc.Launches()-launches0) / float64(steps)
	}
	rep.Seconds = elapsed.Seconds()
	rep.MsPerStep = perStep(elapsed)
	rep.UttPerSec = float64(stats.Rows) / elapsed.Seconds()

	runtime.ReadMemStats(&ms)
	rep.HeapSysBytes = int64(ms.HeapSys)
	rep.PeakRSSBytes = peakRSS()
	switch p := be.(type) {
	case poolStats:
		rep.DeviceMallocs, rep.PoolBytes = p.PoolStats()
	case poolBytes:
		rep.PoolBytes = p.PoolBytes()
	}
	return rep, nil
}

// startTrainer checks b, cfg and steps, builds the trainer and warms it
// up: a step on each warm-up batch of b, then steps steps over its timed
// batches in turn, so that every buffer has grown to the largest batch. It
// returns the timed batches; the caller releases the trainer.
func startTrainer(be host.Backend, b *Batches, cfg model.Config, steps int) (*trainer, []model.Inputs, error) {
	timed := b.Timed()
	if len(timed) == 0 || steps < 1 {
		return nil, nil, errors.New("bench train: no timed batches or steps")
	}
	if cfg.Vocab < b.Vocab {
		return nil, nil, fmt.Errorf("bench train: model vocabulary %d is smaller than the batches' %d", cfg.Vocab, b.Vocab)
	}
	t, err := newTrainer(be, b, cfg)
	if err != nil {
		return nil, nil, err
	}
	for i := range b.Warmup {
		if _, err := t.step(&b.Inputs[i]); err != nil {
			t.release()
			return nil, nil, fmt.Errorf("warm-up step %d: %w", i+1, err)
		}
	}
	for i := range steps {
		if _, err := t.step(&timed[i%len(timed)]); err != nil {
			t.release()
			return nil, nil, fmt.Errorf("warm-up pass, step %d: %w", i+1, err)
		}
	}
	return t, timed, nil
}

// TrainProfile is the outcome of ProfileTrain: where a training step's
// device time goes.
type TrainProfile struct {
	Steps int `json:"steps"`
	// MsPerStep is the wall time per profiled step (slower than the
	// headline's: every launch records two events); DeviceMsPerStep the
	// device time of its launches, summed.
	MsPerStep       float64 `json:"ms_per_step"`
	DeviceMsPerStep float64 `json:"device_ms_per_step"`
	// Ops are the kinds of launch, the longest first, with their calls and
	// device time summed over the profiled steps.
	Ops []host.OpTime `json:"ops"`
}

// ProfileTrain checks and warms up as RunTrain does, then runs steps training steps
// with be's profiler on and reports the device time of every kind of
// launch. be must implement host.Profiler (the GPU backend does).
func ProfileTrain(be host.Backend, b *Batches, cfg model.Config, steps int) (*TrainProfile, error) {
	prof, ok := be.(host.Profiler)
	if !ok {
		return nil, fmt.Errorf("bench train: profiling needs a GPU backend, not %s", be.Name())
	}
	t, timed, err := startTrainer(be, b, cfg, steps)
	if err != nil {
		return nil, err
	}
	defer t.release()
	if err := prof.StartProfile(); err != nil {
		return nil, err
	}
	start := time.Now()
	for i := range steps {
		if _, err := t.step(&timed[i%len(timed)]); err != nil {
			_, _ = prof.StopProfile()
			return nil, fmt.Errorf("profiled step %d: %w", i+1, err)
		}
	}
	ops, err := prof.StopProfile()
	if err != nil {
		return nil, err
	}
	p := &TrainProfile{Steps: steps, MsPerStep: time.Since(start).Seconds() * 1e3 / float64(steps), Ops: ops}
	for _, o := range ops {
		p.DeviceMsPerStep += o.Device.Seconds() * 1e3 / float64(steps)
	}
	return p, nil
}
