package dataset

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

// fixtureCorpus builds a corpus of `sessions` sessions with `dialogs`
// dialogs of `turns` turns each; speakers alternate F/M within a dialog and
// labels follow a fixed pattern with some context-only turns.
func fixtureCorpus(sessions, dialogs, turns int) *Corpus {
	c := &Corpus{Source: "fixture", HasSpeakers: true, HasDialogs: true}
	n := 0
	for s := 1; s <= sessions; s++ {
		for d := range dialogs {
			dialog := fmt.Sprintf("Ses%02dF_impro%02d", s, d)
			num := map[byte]int{}
			for t := range turns {
				g := byte('F')
				if (t+d)%2 == 1 {
					g = 'M'
				}
				l := Label((n*7 + s + d) % 6)
				raw := [...]string{"ang", "hap", "neu", "sad", "fru", "xxx"}[l]
				if l >= NumClasses {
					l = NoLabel
				}
				c.Utterances = append(c.Utterances, Utterance{
					ID:       fmt.Sprintf("%s_%c%03d", dialog, g, num[g]),
					Dialog:   dialog,
					Session:  s,
					Speaker:  fmt.Sprintf("Ses%02d%c", s, g),
					Gender:   g,
					Turn:     t,
					Text:     strings.Repeat(fmt.Sprintf("w%d ", n%11), 1+n%5),
					Label:    l,
					RawLabel: raw,
				})
				num[g]++
				n++
			}
		}
	}
	return c
}

// checkPartition fails unless the parts are sorted, disjoint and together
// exactly want (as sets).
func checkPartition(t *testing.T, name string, want []int, parts ...[]int) {
	t.Helper()
	var all []int
	for _, p := range parts {
		if !slices.IsSorted(p) {
			t.Errorf("%s: a part is not in corpus order", name)
		}
		all = append(all, p...)
	}
	slices.Sort(all)
	w := slices.Clone(want)
	slices.Sort(w)
	if !slices.Equal(all, w) {
		t.Errorf("%s: parts (%d items) do not partition the %d expected items", name, len(all), len(w))
	}
}

// checkStratified fails unless each class of each part is within one item
// of its share frac of the class in the whole.
func checkStratified(t *testing.T, c *Corpus, name string, whole []int, parts [][]int, fracs []float64) {
	t.Helper()
	n := ClassCounts(c, whole)
	for j, p := range parts {
		got := ClassCounts(c, p)
		for k := range NumClasses {
			share := float64(n[k]) * fracs[j]
			if math.Abs(float64(got[k])-share) > 1 {
				t.Errorf("%s part %d class %v: %d items, share %.2f", name, j, Label(k), got[k], share)
			}
		}
	}
}

func itemsWhere(c *Corpus, keep func(u *Utterance) bool) []int {
	var out []int
	for i := range c.Utterances {
		if u := &c.Utterances[i]; u.Labelled() && keep(u) {
			out = append(out, i)
		}
	}
	return out
}

