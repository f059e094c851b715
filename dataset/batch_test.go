package dataset

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// smallCorpus: session 1 has dialogs A (4 turns) and B (2 turns), session 2
// has dialog C (3 turns).
func smallCorpus() *Corpus {
	mk := func(ses int, dialog string, g byte, text string, l Label) Utterance {
		return Utterance{Session: ses, Dialog: dialog, Gender: g, Speaker: fmt.Sprintf("Ses%02d%c", ses, g), Text: text, Label: l}
	}
	return &Corpus{
		Source: "small", HasDialogs: true, HasSpeakers: true,
		Utterances: []Utterance{
			mk(1, "A", 'F', "a0", Angry),   // 0
			mk(1, "A", 'M', "a1", NoLabel), // 1
			mk(1, "A", 'F', "a2", Happy),   // 2
			mk(1, "A", 'M', "a3", Sad),     // 3
			mk(1, "B", 'M', "b0", Neutral), // 4
			mk(1, "B", 'F', "b1", Sad),     // 5
			mk(2, "C", 'F', "c0", NoLabel), // 6
			mk(2, "C", 'F', "c1", Happy),   // 7
			mk(2, "C", 'M', "c2", Angry),   // 8
		},
	}
}

func TestWindowStart(t *testing.T) {
	c := smallCorpus()
	tests := []struct {
		i, window, dialogs, rows int // want starts with dialogs known and unknown
	}{
		{0, 10, 0, 0},
		{3, 10, 0, 0},
		{3, 2, 2, 2},
		{3, 1, 3, 3},
		{5, 10, 4, 0}, // without dialogs B continues A (same session)
		{5, 3, 4, 3},
		{6, 10, 6, 6}, // never crosses a session
		{8, 10, 6, 6},
		{8, 2, 7, 7},
	}
	for _, tc := range tests {
		c.HasDialogs = true
		if got := c.WindowStart(tc.i, tc.window); got != tc.dialogs {
			t.Errorf("dialogs: WindowStart(%d, %d) = %d, want %d", tc.i, tc.window, got, tc.dialogs)
		}
		c.HasDialogs = false
		if got := c.WindowStart(tc.i, tc.window); got != tc.rows {
			t.Errorf("rows: WindowStart(%d, %d) = %d, want %d", tc.i, tc.window, got, tc.rows)
		}
	}
}

func TestSpeakerFeatures(t *testing.T) {
	c := smallCorpus()
	tests := []struct {
		i, target int
		want      [SpeakerDim]float32
	}{
		{0, 2, [3]float32{1, 0, 1}},
		{1, 2, [3]float32{0, 1, 0}},
		{1, 3, [3]float32{0, 1, 1}},
		{8, 8, [3]float32{0, 1, 1}},
	}
	for _, tc := range tests {
		got := make([]float32, SpeakerDim+1)
		got[SpeakerDim] = 7 // must stay untouched
		c.SpeakerFeatures(tc.i, tc.target, got)
		if [3]float32(got[:3]) != tc.want || got[3] != 7 {
			t.Errorf("SpeakerFeatures(%d, %d) = %v, want %v", tc.i, tc.target, got, tc.want)
		}
	}
	c.HasSpeakers = false
	got := []float32{9, 9, 9}
	c.SpeakerFeatures(0, 0, got)
	if got[0] != 0 || got[1] != 0 || got[2] != 0 {
		t.Errorf("unknown speakers: %v, want zeros", got)
	}
}

// fakeEncoded gives utterance i the tokens i+10 repeated i%4 times (so
// some utterances are empty), independent of any tokenizer.
func fakeEncoded(c *Corpus) *Encoded {
	e := &Encoded{Corpus: c, Tokens: make([][]int32, len(c.Utterances)), MaxLen: 100}
	for i := range c.Utterances {
		for range i % 4 {
			e.Tokens[i] = append(e.Tokens[i], int32(i+10))
		}
	}
	return e
}

