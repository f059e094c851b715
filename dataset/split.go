package dataset

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// The protocols (--protocol).
const (
	// ProtocolSession5 trains on sessions 1–4 (with a stratified validation
	// split) and tests on session 5: speaker-independent.
	ProtocolSession5 = "session5"
	// ProtocolLOSO is leave-one-session-out: five folds, each session the
	// test set once, validation stratified from the other four.
	ProtocolLOSO = "loso"
	// ProtocolSeed is the published reference's pooled random stratified
	// split (60/20/20 for the sentence model, 80/10/10 for the dialog model),
	// for comparison only. It is leaky: the same speakers, and for dialog
	// windows the same conversations, appear in training and test.
	ProtocolSeed = "seed"
)

// Protocols lists the protocol names.
var Protocols = []string{ProtocolSession5, ProtocolLOSO, ProtocolSeed}

// The ways of drawing a session5 or loso fold's validation split from its
// training sessions (--val-split).
const (
	// ValSplitStratified draws ValFraction of each class at random: the
	// validation speakers are training speakers too.
	ValSplitStratified = "stratified"
	// ValSplitSpeaker holds out whole speakers, drawn at random until they
	// hold ValFraction of the training sessions' utterances: their turns
	// are never a training target, as the test session's are not, but
	// (IEMOCAP's sessions being dialogs of two) they are the context of
	// their partners' training windows.
	ValSplitSpeaker = "speaker"
	// ValSplitSession holds out whole training sessions the same way: no
	// turn of their speakers or conversations is trained on, target or
	// context, as with the test session (one of IEMOCAP's four training
	// sessions, a quarter of them).
	ValSplitSession = "session"
)

// ValSplits lists the ways of drawing a validation split.
var ValSplits = []string{ValSplitStratified, ValSplitSpeaker, ValSplitSession}

// Defaults of Options.
const (
	DefaultSeed        = 1
	DefaultValFraction = 0.1
	DefaultWindow      = 10
	DefaultMinCount    = 2
	DefaultMaxLen      = 100
)

// Options select a source, a protocol and the encoding of a corpus.
//
// In JSON (a run's config.json and checkpoint metadata) the fields are
// snake_case; runs written before that named them as in Go (ValFraction),
// which UnmarshalJSON reads too.
type Options struct {
	Data        string  `json:"data"`         // --data source (see ParseSource)
	Protocol    string  `json:"protocol"`     // session5, loso or seed
	Seed        int64   `json:"seed"`         // seeds the splits (and, in the trainer, everything else)
	ValFraction float64 `json:"val_fraction"` // share of each class of the training sessions held out for validation
	// ValSplit is how the validation split is drawn: ValSplitStratified
	// (or ""), ValSplitSpeaker or ValSplitSession.
	ValSplit  string           `json:"val_split,omitempty"`
	Window    int              `json:"window"`    // dialog window: the target plus up to Window−1 earlier turns
	MinCount  int              `json:"min_count"` // a token enters the vocabulary when it occurs this often in training
	MaxLen    int              `json:"max_len"`   // tokens kept per utterance (longer ones are truncated)
	Tokenizer TokenizerOptions `json:"tokenizer"`
	Dialog    bool             `json:"dialog"` // a dialog model: the seed protocol's split sizes depend on it
}

// UnmarshalJSON reads Options in JSON, snake_case or with the Go field
// names of runs written before (ValFraction, MinCount, …).
func (o *Options) UnmarshalJSON(b []byte) error {
	type plain Options // without this method
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	// encoding/json matches keys to names ignoring case only, so the
	// single-word fields (Data, Seed, …) are read above either way.
	var old struct {
		ValFraction *float64
		ValSplit    *string
		MinCount    *int
		MaxLen      *int
	}
	if err := json.Unmarshal(b, &old); err != nil {
		return err
	}
	if old.ValFraction != nil {
		p.ValFraction = *old.ValFraction
	}
	if old.ValSplit != nil {
		p.ValSplit = *old.ValSplit
	}
	if old.MinCount != nil {
		p.MinCount = *old.MinCount
	}
	if old.MaxLen != nil {
		p.MaxLen = *old.MaxLen
	}
	*o = Options(p)
	return nil
}

// DefaultOptions returns the defaults: the hub source, the session5
// protocol, seed 1, 10% validation, windows of 10 turns, min count 2 and
// 100 tokens per utterance.
func DefaultOptions() Options {
	return Options{
		Data:        DefaultData,
		Protocol:    ProtocolSession5,
		Seed:        DefaultSeed,
		ValFraction: DefaultValFraction,
		Window:      DefaultWindow,
		MinCount:    DefaultMinCount,
		MaxLen:      DefaultMaxLen,
	}
}

