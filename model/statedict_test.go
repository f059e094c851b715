package model

import (
	"strings"
	"testing"

	"github.com/emotionlab/emotion/host"
	"gorgonia.org/tensor"
)

func TestStateDictRoundTrip(t *testing.T) {
	be := host.NewCPU(1)
	a, err := New(be, withSeed(smallConfig(KindSentence), 1))
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(be, withSeed(smallConfig(KindSentence), 2))
	if err != nil {
		t.Fatal(err)
	}
	sd, err := StateDict(be, a)
	if err != nil {
		t.Fatal(err)
	}
	if w := sd["lstm.weight_ih_l0_reverse"]; w == nil || w.Shape()[0] != 4*5 || w.Shape()[1] != 7 {
		t.Fatalf("lstm.weight_ih_l0_reverse: %v", w)
	}
	if err := LoadStateDict(be, b, sd); err != nil {
		t.Fatal(err)
	}
	for i, p := range b.Params() {
		x, y := make([]float32, p.Len()), make([]float32, p.Len())
		be.Download(x, p.Value)
		be.Download(y, a.Params()[i].Value)
		for j := range x {
			if x[j] != y[j] {
				t.Fatalf("%s[%d] = %g after loading, want %g", p.Name, j, x[j], y[j])
			}
		}
	}
	sd["fc1.bias"] = tensor.New(tensor.WithShape(3), tensor.WithBacking([]float32{1, 2, 3}))
	if err := LoadStateDict(be, b, sd); err == nil || !strings.Contains(err.Error(), "fc1.bias") {
		t.Errorf("a misshapen tensor: %v", err)
	}
	delete(sd, "fc1.bias")
	if err := LoadStateDict(be, b, sd); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("a missing tensor: %v", err)
	}
}
