package model

import "github.com/emotionlab/emotion/dataset"

// SentenceInputs converts a dataset sentence batch into model inputs (one
// turn per window).
func SentenceInputs(b dataset.SentenceBatch) Inputs {
	turns := make([]int32, b.Size)
	for i := range turns {
		turns[i] = 1
	}
	return Inputs{Size: b.Size, Turns: 1, MaxLen: b.MaxLen, Tokens: b.Tokens, Lengths: b.Lengths,
		TurnCounts: turns, Speaker: b.Speaker, Labels: b.Labels}
}

// DialogInputs converts a dataset dialog batch into model inputs.
func DialogInputs(b dataset.DialogBatch) Inputs {
	return Inputs{Size: b.Size, Turns: b.Turns, MaxLen: b.MaxLen, Tokens: b.Tokens, Lengths: b.Lengths,
		TurnCounts: b.TurnCounts, Speaker: b.Speaker, Labels: b.Labels}
}

// Batches cuts items of an encoded corpus into model inputs for a model
// kind, with the dataset's deterministic order for (seed, epoch). It also
// returns the utterance index of each row, batch by batch.
func Batches(kind string, e *dataset.Encoded, items []int, window, batchSize int, shuffle, bucket bool, seed int64, epoch int) ([]Inputs, [][]int) {
	var ins []Inputs
	var idx [][]int
	if kind == KindSentence {
		for _, b := range dataset.SentenceBatches(e, items, batchSize, shuffle, bucket, seed, epoch) {
			ins = append(ins, SentenceInputs(b))
			idx = append(idx, b.Items)
		}
		return ins, idx
	}
	for _, b := range dataset.DialogBatches(e, items, window, batchSize, shuffle, bucket, seed, epoch) {
		ins = append(ins, DialogInputs(b))
		idx = append(idx, b.Items)
	}
	return ins, idx
}