func TestFoldsSession5(t *testing.T) {
	c := fixtureCorpus(5, 4, 23)
	o := DefaultOptions()
	folds, err := Folds(c, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(folds) != 1 || folds[0].Name != "session5" {
		t.Fatalf("folds = %d, name %q", len(folds), folds[0].Name)
	}
	f := folds[0]
	test := itemsWhere(c, func(u *Utterance) bool { return u.Session == 5 })
	rest := itemsWhere(c, func(u *Utterance) bool { return u.Session != 5 })
	if !slices.Equal(f.Test, test) {
		t.Error("test is not exactly the labelled utterances of session 5")
	}
	checkPartition(t, "session5", rest, f.Train, f.Val)
	checkStratified(t, c, "session5", rest, [][]int{f.Train, f.Val}, []float64{0.9, 0.1})
	if len(f.Val) == 0 {
		t.Error("empty validation split")
	}

	again, _ := Folds(c, o)
	if !slices.Equal(again[0].Val, f.Val) || !slices.Equal(again[0].Train, f.Train) {
		t.Error("same seed gave a different split")
	}
	o.Seed = 2
	other, _ := Folds(c, o)
	if slices.Equal(other[0].Val, f.Val) {
		t.Error("seeds 1 and 2 gave the same validation split")
	}
}

func TestFoldsLOSO(t *testing.T) {
	c := fixtureCorpus(5, 3, 17)
	o := DefaultOptions()
	o.Protocol = ProtocolLOSO
	o.ValFraction = 0.2
	folds, err := Folds(c, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(folds) != 5 {
		t.Fatalf("%d folds, want 5", len(folds))
	}
	all := c.Labelled()
	var tests []int
	for s, f := range folds {
		s++
		if want := fmt.Sprintf("loso-ses%d", s); f.Name != want {
			t.Errorf("fold name %q, want %q", f.Name, want)
		}
		test := itemsWhere(c, func(u *Utterance) bool { return u.Session == s })
		rest := itemsWhere(c, func(u *Utterance) bool { return u.Session != s })
		if !slices.Equal(f.Test, test) {
			t.Errorf("fold %d: test is not session %d", s, s)
		}
		checkPartition(t, f.Name, rest, f.Train, f.Val)
		checkStratified(t, c, f.Name, rest, [][]int{f.Train, f.Val}, []float64{0.8, 0.2})
		tests = append(tests, f.Test...)
	}
	checkPartition(t, "loso tests", all, tests)
}

// TestFoldsSpeakerValidation: with ValSplitSpeaker each fold's
// validation split is every labelled utterance of the speakers it names,
// none of them left in training or spoken in the test session, drawn in
// seeded order until they hold ValFraction of the training sessions (the
// last one taking it past), for every fraction; the same seed draws the
// same speakers, and the seeds between them draw more than one set.
func TestFoldsSpeakerValidation(t *testing.T) {
	c := fixtureCorpus(5, 3, 17)
	for _, frac := range []float64{0.05, 0.1, 0.3, 0.6, 0.99} {
		o := DefaultOptions()
		o.Protocol, o.ValSplit, o.ValFraction = ProtocolLOSO, ValSplitSpeaker, frac
		folds, err := Folds(c, o)
		if err != nil {
			t.Fatal(err)
		}
		for s, f := range folds {
			s++
			rest := itemsWhere(c, func(u *Utterance) bool { return u.Session != s })
			checkPartition(t, f.Name, rest, f.Train, f.Val)
			if !slices.IsSorted(f.ValHeldOut) || len(f.ValHeldOut) == 0 {
				t.Fatalf("frac %g, %s: validation speakers %v", frac, f.Name, f.ValHeldOut)
			}
			held := itemsWhere(c, func(u *Utterance) bool { return u.Session != s && slices.Contains(f.ValHeldOut, u.Speaker) })
			if !slices.Equal(f.Val, held) {
				t.Errorf("frac %g, %s: validation is not exactly the utterances of %v", frac, f.Name, f.ValHeldOut)
			}
			for _, sp := range f.ValHeldOut {
				if sp == fmt.Sprintf("Ses%02dF", s) || sp == fmt.Sprintf("Ses%02dM", s) {
					t.Errorf("frac %g, %s: validation speaker %s is in the test session", frac, f.Name, sp)
				}
			}
			if len(f.Train) == 0 {
				t.Errorf("frac %g, %s: every speaker held out", frac, f.Name)
			}
			// At least frac, unless only the training speaker is left.
			n := float64(len(f.Val))
			if n < frac*float64(len(rest)) && len(f.ValHeldOut) < 7 {
				t.Errorf("frac %g, %s: %g of %d held out", frac, f.Name, n, len(rest))
			}
			// Before its last speaker was drawn the split held less than
			// frac, so it does without its largest.
			largest := 0
			for _, sp := range f.ValHeldOut {
				largest = max(largest, len(itemsWhere(c, func(u *Utterance) bool { return u.Session != s && u.Speaker == sp })))
			}
			if float64(len(f.Val)-largest) >= frac*float64(len(rest)) {
				t.Errorf("frac %g, %s: %d held out by %v, more speakers than needed", frac, f.Name, len(f.Val), f.ValHeldOut)
			}
		}
	}
	o := DefaultOptions()
	o.ValSplit = ValSplitSpeaker
	first, _ := Folds(c, o)
	again, _ := Folds(c, o)
	if !slices.Equal(first[0].ValHeldOut, again[0].ValHeldOut) || !slices.Equal(first[0].Train, again[0].Train) {
		t.Error("the same seed held out other speakers")
	}
	drawn := map[string]bool{}
	for seed := range int64(8) {
		o.Seed = seed + 1
		f, err := Folds(c, o)
		if err != nil {
			t.Fatal(err)
		}
		drawn[strings.Join(f[0].ValHeldOut, ",")] = true
	}
	if len(drawn) < 2 {
		t.Errorf("seeds 1–8 all held out %v", drawn)
	}
}

// TestFoldsSessionValidation: with ValSplitSession each fold's
// validation split is every labelled utterance of the training sessions
// it names (one of four at the default 0.1, at least ValFraction), drawn
// by seed; it needs sessions only, not speakers.
func TestFoldsSessionValidation(t *testing.T) {
	c := fixtureCorpus(5, 3, 17)
	c.HasSpeakers = false
	for _, frac := range []float64{0.1, 0.3, 0.99} {
		o := DefaultOptions()
		o.Protocol, o.ValSplit, o.ValFraction = ProtocolLOSO, ValSplitSession, frac
		folds, err := Folds(c, o)
		if err != nil {
			t.Fatal(err)
		}
		for s, f := range folds {
			s++
			rest := itemsWhere(c, func(u *Utterance) bool { return u.Session != s })
			checkPartition(t, f.Name, rest, f.Train, f.Val)
			held := itemsWhere(c, func(u *Utterance) bool {
				return u.Session != s && slices.Contains(f.ValHeldOut, fmt.Sprintf("Ses%02d", u.Session))
			})
			if !slices.Equal(f.Val, held) || len(f.ValHeldOut) == 0 || slices.Contains(f.ValHeldOut, fmt.Sprintf("Ses%02d", s)) {
				t.Errorf("frac %g, %s: validation is not exactly the utterances of training sessions %v", frac, f.Name, f.ValHeldOut)
			}
			if want := map[float64]int{0.1: 1, 0.3: 2, 0.99: 3}[frac]; len(f.ValHeldOut) != want {
				t.Errorf("frac %g, %s: %d sessions held out (%v), want %d", frac, f.Name, len(f.ValHeldOut), f.ValHeldOut, want)
			}
		}
	}
}

// TestHoldOutExactShare: groups go to validation until they hold at
// least the fraction asked, so a fraction that whole groups meet exactly
// holds out those groups and no more.
func TestHoldOutExactShare(t *testing.T) {
	c := &Corpus{Source: "fixture", HasSpeakers: true}
	var items []int
	for s := 1; s <= 4; s++ {
		for i := range 10 {
			items = append(items, len(c.Utterances))
			c.Utterances = append(c.Utterances, Utterance{Session: s, Speaker: fmt.Sprintf("Ses%02d%c", s, "FM"[i%2]), Label: Label(i % NumClasses)})
		}
	}
	for _, tc := range []struct {
		how      string
		frac     float64
		held, nv int
	}{
		{ValSplitSession, 0.25, 1, 10}, {ValSplitSession, 0.5, 2, 20}, {ValSplitSession, 0.26, 2, 20},
		{ValSplitSpeaker, 0.125, 1, 5}, {ValSplitSpeaker, 0.375, 3, 15},
	} {
		for seed := range int64(5) {
			train, val, held, err := holdOut(c, items, tc.how, tc.frac, splitRand(seed, 0))
			if err != nil {
				t.Fatal(err)
			}
			if len(held) != tc.held || len(val) != tc.nv || len(train)+len(val) != len(items) {
				t.Errorf("%s %g, seed %d: held out %v (%d utterances, %d training); want %d groups, %d utterances",
					tc.how, tc.frac, seed, held, len(val), len(train), tc.held, tc.nv)
			}
		}
	}
}

func TestFoldsSeed(t *testing.T) {
	c := fixtureCorpus(5, 3, 29)
	for _, tc := range []struct {
		dialog bool
		fracs  []float64
	}{{false, []float64{0.6, 0.2, 0.2}}, {true, []float64{0.8, 0.1, 0.1}}} {
		o := DefaultOptions()
		o.Protocol = ProtocolSeed
		o.Dialog = tc.dialog
		folds, err := Folds(c, o)
		if err != nil {
			t.Fatal(err)
		}
		f := folds[0]
		name := fmt.Sprintf("seed dialog=%v", tc.dialog)
		all := c.Labelled()
		checkPartition(t, name, all, f.Train, f.Val, f.Test)
		checkStratified(t, c, name, all, [][]int{f.Train, f.Val, f.Test}, tc.fracs)
		// Pooled: the test split draws from every session.
		sessions := map[int]bool{}
		for _, i := range f.Test {
			sessions[c.Utterances[i].Session] = true
		}
		if len(sessions) != 5 {
			t.Errorf("%s: test covers %d sessions, want 5", name, len(sessions))
		}
	}
}

// TestStratifyExact checks the rounding on small classes against counts
// worked out by hand.
func TestStratifyExact(t *testing.T) {
	c := &Corpus{}
	// 7 angry, 3 happy, 1 neutral, 0 sad.
	for k, n := range []int{7, 3, 1} {
		for range n {
			c.Utterances = append(c.Utterances, Utterance{Label: Label(k), Session: 1})
		}
	}
	parts := stratify(c, c.Labelled(), []float64{0.2, 0.2}, splitRand(5, 0))
	want := [][NumClasses]int{{5, 1, 1, 0}, {1, 1, 0, 0}, {1, 1, 0, 0}} // round(1.4)=1, round(0.6)=1, round(0.2)=0
	for j := range parts {
		if got := ClassCounts(c, parts[j]); got != want[j] {
			t.Errorf("part %d counts %v, want %v", j, got, want[j])
		}
	}
}

func TestFoldsErrors(t *testing.T) {
	four := fixtureCorpus(4, 2, 10)
	noSession := fixtureCorpus(5, 1, 10)
	for i := range noSession.Utterances {
		noSession.Utterances[i].Session = 0
	}
	unlabelled := &Corpus{Source: "empty", Utterances: []Utterance{{Label: NoLabel, Session: 1}}}
	one := fixtureCorpus(1, 2, 10)
	onlyOneAndFive := fixtureCorpus(5, 1, 10)
	onlyOneAndFive.Utterances = slices.DeleteFunc(onlyOneAndFive.Utterances, func(u Utterance) bool { return u.Session != 1 && u.Session != 5 })
	noSpeakers := fixtureCorpus(5, 1, 10)
	noSpeakers.Source, noSpeakers.HasSpeakers = "nospk", false
	// Sessions 1 and 5, and every turn of session 1 by one speaker.
	oneSpeaker := fixtureCorpus(5, 1, 10)
	for i := range oneSpeaker.Utterances {
		if u := &oneSpeaker.Utterances[i]; u.Session == 1 {
			u.Speaker = "Ses01F"
		} else if u.Session != 5 {
			u.Speaker = ""
		}
	}
	// Session 5 alone: nothing outside it to train on.
	onlyFive := fixtureCorpus(1, 2, 10)
	for i := range onlyFive.Utterances {
		onlyFive.Utterances[i].Session = 5
	}
	tests := []struct {
		name string
		c    *Corpus
		edit func(*Options)
		want string
	}{
		{"unknown protocol", four, func(o *Options) { o.Protocol = "random" }, `unknown protocol "random"`},
		{"val fraction", four, func(o *Options) { o.ValFraction = 1 }, "validation fraction"},
		{"window", four, func(o *Options) { o.Window = 0 }, "window 0"},
		// Each bound of Validate at its first value out of range.
		{"val fraction 0", four, func(o *Options) { o.ValFraction = 0 }, "validation fraction 0 outside (0, 1)"},
		{"min count 0", four, func(o *Options) { o.MinCount = 0 }, "min count 0, want at least 1"},
		{"max length 0", four, func(o *Options) { o.MaxLen = 0 }, "max length 0, want at least 1"},
		{"only session 5", onlyFive, nil, "no labelled utterance outside session 5"},
		{"no session 5", four, nil, "no labelled utterance in session 5"},
		{"no sessions", noSession, nil, "needs sessions"},
		{"no labels", unlabelled, nil, "no utterance labelled"},
		{"loso one session", one, func(o *Options) { o.Protocol = ProtocolLOSO }, "only session"},
		{"unknown validation split", four, func(o *Options) { o.ValSplit = "dialog" }, `unknown validation split "dialog"`},
		{"speaker validation of the seed protocol", four, func(o *Options) { o.ValSplit, o.Protocol = ValSplitSpeaker, ProtocolSeed }, "seed protocol pools every speaker"},
		{"session validation of the seed protocol", four, func(o *Options) { o.ValSplit, o.Protocol = ValSplitSession, ProtocolSeed }, "validation split session: the seed protocol"},
		{"session validation of one training session", onlyOneAndFive, func(o *Options) { o.ValSplit = ValSplitSession }, "have 1 session(s), want at least two"},
		{"speaker validation without speakers", noSpeakers, func(o *Options) { o.ValSplit = ValSplitSpeaker }, "nospk does not give speakers"},
		{"speaker validation of one training speaker", oneSpeaker, func(o *Options) { o.ValSplit = ValSplitSpeaker }, "have 1 speaker(s), want at least two"},
	}
	for _, tc := range tests {
		o := DefaultOptions()
		if tc.edit != nil {
			tc.edit(&o)
		}
		_, err := Folds(tc.c, o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	// The seed protocol does not need sessions.
	o := DefaultOptions()
	o.Protocol = ProtocolSeed
	if _, err := Folds(noSession, o); err != nil {
		t.Errorf("seed without sessions: %v", err)
	}
}

func TestClassWeights(t *testing.T) {
	c := &Corpus{}
	for k, n := range []int{1, 2, 5, 0} {
		for range n {
			c.Utterances = append(c.Utterances, Utterance{Label: Label(k)})
		}
	}
	c.Utterances = append(c.Utterances, Utterance{Label: NoLabel}) // not counted
	all := make([]int, len(c.Utterances))
	for i := range all {
		all[i] = i
	}
	got := ClassWeights(c, all)
	// n = 8, K = 4: 8/4 = 2, 8/8 = 1, 8/20 = 0.4, no sad → 0.
	want := [NumClasses]float32{2, 1, 0.4, 0}
	for k := range want {
		if math.Abs(float64(got[k]-want[k])) > 1e-6 {
			t.Errorf("weight %v = %v, want %v", Label(k), got[k], want[k])
		}
	}
	// Balanced weights give every present class the same total weight n/K.
	fc := fixtureCorpus(2, 3, 31)
	items := fc.Labelled()
	w := ClassWeights(fc, items)
	n := ClassCounts(fc, items)
	for k := range NumClasses {
		if tot := float64(w[k]) * float64(n[k]); math.Abs(tot-float64(len(items))/NumClasses) > 1e-3 {
			t.Errorf("class %v: total weight %v, want %v", Label(k), tot, float64(len(items))/NumClasses)
		}
	}
}

func TestSessionCounts(t *testing.T) {
	c := fixtureCorpus(3, 2, 9)
	sc := SessionCounts(c)
	total := 0
	for s := 1; s <= 3; s++ {
		want := ClassCounts(c, itemsWhere(c, func(u *Utterance) bool { return u.Session == s }))
		if sc[s] != want {
			t.Errorf("session %d: %v, want %v", s, sc[s], want)
		}
		for _, n := range sc[s] {
			total += n
		}
	}
	if total != len(c.Labelled()) {
		t.Errorf("total %d, want %d", total, len(c.Labelled()))
	}
}

// TestOptionsJSON: Options are written snake_case and read back the same,
// and runs written with the Go field names (before) read as they were.
func TestOptionsJSON(t *testing.T) {
	o := Options{Data: "../data", Protocol: ProtocolLOSO, Seed: 7, ValFraction: 0.2, ValSplit: ValSplitSpeaker,
		Window: 5, MinCount: 3, MaxLen: 50, Tokenizer: TokenizerOptions{DropNonSpeech: true}, Dialog: true}
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"data":"../data","protocol":"loso","seed":7,"val_fraction":0.2,"val_split":"speaker","window":5,"min_count":3,"max_len":50,"tokenizer":{"drop_non_speech":true},"dialog":true}`
	if string(b) != want {
		t.Errorf("JSON %s\nwant %s", b, want)
	}
	legacy := `{"Data":"../data","Protocol":"loso","Seed":7,"ValFraction":0.2,"ValSplit":"speaker","Window":5,"MinCount":3,"MaxLen":50,"Tokenizer":{"DropNonSpeech":true},"Dialog":true}`
	for _, in := range []string{string(b), legacy} {
		var got Options
		if err := json.Unmarshal([]byte(in), &got); err != nil || got != o {
			t.Errorf("read %s: %+v (%v), want %+v", in, got, err, o)
		}
	}
	var got Options
	if err := json.Unmarshal([]byte(`{"val_fraction": "x"}`), &got); err == nil {
		t.Error("a string val_fraction: no error")
	}
}
