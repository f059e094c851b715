package dataset

import (
	"fmt"
	"slices"
	"strings"
)

// SpeakerDim is the number of speaker features per turn: [is female, is
// male, same speaker as the window's target]. They are all zero when the
// source does not know speakers.
const SpeakerDim = 3

// SpeakerFeatures writes the speaker features of utterance i, seen from the
// window whose target is utterance target, into dst[:SpeakerDim]: the
// gender one-hot and whether i is spoken by the target's speaker. All zero
// when c does not know speakers; a turn whose speaker is unknown gets zeros.
func (c *Corpus) SpeakerFeatures(i, target int, dst []float32) {
	dst = dst[:SpeakerDim]
	clear(dst)
	if !c.HasSpeakers {
		return
	}
	u := &c.Utterances[i]
	switch u.Gender {
	case 'F':
		dst[0] = 1
	case 'M':
		dst[1] = 1
	}
	if u.Speaker != "" && u.Speaker == c.Utterances[target].Speaker {
		dst[2] = 1
	}
}

// sameContext reports whether a and b can share a dialog window: the same
// dialog when dialogs are known, else the same session (row order inside a
// session split, an approximation of a dialog).
func (c *Corpus) sameContext(a, b int) bool {
	ua, ub := &c.Utterances[a], &c.Utterances[b]
	if ua.Session != ub.Session {
		return false
	}
	return !c.HasDialogs || ua.Dialog == ub.Dialog
}

// WindowStart returns the first utterance of the dialog window of utterance
// i: i itself plus up to window−1 earlier turns of the same dialog, never
// crossing a dialog or session, so the window is Utterances[start : i+1].
// When dialogs are unknown (parquet and hub sources) the window follows row
// order inside i's session split, which only approximates a conversation.
func (c *Corpus) WindowStart(i, window int) int {
	s := i
	for s > 0 && i-s+1 < window && c.sameContext(s-1, i) {
		s--
	}
	return s
}

// Labelled returns the indices of the utterances with one of the four
// classes, in corpus order.
func (c *Corpus) Labelled() []int {
	var items []int
	for i := range c.Utterances {
		if c.Utterances[i].Labelled() {
			items = append(items, i)
		}
	}
	return items
}

// Sessions returns the distinct sessions of c in increasing order (0 for
// utterances whose session is unknown).
func (c *Corpus) Sessions() []int {
	seen := map[int]bool{}
	var out []int
	for i := range c.Utterances {
		s := c.Utterances[i].Session
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// Dialogs returns the number of dialogs of c (0 when dialogs are unknown).
func (c *Corpus) Dialogs() int {
	if !c.HasDialogs {
		return 0
	}
	n := 0
	for i := range c.Utterances {
		if i == 0 || !c.sameContext(i-1, i) {
			n++
		}
	}
	return n
}

// Speakers returns the number of distinct speakers of c (0 when unknown).
func (c *Corpus) Speakers() int {
	if !c.HasSpeakers {
		return 0
	}
	seen := map[string]bool{}
	for i := range c.Utterances {
		if s := c.Utterances[i].Speaker; s != "" {
			seen[s] = true
		}
	}
	return len(seen)
}

// RawTurn is one utterance given directly as text (the predict command):
// its text and, optionally, its speaker as 'F' or 'M' (0 when unknown).
type RawTurn struct {
	Text    string
	Speaker byte
	// IDs, when not nil, are Text's token ids, EncodeText with the
	// vocabulary and options given to PredictSentences or PredictDialogs,
	// which then use them rather than tokenise Text (the serve command
	// encodes each request in its own handler, not in the batch).
	IDs []int32
}

// NewRawCorpus makes a corpus of one dialog from raw turns, in conversation
// order, for prediction: the turns have no labels (NoLabel); speakers are
// known when any turn gives one, two turns with the same letter being the
// same speaker. A speaker other than 'F', 'M' or 0 is an error.
func NewRawCorpus(turns []RawTurn) (*Corpus, error) {
	return NewRawDialogs([][]RawTurn{turns})
}

// NewRawDialogs is NewRawCorpus of several dialogs at once, one after the
// other (the serve command's batches): a window never reaches across two
// of them, and each turn's speaker features are those it has in a corpus
// of its own dialog alone (a turn without a speaker has none either way).
// Utterance IDs are input_NNN in the first dialog and input<k>_NNN in
// dialog k > 0 (numbered from 0). Every dialog needs a turn.
func NewRawDialogs(dialogs [][]RawTurn) (*Corpus, error) {
	if len(dialogs) == 0 {
		return nil, fmt.Errorf("raw corpus: no turns")
	}
	c := &Corpus{Source: "input", HasDialogs: true}
	for k, turns := range dialogs {
		name := "input"
		if k > 0 {
			name = fmt.Sprintf("input%d", k)
		}
		where := ""
		if len(dialogs) > 1 {
			where = fmt.Sprintf("dialog %d: ", k+1)
		}
		if len(turns) == 0 {
			return nil, fmt.Errorf("raw corpus: %sno turns", where)
		}
		for i, t := range turns {
			u := Utterance{
				ID:       fmt.Sprintf("%s_%03d", name, i),
				Dialog:   name,
				Turn:     i,
				Text:     t.Text,
				Label:    NoLabel,
				RawLabel: "",
			}
			switch g := t.Speaker; g {
			case 0:
			case 'F', 'M', 'f', 'm':
				u.Gender = strings.ToUpper(string(g))[0]
				u.Speaker = string(u.Gender)
				c.HasSpeakers = true
			default:
				return nil, fmt.Errorf("raw corpus: %sturn %d: speaker %q, want F, M or none", where, i+1, string(g))
			}
			c.Utterances = append(c.Utterances, u)
		}
	}
	return c, nil
}