// Validate reports the first option out of range.
func (o Options) Validate() error {
	switch {
	case !slices.Contains(Protocols, o.Protocol):
		return fmt.Errorf("unknown protocol %q (want session5, loso or seed)", o.Protocol)
	case !(o.ValFraction > 0 && o.ValFraction < 1):
		return fmt.Errorf("validation fraction %v outside (0, 1)", o.ValFraction)
	case o.ValSplit != "" && !slices.Contains(ValSplits, o.ValSplit):
		return fmt.Errorf("unknown validation split %q (want stratified, speaker or session)", o.ValSplit)
	case (o.ValSplit == ValSplitSpeaker || o.ValSplit == ValSplitSession) && o.Protocol == ProtocolSeed:
		return fmt.Errorf("validation split %s: the seed protocol pools every speaker and session into every split; use session5 or loso", o.ValSplit)
	case o.Window < 1:
		return fmt.Errorf("window %d, want at least 1", o.Window)
	case o.MinCount < 1:
		return fmt.Errorf("min count %d, want at least 1", o.MinCount)
	case o.MaxLen < 1:
		return fmt.Errorf("max length %d, want at least 1", o.MaxLen)
	}
	return nil
}

// Fold is one train/validation/test split; each holds indices into
// Corpus.Utterances of labelled utterances, in corpus order.
type Fold struct {
	Name             string
	Train, Val, Test []int
	// ValHeldOut names what was held out for validation, sorted: speakers
	// (ValSplitSpeaker: Ses02F) or sessions (ValSplitSession: Ses02); nil
	// for a stratified split.
	ValHeldOut []string
}

// Folds splits the labelled utterances of c by o.Protocol: one fold for
// session5 and seed, one per session (five for IEMOCAP) for loso. Every
// split is stratified exactly: each class is within one item of its share
// in every part, except a validation split of whole speakers
// (o.ValSplit). The splits depend only on c, o.Protocol, o.ValFraction,
// o.ValSplit, o.Dialog (seed) and o.Seed.
func Folds(c *Corpus, o Options) ([]Fold, error) {
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("folds: %w", err)
	}
	items := c.Labelled()
	if len(items) == 0 {
		return nil, fmt.Errorf("folds: %s has no utterance labelled angry, happy, neutral or sad", c.Source)
	}
	if o.Protocol == ProtocolSeed {
		fr := []float64{0.2, 0.2} // validation, test
		if o.Dialog {
			fr = []float64{0.1, 0.1}
		}
		parts := stratify(c, items, fr, splitRand(o.Seed, 0))
		return []Fold{{Name: ProtocolSeed, Train: parts[0], Val: parts[1], Test: parts[2]}}, nil
	}

	bySession := map[int][]int{}
	for _, i := range items {
		s := c.Utterances[i].Session
		if s == 0 {
			return nil, fmt.Errorf("folds: protocol %s needs sessions, and %s does not give the session of utterance %d (use --protocol seed)", o.Protocol, c.Source, i)
		}
		bySession[s] = append(bySession[s], i)
	}
	sessions := make([]int, 0, len(bySession))
	for s := range bySession {
		sessions = append(sessions, s)
	}
	slices.Sort(sessions)

	fold := func(name string, test int, stream uint64) (Fold, error) {
		var rest []int
		for _, i := range items {
			if c.Utterances[i].Session != test {
				rest = append(rest, i)
			}
		}
		if len(rest) == 0 {
			return Fold{}, fmt.Errorf("folds: %s: no labelled utterance outside session %d to train on", name, test)
		}
		if o.ValSplit == ValSplitSpeaker || o.ValSplit == ValSplitSession {
			train, val, held, err := holdOut(c, rest, o.ValSplit, o.ValFraction, splitRand(o.Seed, stream))
			if err != nil {
				return Fold{}, fmt.Errorf("folds: %s: %w", name, err)
			}
			return Fold{Name: name, Train: train, Val: val, Test: bySession[test], ValHeldOut: held}, nil
		}
		parts := stratify(c, rest, []float64{o.ValFraction}, splitRand(o.Seed, stream))
		return Fold{Name: name, Train: parts[0], Val: parts[1], Test: bySession[test]}, nil
	}

	switch o.Protocol {
	case ProtocolSession5:
		if len(bySession[5]) == 0 {
			return nil, fmt.Errorf("folds: protocol session5: %s has no labelled utterance in session 5 (sessions %v)", c.Source, sessions)
		}
		f, err := fold(ProtocolSession5, 5, 0)
		if err != nil {
			return nil, err
		}
		return []Fold{f}, nil
	case ProtocolLOSO:
		if len(sessions) < 2 {
			return nil, fmt.Errorf("folds: protocol loso: %s has labelled utterances in only session %v", c.Source, sessions)
		}
		folds := make([]Fold, 0, len(sessions))
		for _, s := range sessions {
			f, err := fold(fmt.Sprintf("loso-ses%d", s), s, uint64(s))
			if err != nil {
				return nil, err
			}
			folds = append(folds, f)
		}
		return folds, nil
	}
	return nil, errors.New("folds: unreachable protocol")
}

