package model

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/emotionlab/emotion/host"
)

// ErrInterrupted is returned by Trainer.Run when its context is cancelled
// (Ctrl-C): the state is consistent after the last finished batch, so it can
// be saved and resumed.
var ErrInterrupted = errors.New("training interrupted")

// TrainConfig sets up a training run.
type TrainConfig struct {
	Epochs      int     `json:"epochs"`
	LR          float32 `json:"lr"`
	WeightDecay float32 `json:"weight_decay"`
	ClipNorm    float32 `json:"clip_norm"` // 0: no clipping
	// Patience stops training after this many epochs without a better
	// validation score (0: never stop early).
	Patience int `json:"patience"`
	// Monitor is the validation score that chooses the best epoch and
	// drives early stopping and the plateau schedule: MonitorAccuracy
	// (or ""), MonitorUA or MonitorLoss.
	Monitor string `json:"monitor,omitempty"`
	// ClassWeights are the loss weights per class; nil trains unweighted.
	ClassWeights []float32 `json:"class_weights"`
	// Schedule is the learning-rate schedule: ScheduleConstant (or ""),
	// ScheduleCosine or SchedulePlateau.
	Schedule string `json:"lr_schedule,omitempty"`
	// MinLR is the least rate of the cosine and plateau schedules.
	MinLR float32 `json:"min_lr,omitempty"`
	// LRFactor and LRPatience drive the plateau schedule: the rate is
	// multiplied by LRFactor after more than LRPatience epochs without a
	// better validation score.
	LRFactor   float32 `json:"lr_factor,omitempty"`
	LRPatience int     `json:"lr_patience,omitempty"`
	// LabelSmoothing is the loss's label_smoothing ε (0: off): the
	// training target is (1−ε)·onehot + ε/classes. The validation loss is
	// the same criterion's, as PyTorch's and Keras's loops report it.
	LabelSmoothing float32 `json:"label_smoothing,omitempty"`
	// FreezeEmbeddings keeps the word embedding as it was initialised
	// (pretrained vectors, say): no gradient, no update, no weight decay
	// (nn.Embedding.from_pretrained(freeze=True)).
	FreezeEmbeddings bool `json:"freeze_embeddings,omitempty"`
	// EMA, when positive, is the decay of an exponential moving average of
	// the weights (Keras's use_ema with ema_momentum; PyTorch's
	// AveragedModel with get_ema_multi_avg_fn): each epoch validates the
	// average, and the best epoch's average is the model kept and tested.
	EMA float32 `json:"ema,omitempty"`
}

// EpochLog is one line of the training log.
type EpochLog struct {
	Epoch      int     `json:"epoch"`
	LR         float32 `json:"lr"` // the learning rate of the epoch
	TrainLoss  float64 `json:"train_loss"`
	TrainAcc   float64 `json:"train_acc"`
	ValLoss    float64 `json:"val_loss"`
	ValAcc     float64 `json:"val_acc"`
	ValUA      float64 `json:"val_ua"`
	Seconds    float64 `json:"seconds"`     // training time of the epoch (validation excluded)
	UttPerSec  float64 `json:"utt_per_sec"` // training throughput
	Best       bool    `json:"best"`        // best validation score (TrainConfig.Monitor) so far
	BatchCount int     `json:"batches"`
}

// TrainState is everything a run needs to continue exactly where it
// stopped: saved with a checkpoint for --resume.
type TrainState struct {
	Epoch      int     `json:"epoch"` // epochs finished
	Batch      int     `json:"batch"` // batches of epoch Epoch+1 finished
	LossSum    float64 `json:"loss_sum"`
	Correct    int     `json:"correct"`
	Seen       int     `json:"seen"`
	Seconds    float64 `json:"seconds"`
	BestValAcc float64 `json:"best_val_acc"` // the best epoch's validation score (TrainConfig.Monitor: accuracy by default; the negated loss for MonitorLoss)
	BestEpoch  int     `json:"best_epoch"`
	BadEpochs  int     `json:"bad_epochs"`
	Stopped    bool    `json:"stopped"` // early stopping fired or all epochs done
	AdamStep   int     `json:"adam_step"`
	// LR is the plateau schedule's rate once reduced (0 before), and
	// LRBadEpochs its count of epochs without a better validation
	// accuracy since the best or the last reduction.
	LR          float32    `json:"lr,omitempty"`
	LRBadEpochs int        `json:"lr_bad_epochs,omitempty"`
	Dropout     []uint64   `json:"dropout_counters"`
	History     []EpochLog `json:"history"`
}