func TestSentenceBatches(t *testing.T) {
	c := smallCorpus()
	e := fakeEncoded(c)
	items := c.Labelled() // 0 2 3 4 5 7 8
	bs := SentenceBatches(e, items, 3, false, false, 1, 0)
	if len(bs) != 3 || bs[0].Size != 3 || bs[2].Size != 1 {
		t.Fatalf("got %d batches, want sizes 3,3,1", len(bs))
	}
	var seen []int
	for _, b := range bs {
		seen = append(seen, b.Items...)
		wantMax := 1
		for _, i := range b.Items {
			wantMax = max(wantMax, len(e.Tokens[i]))
		}
		if b.MaxLen != wantMax || len(b.Tokens) != b.Size*b.MaxLen || len(b.Speaker) != b.Size*SpeakerDim {
			t.Fatalf("batch shape: MaxLen %d (want %d), %d tokens, %d speaker", b.MaxLen, wantMax, len(b.Tokens), len(b.Speaker))
		}
		for r, i := range b.Items {
			row := b.Tokens[r*b.MaxLen : (r+1)*b.MaxLen]
			n := len(e.Tokens[i])
			if int(b.Lengths[r]) != n || !slices.Equal(row[:n], e.Tokens[i]) {
				t.Errorf("item %d: row %v, length %d", i, row, b.Lengths[r])
			}
			for _, p := range row[n:] {
				if p != PadID {
					t.Errorf("item %d: padding %v", i, row)
				}
			}
			if b.Labels[r] != int32(c.Utterances[i].Label) {
				t.Errorf("item %d: label %d", i, b.Labels[r])
			}
			g := c.Utterances[i].Gender
			wantSp := [3]float32{0, 1, 1}
			if g == 'F' {
				wantSp = [3]float32{1, 0, 1}
			}
			if [3]float32(b.Speaker[r*3:r*3+3]) != wantSp {
				t.Errorf("item %d: speaker %v, want %v", i, b.Speaker[r*3:r*3+3], wantSp)
			}
		}
	}
	if !slices.Equal(seen, items) {
		t.Errorf("unshuffled items %v, want %v", seen, items)
	}
}

// TestBatchPlan checks coverage, determinism per (seed, epoch) and that
// bucketing reduces padding.
func TestBatchPlan(t *testing.T) {
	c := fixtureCorpus(2, 5, 40)
	e := fakeEncoded(c)
	for i := range e.Tokens { // lengths 0..29, scattered
		e.Tokens[i] = make([]int32, (i*7)%30)
	}
	items := c.Labelled()
	order := func(bs []SentenceBatch) []int {
		var out []int
		for _, b := range bs {
			out = append(out, b.Items...)
		}
		return out
	}
	pad := func(bs []SentenceBatch) int {
		p := 0
		for _, b := range bs {
			for _, l := range b.Lengths {
				p += b.MaxLen - int(l)
			}
		}
		return p
	}
	for _, bucket := range []bool{false, true} {
		a := order(SentenceBatches(e, items, 8, true, bucket, 3, 1))
		b := order(SentenceBatches(e, items, 8, true, bucket, 3, 1))
		d := order(SentenceBatches(e, items, 8, true, bucket, 3, 2))
		s := order(SentenceBatches(e, items, 8, true, bucket, 4, 1))
		if !slices.Equal(a, b) {
			t.Errorf("bucket=%v: same seed and epoch gave different orders", bucket)
		}
		if slices.Equal(a, d) || slices.Equal(a, s) {
			t.Errorf("bucket=%v: another epoch or seed gave the same order", bucket)
		}
		sorted := slices.Clone(a)
		slices.Sort(sorted)
		if !slices.Equal(sorted, items) {
			t.Errorf("bucket=%v: items not covered exactly once", bucket)
		}
	}
	plain := pad(SentenceBatches(e, items, 8, true, false, 3, 1))
	bucketed := pad(SentenceBatches(e, items, 8, true, true, 3, 1))
	if bucketed*4 > plain {
		t.Errorf("bucketing padded %d tokens, without %d: want at least 4× less", bucketed, plain)
	}
	if got := SentenceBatches(e, items, 0, false, false, 0, 0); len(got) != 1 || got[0].Size != len(items) {
		t.Errorf("batch size 0: %d batches", len(got))
	}
	if got := SentenceBatches(e, nil, 8, true, true, 0, 0); len(got) != 0 {
		t.Errorf("no items: %d batches", len(got))
	}
	// A batch size whose bucket span (8 batches) overflows int: one batch.
	if got := SentenceBatches(e, items, 1<<62, true, true, 1, 1); len(got) != 1 || got[0].Size != len(items) {
		t.Errorf("batch size 2^62: %d batches", len(got))
	}
}

