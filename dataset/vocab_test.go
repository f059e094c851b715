package dataset

import (
	"reflect"
	"strings"
	"testing"
)

func TestBuildVocab(t *testing.T) {
	docs := [][]string{
		{"the", "cat", "sat", "on", "the", "mat", "."},
		{"the", "dog", "sat", "."},
		{"a", "cat", "!", "<pad>", "<unk>", "<unk>"},
	}
	// Counts: the 3; cat 2, sat 2, . 2; on, mat, dog, a, ! 1; the specials are not counted.
	tests := []struct {
		minCount int
		want     []string
	}{
		{2, []string{"<pad>", "<unk>", "the", ".", "cat", "sat"}},
		{3, []string{"<pad>", "<unk>", "the"}},
		{4, []string{"<pad>", "<unk>"}},
		{1, []string{"<pad>", "<unk>", "the", ".", "cat", "sat", "!", "a", "dog", "mat", "on"}},
		{0, []string{"<pad>", "<unk>", "the", ".", "cat", "sat", "!", "a", "dog", "mat", "on"}},
	}
	for _, tt := range tests {
		v := BuildVocab(docs, tt.minCount)
		if got := v.Tokens(); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("BuildVocab(minCount %d) = %q, want %q", tt.minCount, got, tt.want)
		}
		if v.Len() != len(tt.want) {
			t.Errorf("Len = %d, want %d", v.Len(), len(tt.want))
		}
		for i, tok := range tt.want {
			if id := v.ID(tok); id != int32(i) {
				t.Errorf("ID(%q) = %d, want %d", tok, id, i)
			}
			if got := v.Token(int32(i)); got != tok {
				t.Errorf("Token(%d) = %q, want %q", i, got, tok)
			}
		}
	}
}

func TestBuildVocabDeterministic(t *testing.T) {
	// Many ties, built in different document orders: the same vocabulary.
	var docs [][]string
	for i := 0; i < 50; i++ {
		docs = append(docs, []string{string(rune('a' + i%26)), string(rune('A' + i%7)), "x"})
	}
	want := BuildVocab(docs, 1).Tokens()
	for k := 0; k < 5; k++ {
		rev := make([][]string, len(docs))
		for i := range docs {
			rev[(i*7+k)%len(docs)] = docs[i]
		}
		if got := BuildVocab(rev, 1).Tokens(); !reflect.DeepEqual(got, want) {
			t.Fatalf("order %d: %q, want %q", k, got, want)
		}
	}
	if want[2] != "x" {
		t.Errorf("most frequent token first: got %q", want[2])
	}
}

func TestVocabIDAndEncode(t *testing.T) {
	v, err := NewVocab([]string{"<pad>", "<unk>", "hello", "world", "."})
	if err != nil {
		t.Fatal(err)
	}
	if PadID == UnkID {
		t.Fatal("PadID and UnkID must differ")
	}
	tests := []struct {
		toks   []string
		maxLen int
		want   []int32
	}{
		{[]string{"hello", "world", "."}, 0, []int32{2, 3, 4}},
		{[]string{"hello", "there", "world"}, 0, []int32{2, UnkID, 3}},
		{[]string{"hello", "world", ".", "hello"}, 2, []int32{2, 3}},
		{[]string{"hello", "world"}, 5, []int32{2, 3}},
		{[]string{"hello", "world"}, -1, []int32{2, 3}},
		{[]string{"<pad>", "<unk>", "Hello"}, 0, []int32{UnkID, UnkID, UnkID}},
		{nil, 3, []int32{}},
	}
	for _, tt := range tests {
		if got := v.Encode(tt.toks, tt.maxLen); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Encode(%q, %d) = %v, want %v", tt.toks, tt.maxLen, got, tt.want)
		}
	}
	if v.ID("nope") != UnkID || v.ID("<pad>") != PadID || v.ID("<unk>") != UnkID {
		t.Error("ID of unknown or special tokens is wrong")
	}
	if v.Token(-1) != UnkToken || v.Token(99) != UnkToken || v.Token(int32(v.Len())) != UnkToken {
		t.Error("Token of an id out of range is not <unk>")
	}
}