// splitRand is the generator of the split of one fold.
func splitRand(seed int64, stream uint64) *rand.Rand {
	const salt = 0x73706c6974000000 // "split"
	return rand.New(rand.NewPCG(uint64(seed), salt|stream))
}

// holdOut splits items by speaker or by session (how, ValSplitSpeaker or
// ValSplitSession): groups drawn in random order go to validation until
// they hold at least frac of the items (at least one group, never every
// one), the rest to training. Both are returned in corpus order, with the
// held-out groups' names sorted.
func holdOut(c *Corpus, items []int, how string, frac float64, rng *rand.Rand) (train, val []int, held []string, err error) {
	group, what := func(u *Utterance) string { return fmt.Sprintf("Ses%02d", u.Session) }, "session"
	if how == ValSplitSpeaker {
		if !c.HasSpeakers {
			return nil, nil, nil, fmt.Errorf("validation split speaker: %s does not give speakers (the IEMOCAP CSV transcripts with utterance IDs do; --val-split session needs only sessions)", c.Source)
		}
		group, what = func(u *Utterance) string { return u.Speaker }, "speaker"
	}
	count := map[string]int{}
	for _, i := range items {
		count[group(&c.Utterances[i])]++
	}
	delete(count, "") // a turn of unknown speaker is never held out
	groups := make([]string, 0, len(count))
	for g := range count {
		groups = append(groups, g)
	}
	if len(groups) < 2 {
		return nil, nil, nil, fmt.Errorf("validation split %s: the training sessions have %d %s(s), want at least two (one to validate on, one to train on)", how, len(groups), what)
	}
	slices.Sort(groups)
	rng.Shuffle(len(groups), func(a, b int) { groups[a], groups[b] = groups[b], groups[a] })
	want, n := frac*float64(len(items)), 0
	isHeld := map[string]bool{}
	for _, g := range groups[:len(groups)-1] {
		if len(held) > 0 && float64(n) >= want {
			break
		}
		held, n, isHeld[g] = append(held, g), n+count[g], true
	}
	slices.Sort(held)
	for _, i := range items {
		if isHeld[group(&c.Utterances[i])] {
			val = append(val, i)
		} else {
			train = append(train, i)
		}
	}
	return train, val, held, nil
}

// stratify splits items into len(fracs)+1 parts, class by class: part j+1
// gets round(n_k·fracs[j]) items of class k drawn at random, part 0 the rest.
// Each part is returned in corpus order.
func stratify(c *Corpus, items []int, fracs []float64, rng *rand.Rand) [][]int {
	var byClass [NumClasses][]int
	for _, i := range items {
		l := c.Utterances[i].Label
		byClass[l] = append(byClass[l], i)
	}
	parts := make([][]int, len(fracs)+1)
	for k := range byClass {
		cls := byClass[k]
		slices.Sort(cls)
		rng.Shuffle(len(cls), func(a, b int) { cls[a], cls[b] = cls[b], cls[a] })
		off := 0
		for j, f := range fracs {
			n := min(int(math.Round(float64(len(cls))*f)), len(cls)-off)
			parts[j+1] = append(parts[j+1], cls[off:off+n]...)
			off += n
		}
		parts[0] = append(parts[0], cls[off:]...)
	}
	for _, p := range parts {
		slices.Sort(p)
	}
	return parts
}

// ClassCounts counts the labelled utterances of items per class (NoLabel
// items are not counted).
func ClassCounts(c *Corpus, items []int) [NumClasses]int {
	var n [NumClasses]int
	for _, i := range items {
		if l := c.Utterances[i].Label; l >= 0 && int(l) < NumClasses {
			n[l]++
		}
	}
	return n
}

// ClassWeights returns the balanced class weights of the items (usually a
// training split): n / (K · count_k), where n counts the labelled items and
// K = NumClasses, as scikit-learn's compute_class_weight("balanced"). A class
// without items gets weight 0.
func ClassWeights(c *Corpus, items []int) [NumClasses]float32 {
	counts := ClassCounts(c, items)
	n := 0
	for _, k := range counts {
		n += k
	}
	var w [NumClasses]float32
	for k, ck := range counts {
		if ck > 0 {
			w[k] = float32(float64(n) / float64(NumClasses*ck))
		}
	}
	return w
}

// SessionCounts counts the labelled utterances per session and class; the
// key 0 holds utterances whose session is unknown.
func SessionCounts(c *Corpus) map[int][NumClasses]int {
	out := map[int][NumClasses]int{}
	for i := range c.Utterances {
		u := &c.Utterances[i]
		if u.Labelled() {
			n := out[u.Session]
			n[u.Label]++
			out[u.Session] = n
		}
	}
	return out
}
