package main

import (
	"reflect"
	"testing"

	"github.com/emotionlab/emotion/dataset"
)

// TestNewPrediction: a --predictions line names each probability by its
// class, in the model's output order angry, happy, neutral, sad.
func TestNewPrediction(t *testing.T) {
	u := &dataset.Utterance{ID: "Ses01F_impro01_F000", Text: "I love it.", Label: 1}
	p := newPrediction(u, []float32{0.1, 0.2, 0.3, 0.4}, 3)
	want := prediction{ID: "Ses01F_impro01_F000", Text: "I love it.", True: "happy", Pred: "sad",
		Probs: map[string]float64{"angry": 0.1, "happy": 0.2, "neutral": 0.3, "sad": 0.4}}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("newPrediction = %+v, want %+v", p, want)
	}
}