// Data gives a Trainer its batches: the training batches of an epoch
// (1-based), deterministic for the run's seed, and the validation batches.
type Data interface {
	Train(epoch int) []Inputs
	Val() []Inputs
}

// Trainer trains a Network with Adam on class-weighted cross-entropy,
// validating after every epoch and keeping the best epoch's parameters.
type Trainer struct {
	Net   Network
	Opt   *Adam
	Cfg   TrainConfig
	State TrainState
	// EMA is the moving average of the weights, nil unless Cfg.EMA > 0.
	EMA *EMA
	// Best holds the parameters of the best validation epoch (host copies,
	// in Params order), nil before the first validation.
	Best [][]float32
	// OnBatch, when set, is called after every training batch with the
	// batches done and in all, and the running loss and accuracy.
	OnBatch func(done, total, utterances int, loss, acc float64)
	// OnEpoch, when set, is called after every epoch's validation (to log
	// and checkpoint); an error stops training.
	OnEpoch func(EpochLog) error

	be     host.Backend
	loss   *CrossEntropyLoss
	logits []float32
	lossV  []float32
}

// finite reports whether x is neither NaN nor infinite.
func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// Validate reports the first field of c no run can have, by its JSON
// name: fewer than one epoch, a learning rate that is not a positive
// number, a negative or non-finite weight decay, clip norm or patience, or
// a class weight that is negative or not finite.
func (c TrainConfig) Validate() error {
	switch {
	case c.Epochs < 1:
		return fmt.Errorf("epochs = %d, want at least 1", c.Epochs)
	case !(c.LR > 0) || !finite(float64(c.LR)):
		return fmt.Errorf("lr = %g, want a positive number", c.LR)
	case !(c.WeightDecay >= 0) || !finite(float64(c.WeightDecay)):
		return fmt.Errorf("weight_decay = %g, want a non-negative number", c.WeightDecay)
	case !(c.ClipNorm >= 0) || !finite(float64(c.ClipNorm)):
		return fmt.Errorf("clip_norm = %g, want a non-negative number (0: no clipping)", c.ClipNorm)
	case c.Patience < 0:
		return fmt.Errorf("patience = %d, want a non-negative number (0: never stop early)", c.Patience)
	case !(c.LabelSmoothing >= 0 && c.LabelSmoothing < 1):
		return fmt.Errorf("label_smoothing = %g, want a number in [0, 1)", c.LabelSmoothing)
	case !(c.EMA >= 0 && c.EMA < 1):
		return fmt.Errorf("ema = %g, want a decay in [0, 1) (0: no average)", c.EMA)
	}
	for k, w := range c.ClassWeights {
		if !(w >= 0) || !finite(float64(w)) {
			return fmt.Errorf("class_weights[%d] = %g, want a non-negative number", k, w)
		}
	}
	switch c.Monitor {
	case "", MonitorAccuracy, MonitorUA, MonitorLoss:
	default:
		return fmt.Errorf("monitor = %q, want %q, %q or %q", c.Monitor, MonitorAccuracy, MonitorUA, MonitorLoss)
	}
	return c.validateSchedule()
}

