package dataset

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestEncodeVocabFromTrainOnly(t *testing.T) {
	c := &Corpus{Utterances: []Utterance{
		{Text: "alpha beta", Label: Angry},                // 0 train
		{Text: "alpha gamma", Label: Happy},               // 1 train
		{Text: "beta alpha delta", Label: Sad},            // 2 train
		{Text: "alpha zeta zeta zeta", Label: Neutral},    // 3 test: zeta is frequent but unseen in training
		{Text: "zeta zeta", Label: NoLabel},               // 4 context
		{Text: "alpha alpha alpha alpha", Label: Neutral}, // 5 test
	}}
	o := DefaultOptions()
	o.MinCount = 2
	o.MaxLen = 3
	e := Encode(c, []int{0, 1, 2}, o)
	v := e.Vocab
	alpha, beta := v.ID("alpha"), v.ID("beta")
	if alpha == UnkID || alpha == PadID || beta == UnkID || beta == PadID || alpha == beta {
		t.Fatalf("alpha %d, beta %d: want distinct known ids", alpha, beta)
	}
	for _, w := range []string{"gamma", "delta", "zeta"} {
		if v.ID(w) != UnkID {
			t.Errorf("%q has id %d, want UNK (count < 2 in training)", w, v.ID(w))
		}
	}
	if v.Len() != 4 { // PAD, UNK, alpha, beta
		t.Errorf("vocabulary of %d tokens %v, want 4", v.Len(), v.Tokens())
	}
	want := [][]int32{
		{alpha, beta},
		{alpha, UnkID},
		{beta, alpha, UnkID},
		{alpha, UnkID, UnkID}, // truncated to 3
		{UnkID, UnkID},
		{alpha, alpha, alpha}, // truncated to 3
	}
	for i, w := range want {
		if !slices.Equal(e.Tokens[i], w) {
			t.Errorf("utterance %d: %v, want %v", i, e.Tokens[i], w)
		}
	}
	if e.Truncated != 2 || e.MaxLen != 3 {
		t.Errorf("Truncated %d MaxLen %d, want 2 and 3", e.Truncated, e.MaxLen)
	}
	// A checkpoint's vocabulary encodes the same way.
	e2 := EncodeWithVocab(c, v, o)
	for i := range want {
		if !slices.Equal(e2.Tokens[i], e.Tokens[i]) {
			t.Errorf("EncodeWithVocab utterance %d: %v, want %v", i, e2.Tokens[i], e.Tokens[i])
		}
	}
}

func TestPredictBatches(t *testing.T) {
	v, err := NewVocab([]string{PadToken, UnkToken, "hello", "there"})
	if err != nil {
		t.Fatal(err)
	}
	o := DefaultOptions()
	o.Window = 2
	turns := []RawTurn{{Text: "hello there", Speaker: 'F'}, {Text: "there", Speaker: 'M'}, {Text: "hello", Speaker: 'F'}}
	sb, err := PredictSentences(v, o, turns)
	if err != nil {
		t.Fatal(err)
	}
	if sb.Size != 3 || sb.MaxLen != 2 || !slices.Equal(sb.Lengths, []int32{2, 1, 1}) || !slices.Equal(sb.Labels, []int32{-1, -1, -1}) {
		t.Errorf("sentence batch %+v", sb)
	}
	if sb.Tokens[0] != v.ID("hello") || sb.Tokens[1] != v.ID("there") || sb.Tokens[2] != v.ID("there") || sb.Tokens[3] != PadID {
		t.Errorf("sentence tokens %v", sb.Tokens)
	}
	db, err := PredictDialog(v, o, turns)
	if err != nil {
		t.Fatal(err)
	}
	if db.Size != 3 || db.Turns != 2 || !slices.Equal(db.TurnCounts, []int32{1, 2, 2}) {
		t.Errorf("dialog batch size %d turns %d counts %v", db.Size, db.Turns, db.TurnCounts)
	}
	// Window of turn 3: turns 2 (M) and 3 (F, the target).
	sp := db.Speaker[2*db.Turns*SpeakerDim:]
	if want := []float32{0, 1, 0, 1, 0, 1}; !slices.Equal(sp, want) {
		t.Errorf("speaker features of the last window %v, want %v", sp, want)
	}
	if _, err := PredictDialog(v, o, nil); err == nil {
		t.Error("no turns accepted")
	}
}

