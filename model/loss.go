package model

import (
	"fmt"
	"slices"

	"github.com/emotionlab/emotion/host"
)

// CrossEntropyLoss is torch.nn.CrossEntropyLoss(weight=w, reduction="mean",
// ignore_index=<any negative label>, label_smoothing=Smoothing) over
// logits [n, classes]; without smoothing
//
//	loss = Σᵢ w[yᵢ]·(−log softmax(xᵢ)[yᵢ]) / Σᵢ w[yᵢ]
//
// computed with its logit gradient in one fused backend op. The loss stays
// on the device (a one-element buffer) until the caller downloads it, so a
// training step need not synchronise.
type CrossEntropyLoss struct {
	Classes int
	// Smoothing is label_smoothing: the target is (1−ε)·onehot + ε/classes
	// (0: off).
	Smoothing float32

	be      host.Backend
	weights *host.F32 // nil: all ones
	hostW   []float32 // the weights on the host (nil: all ones)
	loss    *host.F32 // [1]
	dlogits layerBuf
	probs   layerBuf
}

// NewCrossEntropyLoss returns the loss over classes classes with per-class
// weights (nil or empty for none; otherwise one non-negative weight per
// class).
func NewCrossEntropyLoss(be host.Backend, classes int, weights []float32) (*CrossEntropyLoss, error) {
	if err := checkPositive("CrossEntropyLoss", "classes", classes); err != nil {
		return nil, err
	}
	l := &CrossEntropyLoss{Classes: classes, be: be}
	if len(weights) > 0 {
		if len(weights) != classes {
			return nil, fmt.Errorf("model: CrossEntropyLoss: %d class weights for %d classes", len(weights), classes)
		}
		for c, w := range weights {
			if !(w >= 0) {
				return nil, fmt.Errorf("model: CrossEntropyLoss: weight %g of class %d is not a non-negative number", w, c)
			}
		}
		l.weights = be.Alloc(classes)
		be.Upload(l.weights, weights)
		l.hostW = slices.Clone(weights)
	}
	l.loss = be.Alloc(1)
	return l, nil
}

// weightOf is the weight of a row of label y: its class's, 1 without
// class weights, 0 for an ignored (negative) label.
func (l *CrossEntropyLoss) weightOf(y int32) float64 {
	switch {
	case y < 0:
		return 0
	case l.hostW == nil:
		return 1
	}
	return float64(l.hostW[y])
}

// Forward computes the loss of logits [n, classes] against labels [n]
// (a negative label is ignored), and with it the logit gradient (Grad) and
// the class probabilities (Probs). It returns the one-element loss buffer,
// owned by l; read it with the backend's Download.
func (l *CrossEntropyLoss) Forward(n int, logits *host.F32, labels *host.I32) *host.F32 {
	dlogits := l.dlogits.get(l.be, n*l.Classes)
	probs := l.probs.get(l.be, n*l.Classes)
	l.be.CrossEntropy(n, l.Classes, l.Smoothing, logits, labels, l.weights, l.loss, dlogits, probs)
	return l.loss
}

// Grad returns the gradient of the last Forward's loss with respect to its
// logits [n, classes], owned by l.
func (l *CrossEntropyLoss) Grad() *host.F32 { return l.dlogits.view }

// Probs returns the softmax of the last Forward's logits [n, classes],
// owned by l.
func (l *CrossEntropyLoss) Probs() *host.F32 { return l.probs.view }

// Release frees l's buffers.
func (l *CrossEntropyLoss) Release() {
	l.dlogits.release(l.be)
	l.probs.release(l.be)
	l.be.Free(l.weights)
	l.be.Free(l.loss)
	l.weights, l.loss = nil, nil
}