// Validation scores a run can monitor (TrainConfig.Monitor).
const (
	// MonitorAccuracy is the validation accuracy (WA).
	MonitorAccuracy = "val_acc"
	// MonitorUA is the validation unweighted accuracy, the mean of the
	// classes' recalls.
	MonitorUA = "val_ua"
	// MonitorLoss is the validation loss (Keras's default monitor), the
	// lower the better.
	MonitorLoss = "val_loss"
)

// score is the monitored validation score of an epoch, the higher the
// better: the loss is negated.
func (c TrainConfig) score(l EpochLog) float64 {
	switch c.Monitor {
	case MonitorUA:
		return l.ValUA
	case MonitorLoss:
		return -l.ValLoss
	}
	return l.ValAcc
}

// validate reports the first field of s that no run of net under cfg can
// have reached (a corrupt or hand-edited checkpoint), by its JSON name.
// A resumed run trusts these counters, so a negative batch would index
// out of range and a negative Adam step would turn the bias corrections
// into NaN.
func (s *TrainState) validate(cfg TrainConfig, net Network) error {
	switch {
	case s.Epoch < 0:
		return fmt.Errorf("epoch = %d, want a non-negative count", s.Epoch)
	case s.Batch < 0:
		return fmt.Errorf("batch = %d, want a non-negative count", s.Batch)
	case s.Seen < 0 || s.Correct < 0 || s.Correct > s.Seen:
		return fmt.Errorf("correct = %d of seen = %d, want 0 ≤ correct ≤ seen", s.Correct, s.Seen)
	case !(s.LossSum >= 0) || !finite(s.LossSum):
		return fmt.Errorf("loss_sum = %g, want a non-negative number", s.LossSum)
	case !(s.Seconds >= 0) || !finite(s.Seconds):
		return fmt.Errorf("seconds = %g, want a non-negative number", s.Seconds)
	case s.BestEpoch < 0 || s.BestEpoch > s.Epoch || (s.Epoch > 0) != (s.BestEpoch > 0):
		return fmt.Errorf("best_epoch = %d after %d epochs, want one of them", s.BestEpoch, s.Epoch)
	case cfg.Monitor != MonitorLoss && !(s.BestValAcc >= 0 && s.BestValAcc <= 1):
		return fmt.Errorf("best_val_acc = %g, want a score in [0, 1]", s.BestValAcc)
	case cfg.Monitor == MonitorLoss && !(s.BestValAcc <= 0 && finite(s.BestValAcc)):
		return fmt.Errorf("best_val_acc = %g, want a negated loss (finite, not positive)", s.BestValAcc)
	case s.BadEpochs < 0 || s.BadEpochs > s.Epoch-s.BestEpoch:
		return fmt.Errorf("bad_epochs = %d, want 0 to the %d epochs since the best", s.BadEpochs, s.Epoch-s.BestEpoch)
	case s.AdamStep < 0:
		return fmt.Errorf("adam_step = %d, want a non-negative count", s.AdamStep)
	case !(s.LR >= 0) || !finite(float64(s.LR)) || s.LR > 0 && cfg.LR > 0 && s.LR > cfg.LR:
		return fmt.Errorf("lr = %g, want a rate between 0 and the run's lr = %g", s.LR, cfg.LR)
	case s.LRBadEpochs < 0 || s.LRBadEpochs > s.BadEpochs:
		return fmt.Errorf("lr_bad_epochs = %d, want 0 to bad_epochs = %d", s.LRBadEpochs, s.BadEpochs)
	case len(s.Dropout) != 0 && len(s.Dropout) != len(net.Dropouts()):
		return fmt.Errorf("dropout_counters has %d counters, the network has %d dropouts", len(s.Dropout), len(net.Dropouts()))
	case len(s.History) != s.Epoch:
		return fmt.Errorf("history has %d epochs, epoch = %d", len(s.History), s.Epoch)
	}
	return nil
}