// TestPredictDialogs: several dialogs in one batch give each row the
// window, tokens and speaker features it has in its own dialog's batch.
func TestPredictDialogs(t *testing.T) {
	v, err := NewVocab([]string{PadToken, UnkToken, "hello", "there", "you"})
	if err != nil {
		t.Fatal(err)
	}
	o := DefaultOptions()
	o.Window = 3
	dialogs := [][]RawTurn{
		{{Text: "hello there you", Speaker: 'F'}, {Text: "there", Speaker: 'M'}},
		{{Text: "you"}, {Text: "hello"}, {Text: "there you", Speaker: 'M'}, {Text: "hello", Speaker: 'M'}},
		{{Text: "there", Speaker: 'F'}},
	}
	all, err := PredictDialogs(v, o, dialogs)
	if err != nil {
		t.Fatal(err)
	}
	if all.Size != 7 || all.Turns != 3 || all.MaxLen != 3 {
		t.Fatalf("batch size %d turns %d max length %d, want 7, 3, 3", all.Size, all.Turns, all.MaxLen)
	}
	row := 0
	for k, d := range dialogs {
		one, err := PredictDialog(v, o, d)
		if err != nil {
			t.Fatal(err)
		}
		for r := range one.Size {
			if all.TurnCounts[row] != one.TurnCounts[r] {
				t.Errorf("dialog %d turn %d: %d turns in the shared batch, %d alone", k+1, r+1, all.TurnCounts[row], one.TurnCounts[r])
			}
			for tn := range int(one.TurnCounts[r]) {
				a, b := row*all.Turns+tn, r*one.Turns+tn
				if all.Lengths[a] != one.Lengths[b] ||
					!slices.Equal(all.Tokens[a*all.MaxLen:a*all.MaxLen+int(all.Lengths[a])], one.Tokens[b*one.MaxLen:b*one.MaxLen+int(one.Lengths[b])]) ||
					!slices.Equal(all.Speaker[a*SpeakerDim:(a+1)*SpeakerDim], one.Speaker[b*SpeakerDim:(b+1)*SpeakerDim]) {
					t.Errorf("dialog %d, window of turn %d, turn %d differs from the dialog's own batch", k+1, r+1, tn+1)
				}
			}
			row++
		}
	}
	if _, err := PredictDialogs(v, o, [][]RawTurn{{{Text: "hi"}}, nil}); err == nil || !strings.Contains(err.Error(), "dialog 2: no turns") {
		t.Errorf("an empty second dialog: %v", err)
	}
	if _, err := PredictDialogs(v, o, [][]RawTurn{{{Text: "hi"}}, {{Text: "x", Speaker: 'Q'}}}); err == nil || !strings.Contains(err.Error(), "dialog 2: turn 1") {
		t.Errorf("a bad speaker in dialog 2: %v", err)
	}
}

