package model

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/emotionlab/emotion/dataset"
	"github.com/emotionlab/emotion/model/safetensors"
)

// TestBatchesShuffleByEpoch: with shuffling on, Batches orders the rows
// differently in each epoch, for both model kinds (a fixed order would
// feed the model the same batches every epoch), and the same way for the
// same epoch.
func TestBatchesShuffleByEpoch(t *testing.T) {
	c := &dataset.Corpus{Source: "toy", HasDialogs: true, HasSpeakers: true}
	for d := range 6 {
		for turn := range 8 {
			g := byte("FM"[turn%2])
			c.Utterances = append(c.Utterances, dataset.Utterance{
				Session: 1 + d%2, Dialog: fmt.Sprintf("D%d", d), Gender: g, Speaker: fmt.Sprintf("Ses%02d%c", 1+d%2, g),
				Turn: turn, Text: fmt.Sprintf("word%d other%d", turn, d), Label: dataset.Label(turn % 4)})
		}
	}
	items := c.Labelled()
	e := dataset.Encode(c, items, dataset.Options{})
	order := func(kind string, epoch int) []int {
		_, idx := Batches(kind, e, items, 3, 5, true, false, 1, epoch)
		var rows []int
		for _, b := range idx {
			rows = append(rows, b...)
		}
		return rows
	}
	for _, kind := range []string{KindSentence, KindDialog} {
		e0, e1 := order(kind, 0), order(kind, 1)
		if len(e0) != len(items) || len(e1) != len(items) {
			t.Fatalf("%s: %d and %d rows, want %d", kind, len(e0), len(e1), len(items))
		}
		if slices.Equal(e0, e1) {
			t.Errorf("%s: epochs 0 and 1 have the same row order %v", kind, e0)
		}
		if again := order(kind, 1); !slices.Equal(again, e1) {
			t.Errorf("%s: epoch 1 ordered twice: %v, then %v", kind, e1, again)
		}
	}
}

// TestCheckMetaAtLimit: metadata of exactly the limit (the header less
// metaHeadroom) is accepted, one byte more is refused.
func TestCheckMetaAtLimit(t *testing.T) {
	cfg := DefaultConfig(KindSentence, 4, dataset.SpeakerDim)
	limit := safetensors.MaxHeaderSize - metaHeadroom
	tok := strings.Repeat("a", 1000)
	vocab := []string{"<pad>", "<unk>"}
	for i := range limit / 1010 {
		vocab = append(vocab, fmt.Sprintf("%s%d", tok, i))
	}
	vocab = append(vocab, "z")
	meta := func(extra int) Meta {
		v := slices.Clone(vocab)
		v[len(v)-1] += strings.Repeat("z", extra) // one byte of metadata each
		m := Meta{Config: cfg, Vocab: v, Labels: dataset.LabelNames[:]}
		m.Config.Vocab = len(v)
		return m
	}
	size := func(m Meta) int {
		md, err := m.encode()
		if err != nil {
			t.Fatal(err)
		}
		return safetensors.MetadataSize(md)
	}
	n := size(meta(0))
	if n > limit {
		t.Fatalf("test vocabulary: %d bytes of metadata, over the limit %d", n, limit)
	}
	if got := size(meta(limit - n)); got != limit {
		t.Fatalf("test vocabulary: %d bytes of metadata, want %d", got, limit)
	}
	if err := CheckMeta(meta(limit - n)); err != nil {
		t.Errorf("metadata of exactly the limit: %v", err)
	}
	if err := CheckMeta(meta(limit - n + 1)); err == nil || !strings.Contains(err.Error(), "too large for a checkpoint") {
		t.Errorf("metadata of one byte over the limit: %v", err)
	}
}

// TestCheckTensorsMissingFirst: a checkpoint without its first parameter
// (the embedding) is refused with the parameter counts of its config and
// of its tensors, and one with every parameter is accepted.
func TestCheckTensorsMissingFirst(t *testing.T) {
	cfg := smallConfig(KindSentence)
	params := cfg.ParamShapes()
	if params[0].Name != "embedding.weight" {
		t.Fatalf("first parameter %q", params[0].Name)
	}
	var ts []safetensors.Tensor
	var held int64
	for _, p := range params {
		n := 1
		for _, d := range p.Shape {
			n *= d
		}
		x, err := safetensors.FromFloat32(p.Name, p.Shape, make([]float32, n))
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, x)
		held += int64(n)
	}
	if err := checkTensors("x", ts, cfg); err != nil {
		t.Fatalf("every parameter: %v", err)
	}
	n0, _ := ts[0].NumElements()
	err := checkTensors("x", ts[1:], cfg)
	want := fmt.Sprintf("its config describes %d parameters, its tensors hold %d: no tensor %q", held, held-int64(n0), "embedding.weight")
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("no embedding: %v, want %q", err, want)
	}
}