// NewTrainer prepares training of net with cfg on be; cfg must be valid
// (TrainConfig.Validate).
func NewTrainer(be host.Backend, net Network, cfg TrainConfig) (*Trainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("model: training config: %w", err)
	}
	copies, what := 5, "its parameters, gradients, Adam's two moments and the best epoch's copy"
	if cfg.EMA > 0 {
		copies, what = 7, "its parameters, gradients, Adam's two moments, the moving average, its swap space and the best epoch's copy"
	}
	if err := checkParamMemory(int64(NumParams(net)), copies, what); err != nil {
		return nil, err
	}
	if cfg.FreezeEmbeddings && net.Embedding() == nil {
		return nil, errors.New("model: training config: freeze_embeddings, but the network has no embedding")
	}
	loss, err := NewCrossEntropyLoss(be, net.Config().Classes, cfg.ClassWeights)
	if err != nil {
		return nil, err
	}
	if cfg.FreezeEmbeddings {
		// Only once nothing can fail: a failed NewTrainer leaves the
		// network as it was.
		net.Embedding().Weight.Frozen = true
	}
	loss.Smoothing = cfg.LabelSmoothing
	opt := NewAdam(be, net.Params(), cfg.LR)
	opt.WeightDecay = cfg.WeightDecay
	opt.ClipNorm = cfg.ClipNorm
	t := &Trainer{Net: net, Opt: opt, Cfg: cfg, be: be, loss: loss, lossV: make([]float32, 1)}
	if cfg.EMA > 0 {
		if t.EMA, err = NewEMA(be, net.Params(), cfg.EMA); err != nil {
			t.Release()
			return nil, fmt.Errorf("model: training config: %w", err)
		}
	}
	return t, nil
}

// Release frees the trainer's buffers (not the network's).
func (t *Trainer) Release() {
	t.loss.Release()
	t.Opt.Release()
	if t.EMA != nil {
		t.EMA.Release()
	}
}

// Run trains until cfg.Epochs epochs are done or early stopping fires,
// continuing from t.State (a resumed run). It returns ErrInterrupted when
// ctx is cancelled, with t.State describing the last finished batch.
func (t *Trainer) Run(ctx context.Context, data Data) error {
	st := &t.State
	t.Opt.Step = st.AdamStep
	if t.EMA != nil {
		t.EMA.Updates = st.AdamStep // the average is updated after every step
	}
	for i, d := range t.Net.Dropouts() {
		if i < len(st.Dropout) {
			d.SetCounter(st.Dropout[i])
		}
	}
	for !st.Stopped && st.Epoch < t.Cfg.Epochs {
		epoch := st.Epoch + 1
		lr := t.epochLR(epoch)
		t.Opt.LR = lr
		batches := data.Train(epoch)
		if st.Batch > len(batches) {
			return fmt.Errorf("epoch %d: resuming after batch %d of an epoch of %d batches: the data or the batch size are not the saved run's", epoch, st.Batch, len(batches))
		}
		t.Net.SetTraining(true)
		for st.Batch < len(batches) {
			if ctx.Err() != nil {
				t.snapshotCounters()
				return ErrInterrupted
			}
			start := time.Now()
			in := &batches[st.Batch]
			loss, correct, err := t.step(in)
			if err != nil {
				return fmt.Errorf("epoch %d batch %d: %w", epoch, st.Batch+1, err)
			}
			st.Seconds += time.Since(start).Seconds()
			st.LossSum += loss * float64(in.Size)
			st.Correct += correct
			st.Seen += in.Size
			st.Batch++
			st.AdamStep = t.Opt.Step
			if t.OnBatch != nil {
				t.OnBatch(st.Batch, len(batches), st.Seen, st.LossSum/float64(st.Seen), float64(st.Correct)/float64(st.Seen))
			}
		}
		t.snapshotCounters()
		log := EpochLog{Epoch: epoch, LR: lr, Seconds: st.Seconds, BatchCount: len(batches)}
		if st.Seen > 0 {
			log.TrainLoss = st.LossSum / float64(st.Seen)
			log.TrainAcc = float64(st.Correct) / float64(st.Seen)
		}
		if st.Seconds > 0 {
			log.UttPerSec = float64(st.Seen) / st.Seconds
		}
		if err := t.validate(epoch, data, &log); err != nil {
			return err
		}
		t.afterValidation(log.Best, lr)
		st.Epoch, st.Batch, st.LossSum, st.Correct, st.Seen, st.Seconds = epoch, 0, 0, 0, 0, 0
		st.History = append(st.History, log)
		if t.Cfg.Patience > 0 && st.BadEpochs >= t.Cfg.Patience || st.Epoch >= t.Cfg.Epochs {
			st.Stopped = true
		}
		if t.OnEpoch != nil {
			if err := t.OnEpoch(log); err != nil {
				return err
			}
		}
	}
	return nil
}

