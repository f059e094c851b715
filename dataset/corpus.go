// Package dataset turns an IEMOCAP source (the Hugging Face hub, local
// parquet files, or the CSV transcripts with utterance IDs) into a corpus of
// utterances and dialogs, and then into encoded, padded batches for the
// models: token ids, lengths, speaker features, labels and dialog windows.
//
// It imports nothing else of this module.
package dataset

import "fmt"

// Label is one of the four emotion classes, or NoLabel for an utterance that
// is kept only as dialog context (fru, xxx, sur, …).
type Label int8

// The four classes, in the order of Zahra99/IEMOCAP_Text's ClassLabel.
const (
	Angry Label = iota
	Happy
	Neutral
	Sad

	// NumClasses is the number of emotion classes.
	NumClasses = 4
	// NoLabel marks an utterance that is not trained or scored on.
	NoLabel Label = -1
)

// LabelNames are the class names, indexed by Label.
var LabelNames = [NumClasses]string{"angry", "happy", "neutral", "sad"}

// String returns the class name, or "none" for NoLabel.
func (l Label) String() string {
	if l >= 0 && int(l) < NumClasses {
		return LabelNames[l]
	}
	if l == NoLabel {
		return "none"
	}
	return fmt.Sprintf("Label(%d)", int8(l))
}

// Utterance is one turn of a dialog.
type Utterance struct {
	ID       string // utterance ID (Ses01F_impro01_F000); "" when the source has none
	Dialog   string // dialog ID (Ses01F_impro01); "" when unknown
	Session  int    // IEMOCAP session 1–5; 0 when unknown
	Speaker  string // session + gender letter (Ses01F); "" when unknown
	Gender   byte   // 'F' or 'M'; 0 when unknown
	Turn     int    // position in its dialog (or in its source split), from 0
	Text     string
	Label    Label  // NoLabel for context-only turns
	RawLabel string // the source's own label: "exc", "fru", "hap", "1", …
}

// Labelled reports whether u is trained and scored on.
func (u *Utterance) Labelled() bool { return u.Label >= 0 }

// Corpus is every utterance of a source, grouped by dialog: the turns of one
// dialog are contiguous and in conversation order, dialogs are grouped by
// session.
type Corpus struct {
	Source      string // what was loaded, for messages
	Utterances  []Utterance
	HasSpeakers bool     // utterance IDs give speakers and genders
	HasDialogs  bool     // utterance IDs give dialogs and turn order
	Warnings    []string // said once each, e.g. that speakers are unknown
}