func TestDialogBatches(t *testing.T) {
	c := smallCorpus()
	e := fakeEncoded(c)
	items := []int{3, 5, 7, 0}
	for _, hasDialogs := range []bool{true, false} {
		c.HasDialogs = hasDialogs
		bs := DialogBatches(e, items, 3, 10, false, false, 0, 0)
		if len(bs) != 1 {
			t.Fatalf("%d batches", len(bs))
		}
		b := bs[0]
		// Expected windows written out by hand (window 3).
		wantWin := map[bool][][]int{
			true:  {{1, 2, 3}, {4, 5}, {6, 7}, {0}},
			false: {{1, 2, 3}, {3, 4, 5}, {6, 7}, {0}},
		}[hasDialogs]
		if b.Size != 4 || b.Turns != 3 || !slices.Equal(b.Items, items) {
			t.Fatalf("size %d turns %d items %v", b.Size, b.Turns, b.Items)
		}
		wantMax := 1
		for _, w := range wantWin {
			for _, j := range w {
				wantMax = max(wantMax, len(e.Tokens[j]))
			}
		}
		if b.MaxLen != wantMax {
			t.Errorf("MaxLen %d, want %d", b.MaxLen, wantMax)
		}
		if len(b.Tokens) != b.Size*b.Turns*b.MaxLen || len(b.Lengths) != b.Size*b.Turns || len(b.Speaker) != b.Size*b.Turns*SpeakerDim {
			t.Fatal("buffer sizes do not match the shape")
		}
		for r, w := range wantWin {
			target := items[r]
			if int(b.TurnCounts[r]) != len(w) || b.Labels[r] != int32(c.Utterances[target].Label) {
				t.Errorf("window %d: %d turns, label %d", r, b.TurnCounts[r], b.Labels[r])
			}
			for tn := range b.Turns {
				row := r*b.Turns + tn
				toks := b.Tokens[row*b.MaxLen : (row+1)*b.MaxLen]
				sp := b.Speaker[row*SpeakerDim : (row+1)*SpeakerDim]
				var want []int32
				var wantSp [3]float32
				if tn < len(w) {
					j := w[tn]
					want = e.Tokens[j]
					u, tu := c.Utterances[j], c.Utterances[target]
					wantSp = [3]float32{b2f(u.Gender == 'F'), b2f(u.Gender == 'M'), b2f(u.Speaker == tu.Speaker)}
				}
				if int(b.Lengths[row]) != len(want) || !slices.Equal(toks[:len(want)], want) || slices.ContainsFunc(toks[len(want):], func(x int32) bool { return x != PadID }) {
					t.Errorf("dialogs=%v window %d turn %d: tokens %v length %d, want %v", hasDialogs, r, tn, toks, b.Lengths[row], want)
				}
				if [3]float32(sp) != wantSp {
					t.Errorf("dialogs=%v window %d turn %d: speaker %v, want %v", hasDialogs, r, tn, sp, wantSp)
				}
			}
		}
	}
}

func b2f(b bool) float32 {
	if b {
		return 1
	}
	return 0
}