// validate scores the epoch's weights (their moving average, with
// Cfg.EMA) on the validation batches into log and keeps them as the best
// when they are.
func (t *Trainer) validate(epoch int, data Data, log *EpochLog) (err error) {
	st := &t.State
	if t.EMA != nil {
		t.EMA.Swap()
		defer func() {
			t.EMA.Swap()
			if serr := t.be.Sync(); err == nil && serr != nil {
				err = fmt.Errorf("epoch %d: validation: %w", epoch, serr)
			}
		}()
	}
	ev, err := Evaluate(t.be, t.Net, data.Val(), t.loss)
	if err != nil {
		return fmt.Errorf("epoch %d: validation: %w", epoch, err)
	}
	log.ValLoss, log.ValAcc, log.ValUA = ev.Loss, ev.Accuracy(), ev.UA()
	if score := t.Cfg.score(*log); epoch == 1 || score > st.BestValAcc {
		log.Best = true
		st.BestValAcc, st.BestEpoch, st.BadEpochs = score, epoch, 0
		return t.keepBest()
	}
	st.BadEpochs++
	return nil
}

func (t *Trainer) snapshotCounters() {
	t.State.Dropout = t.State.Dropout[:0]
	for _, d := range t.Net.Dropouts() {
		t.State.Dropout = append(t.State.Dropout, d.Counter())
	}
}

// step trains on one batch and returns its loss and correct count.
func (t *Trainer) step(in *Inputs) (float64, int, error) {
	be := t.be
	logits, err := t.Net.Forward(in)
	if err != nil {
		return 0, 0, err
	}
	t.loss.Forward(in.Size, logits, t.Net.Labels())
	t.Net.Backward(t.loss.Grad())
	t.Opt.Update()
	if t.EMA != nil {
		t.EMA.Update()
	}
	classes := t.Net.Config().Classes
	t.logits = grow(t.logits, in.Size*classes)
	be.Download(t.logits, logits)
	be.Download(t.lossV, t.loss.loss)
	if err := be.Sync(); err != nil {
		return 0, 0, err
	}
	loss := float64(t.lossV[0])
	if !finite(loss) {
		return 0, 0, fmt.Errorf("loss is %g", loss)
	}
	correct := 0
	for i := range in.Size {
		if argmax(t.logits[i*classes:(i+1)*classes]) == int(in.Labels[i]) {
			correct++
		}
	}
	return loss, correct, nil
}

// keepBest copies the parameters to host memory as the best so far.
func (t *Trainer) keepBest() error {
	ps := t.Net.Params()
	if t.Best == nil {
		t.Best = make([][]float32, len(ps))
	}
	for i, p := range ps {
		t.Best[i] = grow(t.Best[i], p.Len())
		t.be.Download(t.Best[i], p.Value)
	}
	return t.be.Sync()
}

// RestoreBest uploads the best epoch's parameters into the network.
func (t *Trainer) RestoreBest() error {
	if t.Best == nil {
		return errors.New("no best epoch to restore: no epoch was validated")
	}
	for i, p := range t.Net.Params() {
		t.be.Upload(p.Value, t.Best[i])
	}
	return t.be.Sync()
}

