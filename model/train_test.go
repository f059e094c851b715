package model

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/emotionlab/emotion/host"
)

// TestEarlyStoppingPatience runs with a learning rate so small that no
// parameter moves (1e-30 is far below a float32 ulp of any weight), so
// every epoch validates to the same accuracy: a tie is not an improvement,
// and with Patience 2 the run stops after epoch 3 (epoch 1 the best, then
// two epochs without a better accuracy), keeping epoch 1 as the best. This
// is Keras' EarlyStopping(patience=2, min_delta=0): improvement is strictly
// greater, and training stops once `wait >= patience`.
func TestEarlyStoppingPatience(t *testing.T) {
	be := host.NewCPU(1)
	cfg := smallConfig(KindSentence)
	net, err := New(be, withSeed(cfg, 3))
	if err != nil {
		t.Fatal(err)
	}
	defer net.Release()
	tr, err := NewTrainer(be, net, TrainConfig{Epochs: 10, LR: 1e-30, Patience: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Release()
	data := newToyData(KindSentence, cfg)
	if err := tr.Run(context.Background(), data); err != nil {
		t.Fatal(err)
	}
	h := tr.State.History
	for _, e := range h {
		if e.ValAcc != h[0].ValAcc {
			t.Fatalf("validation accuracy moved (%v then %v): the test needs frozen parameters", h[0].ValAcc, e.ValAcc)
		}
	}
	if len(h) != 3 || !tr.State.Stopped {
		t.Errorf("ran %d epochs (stopped %v), want 3: epoch 1, then patience 2 epochs without improvement", len(h), tr.State.Stopped)
	}
	if tr.State.BestEpoch != 1 || tr.State.BadEpochs != 2 {
		t.Errorf("best epoch %d with %d bad epochs, want 1 and 2: a tie is not better", tr.State.BestEpoch, tr.State.BadEpochs)
	}
	for i, e := range h {
		if e.Best != (i == 0) {
			t.Errorf("epoch %d marked best = %v, want only epoch 1", e.Epoch, e.Best)
		}
	}
}

// TestEvaluateLossIsRowMean checks that Evaluate's loss, without class
// weights, is the mean negative log-likelihood over all labelled rows of all
// batches (what CrossEntropyLoss(reduction="mean") gives on the whole set),
// not the mean of the batches' means: the batches differ in size and in
// their labelled rows, and one has none (its loss, 0/0, must not enter).
// The reference is computed in float64 from the returned probabilities.
func TestEvaluateLossIsRowMean(t *testing.T) {
	be := host.NewCPU(1)
	cfg := smallConfig(KindSentence)
	net, err := New(be, withSeed(cfg, 5))
	if err != nil {
		t.Fatal(err)
	}
	defer net.Release()
	loss, err := NewCrossEntropyLoss(be, cfg.Classes, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer loss.Release()
	r := rand.New(rand.NewPCG(21, 22))
	batches := []Inputs{
		toyInputs(r, 2, 1, 6, cfg.Vocab, cfg.SpeakerDim),
		toyInputs(r, 13, 1, 6, cfg.Vocab, cfg.SpeakerDim),
		toyInputs(r, 5, 1, 6, cfg.Vocab, cfg.SpeakerDim),
		toyInputs(r, 3, 1, 6, cfg.Vocab, cfg.SpeakerDim),
	}
	batches[1].Labels[0], batches[1].Labels[4] = -1, -1
	for i := range batches[3].Labels {
		batches[3].Labels[i] = -1
	}
	ev, err := Evaluate(be, net, batches, loss)
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	n := 0
	for i, y := range ev.Labels {
		if y >= 0 {
			sum -= math.Log(float64(ev.Probs[i][y]))
			n++
		}
	}
	if n != 18 {
		t.Fatalf("%d labelled rows, want 18", n)
	}
	if want := sum / float64(n); !(math.Abs(ev.Loss-want) <= 1e-5*want) {
		t.Errorf("Evaluate loss %.7f, want the mean over the labelled rows %.7f", ev.Loss, want)
	}

	// With class weights the loss is Σ w[y]·nll / Σ w[y] over every row
	// of every batch (CrossEntropyLoss(weight=w) on the whole set). A
	// class of weight 0 (absent from a training split) adds nothing, and
	// a batch of only that class, whose own mean is 0/0, must not make
	// the whole NaN.
	w := []float32{1, 0.5, 2, 0}
	wloss, err := NewCrossEntropyLoss(be, cfg.Classes, w)
	if err != nil {
		t.Fatal(err)
	}
	defer wloss.Release()
	for i := range batches[3].Labels {
		batches[3].Labels[i] = 3
	}
	ev, err = Evaluate(be, net, batches, wloss)
	if err != nil {
		t.Fatal(err)
	}
	var wsum, wtot float64
	for i, y := range ev.Labels {
		if y >= 0 {
			wsum -= float64(w[y]) * math.Log(float64(ev.Probs[i][y]))
			wtot += float64(w[y])
		}
	}
	if want := wsum / wtot; !(math.Abs(ev.Loss-want) <= 1e-5*want) {
		t.Errorf("weighted Evaluate loss %.7f, want the weighted mean over every labelled row %.7f", ev.Loss, want)
	}

	batches[2].Labels[1] = 4
	if _, err := Evaluate(be, net, batches, wloss); err == nil || !strings.Contains(err.Error(), "batch 3: row 1 has label 4") {
		t.Errorf("a label of class 4 of 4: %v", err)
	}
}

// TestArgmaxFirstOfTies checks the prediction rule on ties: the first
// maximal class, as torch.argmax and numpy.argmax return.
func TestArgmaxFirstOfTies(t *testing.T) {
	for _, tt := range []struct {
		x    []float32
		want int
	}{
		{[]float32{0, 0, 0, 0}, 0},
		{[]float32{1, 3, 3, 2}, 1},
		{[]float32{-1, -2, 5, 5}, 2},
	} {
		if got := argmax(tt.x); got != tt.want {
			t.Errorf("argmax(%v) = %d, want %d", tt.x, got, tt.want)
		}
	}
}

// TestSentenceReadsTargetTurn feeds the sentence model dialog windows whose
// target (the last real turn, TurnCounts[b]−1) is a given utterance, with
// other turns before it and padded turns after it: the logits must be those
// of the utterances alone as a one-turn batch.
func TestSentenceReadsTargetTurn(t *testing.T) {
	be := host.NewCPU(1)
	cfg := smallConfig(KindSentence)
	net, err := New(be, withSeed(cfg, 9))
	if err != nil {
		t.Fatal(err)
	}
	defer net.Release()
	net.SetTraining(false)
	r := rand.New(rand.NewPCG(31, 32))
	const size, turns, maxLen = 4, 3, 6
	S := cfg.SpeakerDim
	one := toyInputs(r, size, 1, maxLen, cfg.Vocab, S)
	// Windows: the target is turn tc−1, turns before it are other
	// utterances, turns after it are padding (zero tokens and lengths).
	win := toyInputs(r, size, turns, maxLen, cfg.Vocab, S)
	win.Labels = one.Labels
	for b, tc := range []int32{1, 3, 2, 1} {
		win.TurnCounts[b] = tc
		for t := range turns {
			row := b*turns + t
			switch {
			case t == int(tc)-1:
				copy(win.Tokens[row*maxLen:(row+1)*maxLen], one.Tokens[b*maxLen:(b+1)*maxLen])
				win.Lengths[row] = one.Lengths[b]
				copy(win.Speaker[row*S:(row+1)*S], one.Speaker[b*S:(b+1)*S])
			case t >= int(tc):
				clear(win.Tokens[row*maxLen : (row+1)*maxLen])
				win.Lengths[row] = 0
				clear(win.Speaker[row*S : (row+1)*S])
			}
		}
	}
	logits := func(in *Inputs) []float32 {
		y, err := net.Forward(in)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]float32, y.Len())
		be.Download(out, y)
		if err := be.Sync(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	want, got := logits(&one), logits(&win)
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-5*(1+math.Abs(float64(want[i]))) {
			t.Fatalf("logit %d of the windows %g, of their target utterances alone %g", i, got[i], want[i])
		}
	}
}

// TestEvalAccuracyAndUA works the two scores out by hand. Labels 0, 0, 1,
// 2 and an unlabelled row, predicted 0, 0, 0, 2, 0: 3 of the 4 labelled
// rows are right (accuracy 0.75); the recalls of the classes present are
// 2/2, 0/1 and 1/1, and class 3 has no row, so UA = 2/3. With no labelled
// row both are 0.
func TestEvalAccuracyAndUA(t *testing.T) {
	ev := &Eval{Labels: []int{0, 0, 1, 2, -1}, Preds: []int{0, 0, 0, 2, 0}}
	if got := ev.Accuracy(); got != 0.75 {
		t.Errorf("accuracy %g, want 0.75", got)
	}
	if got := ev.UA(); math.Abs(got-2.0/3) > 1e-15 {
		t.Errorf("UA %g, want 2/3", got)
	}
	none := &Eval{Labels: []int{-1}, Preds: []int{0}}
	if a, ua := none.Accuracy(), none.UA(); a != 0 || ua != 0 {
		t.Errorf("no labelled row: accuracy %g, UA %g, want 0 and 0", a, ua)
	}
}

// TestTrainConfigValidate: a configuration that a checkpoint's JSON cannot
// carry (infinite or NaN numbers) is refused as well, naming the field;
// zero weight decay, clip norm and patience are valid.
func TestTrainConfigValidate(t *testing.T) {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	if err := (TrainConfig{Epochs: 1, LR: 1e-3}).Validate(); err != nil {
		t.Fatalf("a minimal config: %v", err)
	}
	for _, tc := range []struct {
		cfg  TrainConfig
		want string
	}{
		{TrainConfig{Epochs: 0, LR: 1e-3}, "epochs"},
		{TrainConfig{Epochs: 1, LR: inf}, "lr"},
		{TrainConfig{Epochs: 1, LR: nan}, "lr"},
		{TrainConfig{Epochs: 1, LR: 1e-3, WeightDecay: inf}, "weight_decay"},
		{TrainConfig{Epochs: 1, LR: 1e-3, ClipNorm: inf}, "clip_norm"},
		{TrainConfig{Epochs: 1, LR: 1e-3, ClassWeights: []float32{1, inf}}, "class_weights[1]"},
		{TrainConfig{Epochs: 1, LR: 1e-3, ClassWeights: []float32{nan}}, "class_weights[0]"},
		{TrainConfig{Epochs: 1, LR: 1e-3, LabelSmoothing: 1}, "label_smoothing"},
		{TrainConfig{Epochs: 1, LR: 1e-3, LabelSmoothing: -0.1}, "label_smoothing"},
		{TrainConfig{Epochs: 1, LR: 1e-3, LabelSmoothing: nan}, "label_smoothing"},
	} {
		if err := tc.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: Validate = %v, want an error naming %s", tc.cfg, err, tc.want)
		}
	}
}

// TestNewTrainerConfiguresAdam: the optimiser gets the run's learning
// rate, weight decay and clip norm, the loss its label smoothing.
func TestNewTrainerConfiguresAdam(t *testing.T) {
	be := host.NewCPU(1)
	net := newSchedNet(be, 1)
	tr := newSchedTrainer(t, net, TrainConfig{Epochs: 1, LR: 0.25, WeightDecay: 0.125, ClipNorm: 3, LabelSmoothing: 0.2})
	if o := tr.Opt; o.LR != 0.25 || o.WeightDecay != 0.125 || o.ClipNorm != 3 || o.Decoupled {
		t.Errorf("Adam lr %g, weight decay %g (decoupled %v), clip norm %g; want 0.25, 0.125 (coupled, as torch.optim.Adam), 3",
			o.LR, o.WeightDecay, o.Decoupled, o.ClipNorm)
	}
	if tr.loss.Smoothing != 0.2 {
		t.Errorf("loss smoothing %g, want the config's 0.2", tr.loss.Smoothing)
	}
}

// TestNewTrainerFailsCleanly: a trainer that cannot be built (here three
// class weights for four classes) leaves its network as it was, so its
// embedding is not left frozen for the next trainer.
func TestNewTrainerFailsCleanly(t *testing.T) {
	be := host.NewCPU(1)
	net, err := New(be, withSeed(smallConfig(KindSentence), 3))
	if err != nil {
		t.Fatal(err)
	}
	defer net.Release()
	_, err = NewTrainer(be, net, TrainConfig{Epochs: 1, LR: 1e-3, ClassWeights: []float32{1, 1, 1}, FreezeEmbeddings: true})
	if err == nil || !strings.Contains(err.Error(), "3 class weights for 4 classes") {
		t.Fatalf("NewTrainer with 3 class weights: %v", err)
	}
	if net.Embedding().Weight.Frozen {
		t.Error("the failed NewTrainer left the embedding frozen")
	}
}
