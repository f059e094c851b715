package model

import (
	"slices"
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

// TestLoadStateDictStrict: as load_state_dict(strict=True), a tensor that
// is no parameter is an error, and so are a float64 tensor and a weight of
// the right size but another shape; a strided view (a column of a larger
// tensor) loads its own elements, not its backing array's.
func TestLoadStateDictStrict(t *testing.T) {
	be := host.NewCPU(1)
	net, err := New(be, smallConfig(KindSentence))
	if err != nil {
		t.Fatal(err)
	}
	defer net.Release()
	fresh := func() map[string]*tensor.Dense {
		sd, err := StateDict(be, net)
		if err != nil {
			t.Fatal(err)
		}
		return sd
	}
	sd := fresh()
	sd["fc1.bogus"] = tensor.New(tensor.WithShape(1), tensor.WithBacking([]float32{1}))
	if err := LoadStateDict(be, net, sd); err == nil || !strings.Contains(err.Error(), `unexpected tensor "fc1.bogus"`) {
		t.Errorf("an extra tensor: %v", err)
	}
	sd = fresh()
	sd["fc1.bias"] = tensor.New(tensor.WithShape(6), tensor.WithBacking([]float64{1, 2, 3, 4, 5, 6}))
	if err := LoadStateDict(be, net, sd); err == nil || !strings.Contains(err.Error(), "want float32") {
		t.Errorf("a float64 tensor: %v", err)
	}
	sd = fresh()
	w := sd["fc1.weight"] // [6, 13] as [13, 6]: as many elements
	sd["fc1.weight"] = tensor.New(tensor.WithShape(13, 6), tensor.WithBacking(w.Float32s()))
	if err := LoadStateDict(be, net, sd); err == nil || !strings.Contains(err.Error(), `"fc1.weight" has shape (13, 6)`) {
		t.Errorf("a transposed weight: %v", err)
	}
	sd = fresh()
	big := tensor.New(tensor.WithShape(6, 2), tensor.WithBacking([]float32{0, 10, 1, 11, 2, 12, 3, 13, 4, 14, 5, 15}))
	col, err := big.Slice(nil, tensor.S(1))
	if err != nil {
		t.Fatal(err)
	}
	sd["fc1.bias"] = col.(*tensor.Dense)
	if err := LoadStateDict(be, net, sd); err != nil {
		t.Fatal(err)
	}
	for _, p := range net.Params() {
		if p.Name == "fc1.bias" {
			if got, want := download(t, be, p.Value), []float32{10, 11, 12, 13, 14, 15}; !slices.Equal(got, want) {
				t.Errorf("fc1.bias from a column view: %v, want %v", got, want)
			}
		}
	}
}
