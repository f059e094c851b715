package tests

import (
	"math/rand/v2"

	"github.com/emotionlab/emotion/model"
)

// randomInputs makes a batch of windows with ragged turns and lengths.
func randomInputs(r *rand.Rand, size, turns, maxLen, vocab, speakerDim int) model.Inputs {
	in := model.Inputs{Size: size, Turns: turns, MaxLen: maxLen}
	in.Tokens = make([]int32, size*turns*maxLen)
	in.Lengths = make([]int32, size*turns)
	in.TurnCounts = make([]int32, size)
	in.Speaker = make([]float32, size*turns*speakerDim)
	in.Labels = make([]int32, size)
	for b := range size {
		tc := 1 + r.IntN(turns)
		in.TurnCounts[b] = int32(tc)
		in.Labels[b] = int32(r.IntN(4))
		for t := range tc {
			n := 1 + r.IntN(maxLen)
			in.Lengths[b*turns+t] = int32(n)
			for k := range n {
				in.Tokens[(b*turns+t)*maxLen+k] = int32(1 + r.IntN(vocab-1))
			}
			for s := range speakerDim {
				in.Speaker[(b*turns+t)*speakerDim+s] = float32(r.IntN(2))
			}
		}
	}
	return in
}