func TestNewVocab(t *testing.T) {
	tests := []struct {
		name   string
		tokens []string
		err    string // "" for success
	}{
		{"ok", []string{"<pad>", "<unk>", "a"}, ""},
		{"specials only", []string{"<pad>", "<unk>"}, ""},
		{"empty", nil, "must start with"},
		{"pad missing", []string{"<unk>", "a"}, "must start with"},
		{"pad only", []string{"<pad>"}, "must start with"},
		{"specials swapped", []string{"<unk>", "<pad>", "a"}, "must start with"},
		{"duplicate", []string{"<pad>", "<unk>", "a", "b", "a"}, `"a" appears twice (ids 2 and 4)`},
		{"duplicate special", []string{"<pad>", "<unk>", "<pad>"}, "appears twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewVocab(tt.tokens)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("NewVocab(%q) error = %v, want one saying %q", tt.tokens, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(v.Tokens(), tt.tokens) {
				t.Errorf("Tokens = %q, want %q", v.Tokens(), tt.tokens)
			}
		})
	}
}

func TestVocabRoundTripAndCopies(t *testing.T) {
	docs := [][]string{Tokenize("I don't know. I don't!", TokenizerOptions{}), Tokenize("You know, I know.", TokenizerOptions{})}
	v := BuildVocab(docs, 2)
	saved := v.Tokens()
	saved[2] = "changed" // Tokens returns a copy
	if v.Tokens()[2] == "changed" {
		t.Fatal("Tokens shares the vocabulary's storage")
	}
	w, err := NewVocab(v.Tokens())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		if a, b := v.Encode(d, 0), w.Encode(d, 0); !reflect.DeepEqual(a, b) {
			t.Errorf("reloaded vocabulary encodes %q as %v, want %v", d, b, a)
		}
	}
	in := []string{"<pad>", "<unk>", "x"}
	u, _ := NewVocab(in)
	in[2] = "y" // NewVocab copies its argument
	if u.ID("x") != 2 {
		t.Error("NewVocab keeps the caller's slice")
	}
}

// TestBuildVocabLeavesOutLongTokens: a token of more than MaxTokenRunes
// characters (runes, not bytes) is never in a built vocabulary, however
// often it is seen, so it encodes as UnkID; Encode counts such training
// tokens and keeps the longest. A 15 MB "word" made a vocabulary whose
// checkpoint header no reader accepts.
func TestBuildVocabLeavesOutLongTokens(t *testing.T) {
	fits := strings.Repeat("é", MaxTokenRunes) // 200 bytes, 100 characters
	long := strings.Repeat("a", MaxTokenRunes+1)
	longer := strings.Repeat("\x01", 3*MaxTokenRunes)
	v := BuildVocab([][]string{{fits, long, "the"}, {fits, long, longer}}, 2)
	if want := []string{PadToken, UnkToken, fits}; !reflect.DeepEqual(v.Tokens(), want) {
		t.Errorf("vocabulary %q, want %q", v.Tokens(), want)
	}
	if ids := v.Encode([]string{fits, long, longer}, 0); !reflect.DeepEqual(ids, []int32{2, UnkID, UnkID}) {
		t.Errorf("ids %v", ids)
	}
	if TooLong(fits) || !TooLong(long) {
		t.Errorf("TooLong(%d characters) = %v, TooLong(%d) = %v", MaxTokenRunes, TooLong(fits), MaxTokenRunes+1, TooLong(long))
	}

	c := &Corpus{Utterances: []Utterance{
		{Text: "hello " + long, Label: Angry},   // train
		{Text: long + " " + longer, Label: Sad}, // train
		{Text: longer + " hello", Label: Happy}, // test: not counted
	}}
	o := DefaultOptions()
	o.MinCount = 1
	e := Encode(c, []int{0, 1}, o)
	if e.LongTokens != 3 || e.Longest != longer || e.Vocab.Len() != 3 {
		t.Errorf("LongTokens %d, Longest of %d bytes, vocabulary %q", e.LongTokens, len(e.Longest), e.Vocab.Tokens())
	}
	if !reflect.DeepEqual(e.Tokens[1], []int32{UnkID, UnkID}) {
		t.Errorf("utterance 1: %v", e.Tokens[1])
	}
}