// TestDialogBatchesCoverage checks that shuffled, bucketed dialog batches
// still cover every item once and keep Turns and MaxLen tight.
func TestDialogBatchesCoverage(t *testing.T) {
	c := fixtureCorpus(2, 4, 25)
	e := fakeEncoded(c)
	items := c.Labelled()
	var seen []int
	for _, b := range DialogBatches(e, items, 5, 7, true, true, 9, 3) {
		seen = append(seen, b.Items...)
		turns, maxLen := 0, 1
		for r, i := range b.Items {
			s := c.WindowStart(i, 5)
			turns = max(turns, i-s+1)
			for j := s; j <= i; j++ {
				maxLen = max(maxLen, len(e.Tokens[j]))
			}
			if int(b.TurnCounts[r]) != i-s+1 {
				t.Errorf("item %d: %d turns, want %d", i, b.TurnCounts[r], i-s+1)
			}
		}
		if b.Turns != turns || b.MaxLen != maxLen {
			t.Errorf("batch Turns %d MaxLen %d, want %d %d", b.Turns, b.MaxLen, turns, maxLen)
		}
	}
	slices.Sort(seen)
	if !slices.Equal(seen, items) {
		t.Error("items not covered exactly once")
	}
}

func TestNewRawCorpus(t *testing.T) {
	c, err := NewRawCorpus([]RawTurn{{Text: "hi", Speaker: 'F'}, {Text: "yo", Speaker: 'm'}, {Text: "?"}})
	if err != nil {
		t.Fatal(err)
	}
	if !c.HasSpeakers || !c.HasDialogs || len(c.Utterances) != 3 || c.Labelled() != nil {
		t.Fatalf("corpus %+v", c)
	}
	if c.WindowStart(2, 10) != 0 {
		t.Error("raw turns are not one dialog")
	}
	sp := make([]float32, 3)
	c.SpeakerFeatures(1, 1, sp)
	if [3]float32(sp) != [3]float32{0, 1, 1} {
		t.Errorf("speaker of turn 2: %v", sp)
	}
	c.SpeakerFeatures(2, 0, sp)
	if [3]float32(sp) != [3]float32{} {
		t.Errorf("unknown speaker: %v", sp)
	}
	if _, err := NewRawCorpus([]RawTurn{{Text: "x", Speaker: 'X'}}); err == nil {
		t.Error("speaker X accepted")
	}
	if _, err := NewRawCorpus(nil); err == nil {
		t.Error("no turns accepted")
	}
}

