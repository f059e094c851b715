package model

import (
	"math"
	"testing"
)

// refCrossEntropy is PyTorch's weighted mean cross-entropy with ignored
// negative labels.
func refCrossEntropy(n, classes int, logits []float64, labels []int, weights []float64) float64 {
	var num, den float64
	for i := range n {
		y := labels[i]
		if y < 0 {
			continue
		}
		w := 1.0
		if weights != nil {
			w = weights[y]
		}
		p := refSoftmax(logits[i*classes:(i+1)*classes], 1)
		num += -w * math.Log(p[y])
		den += w
	}
	return num / den
}

func TestCrossEntropyGradients(t *testing.T) {
	tests := []struct {
		name    string
		labels  []int
		weights []float64
	}{
		{"weighted, one ignored", []int{2, 0, -1, 3, 1, 2, 0}, []float64{0.5, 2, 1.25, 0.75}},
		{"unweighted", []int{1, 1, 3, 0, 2}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			be := newBackend(t)
			const C = 4
			n := len(tc.labels)
			l, err := NewCrossEntropyLoss(be, C, to32(tc.weights))
			if err != nil {
				t.Fatal(err)
			}
			defer l.Release()
			logits := randVals(testRand(5), n*C, 3)
			loss := l.Forward(n, upload(be, logits), uploadInts(be, tc.labels))
			checkForward(t, "loss", download(t, be, loss), []float64{refCrossEntropy(n, C, logits, tc.labels, tc.weights)})
			var probs []float64
			for i := range n {
				probs = append(probs, refSoftmax(logits[i*C:(i+1)*C], 1)...)
			}
			checkForward(t, "probs", download(t, be, l.Probs()), probs)
			checkGrads(t, []gradVar{{"logits", logits, download(t, be, l.Grad())}}, func() float64 {
				return refCrossEntropy(n, C, logits, tc.labels, tc.weights)
			})
		})
	}
}

// TestCrossEntropyByHand: logits (0, 0) with label 0 and weight 2 lose
// ln 2; logits (0, ln 3) have softmax (¼, ¾) and with label 1 and weight 1
// lose −ln ¾; a third row is ignored. Loss (2·ln 2 − ln ¾)/3 =
// 0.557992144524; gradients 2·((½, ½) − (1, 0))/3 = (−⅓, ⅓), ((¼, ¾) −
// (0, 1))/3 = (1/12, −1/12) and zeros.
func TestCrossEntropyByHand(t *testing.T) {
	be := newBackend(t)
	l, err := NewCrossEntropyLoss(be, 2, []float32{2, 1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	loss := l.Forward(3, upload(be, []float64{0, 0, 0, math.Log(3), 5, -5}), uploadInts(be, []int{0, 1, -1}))
	if got := download(t, be, loss)[0]; math.Abs(float64(got)-0.557992144524) > 1e-6 {
		t.Errorf("loss %g, want 0.557992144524", got)
	}
	want := []float64{-1.0 / 3, 1.0 / 3, 1.0 / 12, -1.0 / 12, 0, 0}
	got := download(t, be, l.Grad())
	for i := range want {
		if math.Abs(float64(got[i])-want[i]) > 1e-6 {
			t.Fatalf("dlogits %v, want %v", got, want)
		}
	}
	for _, w := range [][]float32{{1}, {1, -1}, {float32(math.NaN()), 1}} {
		if _, err := NewCrossEntropyLoss(be, 2, w); err == nil {
			t.Errorf("accepted weights %v", w)
		}
	}
}
