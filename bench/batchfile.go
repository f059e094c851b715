package bench

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/emotionlab/emotion/model"
)

// The batch file that WriteBatches writes and tests/pytorch_bench.py
// reads, all little-endian:
//
//	magic      8 bytes  "EMOBATCH"
//	version    uint32   1
//	header     uint32 n, then n bytes of JSON: the Batches fields (kind,
//	           source, vocab, speaker_dim, classes, class_weights, warmup),
//	           "count" (the number of batches) and "config" (model.Config)
//	count times, one batch:
//	  size, turns, max_len   uint32 ×3
//	  tokens                 int32   [size·turns·max_len]  PAD (0)-padded
//	  lengths                int32   [size·turns]
//	  turn_counts            int32   [size]
//	  speaker                float32 [size·turns·speaker_dim]
//	  labels                 int32   [size]
//
// The arrays are model.Inputs' slices as they are: turn 0 of a window is
// its earliest, the target is turn turn_counts[b]−1.
const (
	batchMagic   = "EMOBATCH"
	batchVersion = 1
	maxHeader    = 1 << 20
)

type batchHeader struct {
	Batches
	Count  int          `json:"count"`
	Config model.Config `json:"config"`
}

// WriteBatches writes b and the model configuration cfg to w in the batch
// file format.
func WriteBatches(w io.Writer, b *Batches, cfg model.Config) error {
	hdr, err := json.Marshal(batchHeader{Batches: *b, Count: len(b.Inputs), Config: cfg})
	if err != nil {
		return fmt.Errorf("batch file header: %w", err)
	}
	bw := bufio.NewWriter(w)
	bw.WriteString(batchMagic)
	put := func(v any) {
		if err == nil {
			err = binary.Write(bw, binary.LittleEndian, v)
		}
	}
	put(uint32(batchVersion))
	put(uint32(len(hdr)))
	put(hdr)
	for _, in := range b.Inputs {
		put([3]uint32{uint32(in.Size), uint32(in.Turns), uint32(in.MaxLen)})
		put(in.Tokens)
		put(in.Lengths)
		put(in.TurnCounts)
		put(in.Speaker)
		put(in.Labels)
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return fmt.Errorf("write batches: %w", err)
	}
	return nil
}

// maxBatchElems bounds each array of a batch in a batch file (2^28
// elements, 1 GiB), so that a corrupt shape is an error, not an
// allocation.
const maxBatchElems = 1 << 28

// ReadBatches reads a batch file written by WriteBatches.
func ReadBatches(r io.Reader) (*Batches, model.Config, error) {
	var none model.Config
	br := bufio.NewReader(r)
	fail := func(format string, args ...any) (*Batches, model.Config, error) {
		return nil, none, fmt.Errorf("read batches: "+format, args...)
	}
	magic := make([]byte, len(batchMagic))
	if _, err := io.ReadFull(br, magic); err != nil || !bytes.Equal(magic, []byte(batchMagic)) {
		return fail("not a batch file (no %q magic)", batchMagic)
	}
	var vh [2]uint32
	if err := binary.Read(br, binary.LittleEndian, &vh); err != nil {
		return fail("%w", err)
	}
	if vh[0] != batchVersion {
		return fail("version %d, want %d", vh[0], batchVersion)
	}
	if vh[1] > maxHeader {
		return fail("header of %d bytes", vh[1])
	}
	raw := make([]byte, vh[1])
	if _, err := io.ReadFull(br, raw); err != nil {
		return fail("header: %w", err)
	}
	var h batchHeader
	if err := json.Unmarshal(raw, &h); err != nil {
		return fail("header: %w", err)
	}
	if h.Count < 0 || h.SpeakerDim < 0 || h.SpeakerDim > maxBatchElems || h.Warmup < 0 || h.Warmup > h.Count {
		return fail("header: %d batches, %d warm-up, speaker_dim %d", h.Count, h.Warmup, h.SpeakerDim)
	}
	b := h.Batches
	b.Inputs = nil // appended as they are read: the count is only the header's word
	for k := range h.Count {
		var dims [3]uint32
		if err := binary.Read(br, binary.LittleEndian, &dims); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return fail("batch %d of the %d the header says: %w", k, h.Count, err)
		}
		// Every factor is at most maxBatchElems and each product is checked
		// before the next is formed, so that none overflows.
		size, turns, maxLen := int64(dims[0]), int64(dims[1]), int64(dims[2])
		if size < 1 || turns < 1 || maxLen < 1 || size > maxBatchElems || turns > maxBatchElems || maxLen > maxBatchElems ||
			size*turns > maxBatchElems || size*turns*maxLen > maxBatchElems ||
			size*turns*int64(b.SpeakerDim) > maxBatchElems {
			return fail("batch %d: shape %d×%d×%d with %d speaker features: empty, or over %d elements", k, size, turns, maxLen, b.SpeakerDim, maxBatchElems)
		}
		n := int(size * turns)
		in := model.Inputs{Size: int(size), Turns: int(turns), MaxLen: int(maxLen)}
		in.Tokens, in.Lengths, in.TurnCounts = make([]int32, n*in.MaxLen), make([]int32, n), make([]int32, in.Size)
		in.Speaker, in.Labels = make([]float32, n*b.SpeakerDim), make([]int32, in.Size)
		for _, dst := range []any{in.Tokens, in.Lengths, in.TurnCounts, in.Speaker, in.Labels} {
			if err := binary.Read(br, binary.LittleEndian, dst); err != nil {
				if errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF
				}
				return fail("batch %d: %w", k, err)
			}
		}
		b.Inputs = append(b.Inputs, in)
	}
	return &b, h.Config, nil
}