// TestSpeakerFeaturesUnknownSpeaker: two turns without a speaker are not
// the same speaker: in a corpus that knows speakers, a turn whose speaker
// is unknown gets all zeros, even in the window of another such turn.
func TestSpeakerFeaturesUnknownSpeaker(t *testing.T) {
	c, err := NewRawCorpus([]RawTurn{{Text: "a", Speaker: 'F'}, {Text: "b"}, {Text: "c"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		i, target int
		want      [SpeakerDim]float32
	}{
		{1, 2, [3]float32{}},
		{2, 2, [3]float32{}},
		{0, 2, [3]float32{1, 0, 0}},
		{1, 0, [3]float32{}},
	}
	for _, tc := range tests {
		got := make([]float32, SpeakerDim)
		c.SpeakerFeatures(tc.i, tc.target, got)
		if [3]float32(got) != tc.want {
			t.Errorf("SpeakerFeatures(%d, %d) = %v, want %v", tc.i, tc.target, got, tc.want)
		}
	}
}

// TestCorpusCounts checks Sessions and Speakers against counts made by
// hand: each session once, in increasing order, and only known speakers.
func TestCorpusCounts(t *testing.T) {
	// Sessions 1 and 2; speakers Ses01F, Ses01M, Ses02F and Ses02M.
	c := smallCorpus()
	c.Utterances = append(c.Utterances, Utterance{Session: 1, Dialog: "D", Text: "x"}) // no speaker
	if got := c.Sessions(); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("Sessions() = %v, want [1 2]", got)
	}
	if got := c.Speakers(); got != 4 {
		t.Errorf("Speakers() = %d, want 4 (a turn without a speaker is none)", got)
	}
	raw, err := NewRawCorpus([]RawTurn{{Text: "a", Speaker: 'F'}, {Text: "b"}, {Text: "c", Speaker: 'f'}})
	if err != nil {
		t.Fatal(err)
	}
	if got := raw.Speakers(); got != 1 {
		t.Errorf("raw turns F, none, f: Speakers() = %d, want 1", got)
	}
	if got := raw.Sessions(); !slices.Equal(got, []int{0}) {
		t.Errorf("raw turns: Sessions() = %v, want [0]", got)
	}
}

// TestNewRawDialogsNames checks the documented utterance IDs (input_NNN,
// then input<k>_NNN) and that only a corpus of several dialogs names the
// dialog in its errors.
func TestNewRawDialogsNames(t *testing.T) {
	c, err := NewRawDialogs([][]RawTurn{{{Text: "a"}, {Text: "b"}}, {{Text: "c"}}, {{Text: "d"}}})
	if err != nil {
		t.Fatal(err)
	}
	var ids, dialogs []string
	for _, u := range c.Utterances {
		ids = append(ids, u.ID)
		dialogs = append(dialogs, u.Dialog)
	}
	if want := []string{"input_000", "input_001", "input1_000", "input2_000"}; !slices.Equal(ids, want) {
		t.Errorf("IDs %q, want %q", ids, want)
	}
	if want := []string{"input", "input", "input1", "input2"}; !slices.Equal(dialogs, want) {
		t.Errorf("dialogs %q, want %q", dialogs, want)
	}
	if got := c.Dialogs(); got != 3 {
		t.Errorf("Dialogs() = %d, want 3", got)
	}
	_, err = NewRawCorpus([]RawTurn{{Text: "a"}, {Text: "b", Speaker: 'X'}})
	if err == nil || !strings.HasSuffix(err.Error(), `raw corpus: turn 2: speaker "X", want F, M or none`) {
		t.Errorf("one dialog, bad speaker: %v", err)
	}
	_, err = NewRawDialogs([][]RawTurn{{{Text: "a"}}, {{Text: "b", Speaker: 'X'}}})
	if err == nil || !strings.HasSuffix(err.Error(), `raw corpus: dialog 2: turn 1: speaker "X", want F, M or none`) {
		t.Errorf("second dialog, bad speaker: %v", err)
	}
}

// TestDialogBatchesBucketOrder: bucketing without shuffling orders the
// windows by their longest utterance and then by their number of turns
// (the order worked out by hand below), and keeps that order of batches.
func TestDialogBatchesBucketOrder(t *testing.T) {
	c := smallCorpus()
	e := fakeEncoded(c)
	for i, n := range []int{1, 5, 1, 1, 2, 2, 0, 3, 0} {
		e.Tokens[i] = slices.Repeat([]int32{7}, n)
	}
	// Windows of 3 turns and their keys (longest utterance, turns):
	// 0: [0] (1,1); 2: [0 1 2] (5,3); 3: [1 2 3] (5,3); 4: [4] (2,1);
	// 5: [4 5] (2,2); 7: [6 7] (3,2); 8: [6 7 8] (3,3).
	want := []int{0, 4, 5, 7, 8, 2, 3}
	var got []int
	for _, b := range DialogBatches(e, c.Labelled(), 3, 1, false, true, 5, 0) {
		got = append(got, b.Items...)
	}
	if !slices.Equal(got, want) {
		t.Errorf("bucketed order %v, want %v", got, want)
	}
}

// TestDialogBatchEmptyTexts: a batch whose utterances all tokenise to
// nothing still has MaxLen 1, as documented, so that no tensor is empty.
func TestDialogBatchEmptyTexts(t *testing.T) {
	c := smallCorpus()
	e := &Encoded{Corpus: c, Tokens: make([][]int32, len(c.Utterances)), MaxLen: 100}
	for _, b := range DialogBatches(e, []int{3, 5}, 3, 10, false, false, 0, 0) {
		if b.MaxLen != 1 || len(b.Tokens) != b.Size*b.Turns || slices.ContainsFunc(b.Tokens, func(x int32) bool { return x != PadID }) {
			t.Errorf("dialog batch MaxLen %d, %d tokens for %d windows of %d turns", b.MaxLen, len(b.Tokens), b.Size, b.Turns)
		}
	}
	for _, b := range SentenceBatches(e, []int{3, 5}, 10, false, false, 0, 0) {
		if b.MaxLen != 1 || len(b.Tokens) != b.Size {
			t.Errorf("sentence batch MaxLen %d, %d tokens for %d items", b.MaxLen, len(b.Tokens), b.Size)
		}
	}
}