// TestPredictEncodedTurns: turns given with their IDs (EncodeText) make
// the batches their texts make, and the IDs are what the batch holds.
func TestPredictEncodedTurns(t *testing.T) {
	v, err := NewVocab([]string{PadToken, UnkToken, "hello", "there", "you", "[laughter]", "do", "n't"})
	if err != nil {
		t.Fatal(err)
	}
	o := DefaultOptions()
	o.Window, o.MaxLen = 3, 4
	o.Tokenizer.DropNonSpeech = true
	dialogs := [][]RawTurn{
		{{Text: "Hello there, you!", Speaker: 'F'}, {Text: "[LAUGHTER]", Speaker: 'M'}, {Text: "Don't you there hello you hello."}},
		{{Text: "you you you you you you you"}, {Text: "THERE"}},
	}
	encoded := make([][]RawTurn, len(dialogs))
	for k, d := range dialogs {
		for _, rt := range d {
			rt.IDs = EncodeText(v, o, rt.Text)
			if len(rt.IDs) > o.MaxLen {
				t.Errorf("EncodeText(%q): %d ids, more than MaxLen %d", rt.Text, len(rt.IDs), o.MaxLen)
			}
			encoded[k] = append(encoded[k], rt)
		}
	}
	want, err := PredictDialogs(v, o, dialogs)
	if err != nil {
		t.Fatal(err)
	}
	got, err := PredictDialogs(v, o, encoded)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("dialog batch of encoded turns\n%+v\nof texts\n%+v", got, want)
	}
	flat, encFlat := slices.Concat(dialogs...), slices.Concat(encoded...)
	ws, err := PredictSentences(v, o, flat)
	if err != nil {
		t.Fatal(err)
	}
	gs, err := PredictSentences(v, o, encFlat)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gs, ws) {
		t.Errorf("sentence batch of encoded turns\n%+v\nof texts\n%+v", gs, ws)
	}
	// The IDs are taken as given: the text is not tokenised again.
	encFlat[0].IDs = []int32{v.ID("you")}
	gs, err = PredictSentences(v, o, encFlat)
	if err != nil {
		t.Fatal(err)
	}
	if gs.Lengths[0] != 1 || gs.Tokens[0] != v.ID("you") {
		t.Errorf("a turn's IDs were not used: length %d, first token %d", gs.Lengths[0], gs.Tokens[0])
	}
}

// TestEncodeMaxLenDefault: a MaxLen below 1 counts as DefaultMaxLen, in
// Encode, EncodeWithVocab and EncodeText alike, not as "no limit".
func TestEncodeMaxLenDefault(t *testing.T) {
	long := strings.Repeat("w ", DefaultMaxLen+5) // DefaultMaxLen+5 tokens
	c := &Corpus{Utterances: []Utterance{{Text: long, Label: Angry}, {Text: "w w", Label: Sad}}}
	o := DefaultOptions()
	o.MaxLen = 0
	e := Encode(c, []int{0, 1}, o)
	if e.MaxLen != DefaultMaxLen || e.Truncated != 1 || len(e.Tokens[0]) != DefaultMaxLen || len(e.Tokens[1]) != 2 {
		t.Errorf("Encode: MaxLen %d, Truncated %d, lengths %d and %d; want %d, 1, %d and 2",
			e.MaxLen, e.Truncated, len(e.Tokens[0]), len(e.Tokens[1]), DefaultMaxLen, DefaultMaxLen)
	}
	if e2 := EncodeWithVocab(c, e.Vocab, o); e2.MaxLen != DefaultMaxLen || len(e2.Tokens[0]) != DefaultMaxLen {
		t.Errorf("EncodeWithVocab: MaxLen %d, length %d; want %d", e2.MaxLen, len(e2.Tokens[0]), DefaultMaxLen)
	}
	if ids := EncodeText(e.Vocab, o, long); len(ids) != DefaultMaxLen {
		t.Errorf("EncodeText: %d ids, want %d", len(ids), DefaultMaxLen)
	}
}

// TestEncodeLongTokensCountsCharacters: a training token of MaxTokenRunes
// characters in more bytes is in the vocabulary and is not counted as a
// long token; one character more is.
func TestEncodeLongTokensCountsCharacters(t *testing.T) {
	fits := strings.Repeat("é", MaxTokenRunes)   // 200 bytes
	long := strings.Repeat("é", MaxTokenRunes+1) // 101 characters
	c := &Corpus{Utterances: []Utterance{{Text: fits + " " + long, Label: Angry}}}
	o := DefaultOptions()
	o.MinCount = 1
	e := Encode(c, []int{0}, o)
	if e.LongTokens != 1 || e.Longest != long {
		t.Errorf("LongTokens %d, Longest of %d characters; want 1 of %d", e.LongTokens, len([]rune(e.Longest)), MaxTokenRunes+1)
	}
	if !reflect.DeepEqual(e.Tokens[0], []int32{e.Vocab.ID(fits), UnkID}) || e.Vocab.ID(fits) == UnkID {
		t.Errorf("ids %v: want the 100-character token known and the longer one <unk>", e.Tokens[0])
	}
}
