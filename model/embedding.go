package model

import (
	"errors"
	"fmt"

	"github.com/emotionlab/emotion/host"
)

// Embedding is torch.nn.Embedding(vocab, dim, padding_idx): a lookup table
// of vocab rows of dim features. The padding row is initialised to zero,
// looks up as zeros and receives no gradient.
type Embedding struct {
	Vocab, Dim int
	Pad        int32  // padding id, or −1 for none
	Weight     *Param // weight [vocab, dim]

	be  host.Backend
	ids *host.I32 // of the last Forward
	out layerBuf
}

// NewEmbedding returns an embedding table initialised as PyTorch's, N(0, 1)
// with the padding row zero. padIdx < 0 means no padding row. The parameter
// is named prefix + ".weight".
func NewEmbedding(be host.Backend, rng *RNG, prefix string, vocab, dim, padIdx int) (*Embedding, error) {
	return NewEmbeddingStd(be, rng, prefix, vocab, dim, padIdx, 1)
}

// NewEmbeddingStd is NewEmbedding with the table drawn from N(0, std²).
func NewEmbeddingStd(be host.Backend, rng *RNG, prefix string, vocab, dim, padIdx int, std float64) (*Embedding, error) {
	if !(std > 0) {
		return nil, fmt.Errorf("model: Embedding: initial standard deviation %g is not positive", std)
	}
	if err := errors.Join(checkPositive("Embedding", "vocab", vocab), checkPositive("Embedding", "dim", dim)); err != nil {
		return nil, err
	}
	if padIdx >= vocab {
		return nil, fmt.Errorf("model: Embedding: padding index %d outside a vocabulary of %d", padIdx, vocab)
	}
	if padIdx < 0 {
		padIdx = -1
	}
	e := &Embedding{Vocab: vocab, Dim: dim, Pad: int32(padIdx), be: be}
	e.Weight = newParam(be, paramName(prefix, "weight"), vocab, dim)
	w := make([]float32, vocab*dim)
	for i := range w {
		w[i] = float32(std * rng.NormFloat64())
	}
	if padIdx >= 0 {
		clear(w[padIdx*dim : (padIdx+1)*dim])
	}
	be.Upload(e.Weight.Value, w)
	return e, nil
}

// Forward looks up every id: row i of the result [ids.Len(), dim] is the
// table row of ids[i] (zeros for the padding id). The result is owned by e
// and valid until the next Forward; ids must stay unchanged until Backward.
func (e *Embedding) Forward(ids *host.I32) *host.F32 {
	e.ids = ids
	out := e.out.get(e.be, ids.Len()*e.Dim)
	e.be.EmbeddingForward(ids, e.Dim, e.Pad, e.Weight.Value, out)
	return out
}

// Backward accumulates dout [ids.Len(), dim] into the rows of the weight
// gradient named by the ids of the last Forward (nothing for a frozen
// table). Token ids have no gradient.
func (e *Embedding) Backward(dout *host.F32) {
	if e.Weight.Frozen {
		return
	}
	e.be.EmbeddingBackward(e.ids, e.Dim, e.Pad, dout, e.Weight.Grad)
}

// SetRows overwrites the table's rows with the non-nil rows of rows, one
// per id (pretrained word vectors, as nn.Embedding.from_pretrained takes
// them); a nil row keeps its initial draw and the padding row stays zero.
func (e *Embedding) SetRows(rows [][]float32) error {
	if len(rows) != e.Vocab {
		return fmt.Errorf("model: Embedding: %d rows for a vocabulary of %d", len(rows), e.Vocab)
	}
	w := make([]float32, e.Vocab*e.Dim)
	e.be.Download(w, e.Weight.Value)
	if err := e.be.Sync(); err != nil {
		return fmt.Errorf("model: Embedding: %w", err)
	}
	for id, r := range rows {
		if r == nil || int32(id) == e.Pad {
			continue
		}
		if len(r) != e.Dim {
			return fmt.Errorf("model: Embedding: row %d has %d values, want %d (the embedding size)", id, len(r), e.Dim)
		}
		copy(w[id*e.Dim:], r)
	}
	e.be.Upload(e.Weight.Value, w)
	return nil
}

// Params returns the table.
func (e *Embedding) Params() []*Param { return []*Param{e.Weight} }

// Release frees e's buffers and its parameter.
func (e *Embedding) Release() {
	e.out.release(e.be)
	freeParams(e.be, e.Weight)
}