// Eval is the outcome of evaluating a network on labelled batches.
type Eval struct {
	Loss   float64     // weighted mean loss
	Probs  [][]float32 // per row, the class probabilities
	Preds  []int       // per row, the predicted class
	Labels []int       // per row, the true class (−1 unknown)
}

// Accuracy is the fraction of labelled rows predicted right.
func (e *Eval) Accuracy() float64 {
	right, n := 0, 0
	for i, y := range e.Labels {
		if y >= 0 {
			n++
			if e.Preds[i] == y {
				right++
			}
		}
	}
	if n == 0 {
		return 0
	}
	return float64(right) / float64(n)
}

// UA is the unweighted accuracy: the mean recall over classes present.
func (e *Eval) UA() float64 {
	var hit, tot [64]int
	for i, y := range e.Labels {
		if y >= 0 && y < len(tot) {
			tot[y]++
			if e.Preds[i] == y {
				hit[y]++
			}
		}
	}
	var sum float64
	k := 0
	for c := range tot {
		if tot[c] > 0 {
			sum += float64(hit[c]) / float64(tot[c])
			k++
		}
	}
	if k == 0 {
		return 0
	}
	return sum / float64(k)
}

// Evaluate runs net in evaluation mode over batches and collects its
// predictions; loss (may be nil) gives the weighted mean loss over the
// labelled rows of every batch, Σ w[y]·l / Σ w[y] (0 when no row has a
// weight).
func Evaluate(be host.Backend, net Network, batches []Inputs, loss *CrossEntropyLoss) (*Eval, error) {
	net.SetTraining(false)
	defer net.SetTraining(true)
	classes := net.Config().Classes
	ev := &Eval{}
	var buf []float32
	lv := make([]float32, 1)
	var lossSum, weightSum float64
	for bi := range batches {
		in := &batches[bi]
		logits, err := net.Forward(in)
		if err != nil {
			return nil, fmt.Errorf("batch %d: %w", bi+1, err)
		}
		buf = grow(buf, in.Size*classes)
		var weight float64 // of the batch's rows: Σ w[y] over its labelled rows
		for i, y := range in.Labels {
			if int(y) >= classes {
				return nil, fmt.Errorf("batch %d: row %d has label %d, want −1 (none) to %d", bi+1, i, y, classes-1)
			}
			if loss != nil {
				weight += loss.weightOf(y)
			}
		}
		if weight > 0 {
			loss.Forward(in.Size, logits, net.Labels())
			be.Download(buf, loss.Probs())
			be.Download(lv, loss.loss)
			// The loss is a weighted mean within the batch, Σ w·l / Σ w;
			// weighing it by Σ w gives the weighted mean over every
			// batch. A batch of no weight (no labels, or only classes of
			// weight 0) has the mean 0/0 and adds nothing.
			lossSum += float64(lv[0]) * weight
			weightSum += weight
		} else {
			be.Download(buf, logits)
			softmaxRows(buf, classes)
		}
		if err := be.Sync(); err != nil {
			return nil, fmt.Errorf("batch %d: %w", bi+1, err)
		}
		for i := range in.Size {
			p := append([]float32(nil), buf[i*classes:(i+1)*classes]...)
			ev.Probs = append(ev.Probs, p)
			ev.Preds = append(ev.Preds, argmax(p))
			ev.Labels = append(ev.Labels, int(in.Labels[i]))
		}
	}
	if weightSum > 0 {
		ev.Loss = lossSum / weightSum
	}
	return ev, nil
}

func softmaxRows(x []float32, classes int) {
	for r := 0; r+classes <= len(x); r += classes {
		row := x[r : r+classes]
		m := row[0]
		for _, v := range row {
			m = max(m, v)
		}
		var s float64
		for i, v := range row {
			e := math.Exp(float64(v - m))
			row[i] = float32(e)
			s += e
		}
		for i := range row {
			row[i] = float32(float64(row[i]) / s)
		}
	}
}

func argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

func grow(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}
