package dataset

import "unicode/utf8"

// Encoded is a corpus tokenised and encoded with one vocabulary (built on
// one fold's training items, or a checkpoint's).
type Encoded struct {
	Corpus *Corpus
	Vocab  *Vocab
	// Tokens holds the token ids of every utterance of the corpus (context
	// turns included), truncated to MaxLen; it may be empty when a text
	// tokenises to nothing.
	Tokens    [][]int32
	MaxLen    int // the truncation length used
	Truncated int // utterances that had more than MaxLen tokens
	// LongTokens counts the tokens of the training texts longer than
	// MaxTokenRunes characters, which the vocabulary (built by Encode)
	// leaves out, so that they are encoded as UnkID; Longest is the
	// longest of them ("" when there is none).
	LongTokens int
	Longest    string
}

// Encode tokenises every utterance of c with o.Tokenizer, builds the
// vocabulary (min count o.MinCount) from the texts of the train items only,
// so that nothing of the validation or test data leaks into it, and encodes
// every utterance with it, truncated to o.MaxLen tokens. A MinCount below 1
// counts as 1 and a MaxLen below 1 as DefaultMaxLen. Training tokens of
// more than MaxTokenRunes characters are not in the vocabulary: it counts
// them in LongTokens.
func Encode(c *Corpus, train []int, o Options) *Encoded {
	toks := tokenizeAll(c, o)
	docs := make([][]string, len(train))
	for j, i := range train {
		docs[j] = toks[i]
	}
	e := encode(c, toks, BuildVocab(docs, max(o.MinCount, 1)), o)
	for _, doc := range docs {
		for _, tok := range doc {
			if TooLong(tok) {
				e.LongTokens++
				if utf8.RuneCountInString(tok) > utf8.RuneCountInString(e.Longest) {
					e.Longest = tok
				}
			}
		}
	}
	return e
}

// EncodeWithVocab tokenises and encodes every utterance of c with a given
// vocabulary (a checkpoint's, for evaluation and prediction); unknown tokens
// become UnkID.
func EncodeWithVocab(c *Corpus, v *Vocab, o Options) *Encoded {
	return encode(c, tokenizeAll(c, o), v, o)
}

func tokenizeAll(c *Corpus, o Options) [][]string {
	toks := make([][]string, len(c.Utterances))
	for i := range c.Utterances {
		toks[i] = Tokenize(c.Utterances[i].Text, o.Tokenizer)
	}
	return toks
}

// EncodeText tokenises one text and encodes it with v, truncated to
// o.MaxLen tokens: the token ids EncodeWithVocab gives an utterance of
// that text (for RawTurn.IDs).
func EncodeText(v *Vocab, o Options, text string) []int32 {
	return v.Encode(Tokenize(text, o.Tokenizer), truncation(o))
}

// truncation is the number of tokens o keeps per utterance.
func truncation(o Options) int {
	if o.MaxLen < 1 {
		return DefaultMaxLen
	}
	return o.MaxLen
}

func encode(c *Corpus, toks [][]string, v *Vocab, o Options) *Encoded {
	maxLen := truncation(o)
	e := &Encoded{Corpus: c, Vocab: v, Tokens: make([][]int32, len(toks)), MaxLen: maxLen}
	for i, t := range toks {
		if len(t) > maxLen {
			e.Truncated++
		}
		e.Tokens[i] = v.Encode(t, maxLen)
	}
	return e
}
