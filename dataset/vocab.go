package dataset

import (
	"fmt"
	"sort"
	"unicode/utf8"
)

// The ids of the two special tokens, first in every vocabulary.
const (
	PadID int32 = 0 // padding, "<pad>"
	UnkID int32 = 1 // a token not in the vocabulary, "<unk>"
)

// The special tokens.
const (
	PadToken = "<pad>"
	UnkToken = "<unk>"
)

// Vocab maps tokens to dense int32 ids: PadID and UnkID first, then the
// kept tokens. A Vocab is immutable and safe for concurrent use.
type Vocab struct {
	tokens []string
	index  map[string]int32
}

// MaxTokenRunes is the length, in characters (runes), of the longest
// token a vocabulary built by BuildVocab holds: a longer one is never
// kept, so it is encoded as "<unk>", as BERT's tokenizer reads a word of
// more than 100 characters as [UNK]. A word that long is not language but
// a glitch of the data (a run of characters without a space), and one of
// millions of characters made a vocabulary whose checkpoint no reader
// accepts. IEMOCAP's longest token has 17 characters.
const MaxTokenRunes = 100

// BuildVocab counts the tokens of docs (the training texts only, so that
// nothing of the evaluation sets leaks in) and keeps those seen at least
// minCount times (minCount < 1 is taken as 1) and at most MaxTokenRunes
// characters long, ordered by descending count and then lexicographically,
// so that the same texts always give the same ids. The special tokens
// "<pad>" and "<unk>" come first and are never counted.
func BuildVocab(docs [][]string, minCount int) *Vocab {
	if minCount < 1 {
		minCount = 1
	}
	counts := map[string]int{}
	for _, doc := range docs {
		for _, tok := range doc {
			counts[tok]++
		}
	}
	delete(counts, PadToken)
	delete(counts, UnkToken)
	kept := make([]string, 0, len(counts))
	for tok, n := range counts {
		if n >= minCount && !TooLong(tok) {
			kept = append(kept, tok)
		}
	}
	sort.Slice(kept, func(i, j int) bool {
		a, b := kept[i], kept[j]
		if counts[a] != counts[b] {
			return counts[a] > counts[b]
		}
		return a < b
	})
	v, err := NewVocab(append([]string{PadToken, UnkToken}, kept...))
	if err != nil {
		panic("dataset: BuildVocab made an invalid vocabulary: " + err.Error()) // unreachable: the tokens are distinct
	}
	return v
}

// TooLong reports whether tok has more than MaxTokenRunes characters.
func TooLong(tok string) bool {
	return len(tok) > MaxTokenRunes && utf8.RuneCountInString(tok) > MaxTokenRunes
}

// NewVocab makes a vocabulary from a saved token list (Tokens of another
// Vocab, as stored in a checkpoint): tokens[0] must be "<pad>", tokens[1]
// "<unk>", and no token may appear twice. The list is copied.
func NewVocab(tokens []string) (*Vocab, error) {
	if len(tokens) < 2 || tokens[PadID] != PadToken || tokens[UnkID] != UnkToken {
		return nil, fmt.Errorf("vocabulary must start with %q and %q", PadToken, UnkToken)
	}
	if int64(len(tokens)) > 1<<31-1 {
		return nil, fmt.Errorf("vocabulary of %d tokens does not fit int32 ids", len(tokens))
	}
	v := &Vocab{tokens: append([]string(nil), tokens...), index: make(map[string]int32, len(tokens))}
	for i, tok := range v.tokens {
		if j, dup := v.index[tok]; dup {
			return nil, fmt.Errorf("vocabulary token %q appears twice (ids %d and %d)", tok, j, i)
		}
		v.index[tok] = int32(i)
	}
	return v, nil
}

// Len is the number of tokens, the two special ones included.
func (v *Vocab) Len() int { return len(v.tokens) }

// Tokens returns the tokens in id order (a copy), for saving with a model.
func (v *Vocab) Tokens() []string { return append([]string(nil), v.tokens...) }

// ID returns the id of tok, or UnkID when tok is not in the vocabulary.
func (v *Vocab) ID(tok string) int32 {
	if id, ok := v.index[tok]; ok {
		return id
	}
	return UnkID
}

// Token returns the token of id, or "<unk>" for an id out of range.
func (v *Vocab) Token(id int32) string {
	if id < 0 || int(id) >= len(v.tokens) {
		return UnkToken
	}
	return v.tokens[id]
}

// Encode maps tokens to ids (UnkID for unknown ones), keeping the first
// maxLen tokens; maxLen <= 0 means no limit. A text token never becomes
// padding: a literal "<pad>" is encoded as UnkID.
func (v *Vocab) Encode(tokens []string, maxLen int) []int32 {
	if maxLen > 0 && len(tokens) > maxLen {
		tokens = tokens[:maxLen]
	}
	ids := make([]int32, len(tokens))
	for i, tok := range tokens {
		id := v.ID(tok)
		if id == PadID {
			id = UnkID
		}
		ids[i] = id
	}
	return ids
}
