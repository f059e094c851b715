package dataset

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// vectorsVocab is <pad>, <unk>, then the tokens the tests look up.
func vectorsVocab(t *testing.T) *Vocab {
	t.Helper()
	v, err := NewVocab([]string{PadToken, UnkToken, "the", "paris", "happy", "n't", "absent"})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func writeVectors(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// word2vecBinary writes vectors in word2vec's binary format, each record
// followed by a newline where newlines is set (word2vec's own writer).
func word2vecBinary(words []string, vecs [][]float32, newlines bool) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d %d\n", len(words), len(vecs[0]))
	for i, w := range words {
		b.WriteString(w + " ")
		for _, x := range vecs[i] {
			_ = binary.Write(&b, binary.LittleEndian, x)
		}
		if newlines {
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

func gzipped(b []byte) []byte {
	var out bytes.Buffer
	z := gzip.NewWriter(&out)
	_, _ = z.Write(b)
	_ = z.Close()
	return out.Bytes()
}

func zstded(t *testing.T, b []byte) []byte {
	z, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	return z.EncodeAll(b, nil)
}

// TestReadWordVectors reads the same vectors from every format the reader
// takes and checks which token got which vector.
func TestReadWordVectors(t *testing.T) {
	glove := "été 0 0 1\n" + // a word not in ASCII (fastText's are of every script)
		"the 0.1 0.2 -0.3\n" +
		"Paris 1 2 3\n" + // only a cased form: paris takes it
		"Happy 9 9 9\n" + // a cased form first ...
		"happy 4 5 6\n" + // ... then the exact word, which wins
		"n't -1 -2 -3.5e-1\n" +
		"<unk> 7 7 7\n" + // never taken: <unk> keeps its draw
		"the 8 8 8\n" + // a second vector for a word: the first stays
		". . . 5 5 5\n" + // a word with spaces (GloVe 840B): passed over
		"other 1 1 1\n"
	want := map[string][]float32{"the": {0.1, 0.2, -0.3}, "paris": {1, 2, 3}, "happy": {4, 5, 6}, "n't": {-1, -2, -0.35}}
	words := []string{"été", "the", "Paris", "Happy", "happy", "n't", "other"}
	vecs := [][]float32{{0, 0, 1}, {0.1, 0.2, -0.3}, {1, 2, 3}, {9, 9, 9}, {4, 5, 6}, {-1, -2, -0.35}, {1, 1, 1}}
	cases := []struct {
		name   string
		file   []byte
		words  int
		binary bool
	}{
		{"glove.txt", []byte(glove), 10, false},
		{"crlf.txt", []byte(strings.ReplaceAll(glove, "\n", "\r\n") + "\r\n\r\n"), 10, false},
		{"fasttext.vec", []byte("10 3\n" + glove), 10, false},
		// Tab-separated lines after a header: text, not binary.
		{"tabs.vec", []byte("10 3\n" + strings.NewReplacer(" 0", "\t0", " 1", "\t1", " -", "\t-", " 2", "\t2", " 3", "\t3", " 4", "\t4", " 5", "\t5", " 6", "\t6", " 7", "\t7", " 8", "\t8", " 9", "\t9").Replace(glove)), 10, false},
		{"glove.txt.gz", gzipped([]byte(glove)), 10, false},
		{"glove.txt.zst", zstded(t, []byte(glove)), 10, false},
		{"word2vec.bin", word2vecBinary(words, vecs, true), 7, true},
		{"no-newlines.bin", word2vecBinary(words, vecs, false), 7, true},
		{"word2vec.bin.gz", gzipped(word2vecBinary(words, vecs, true)), 7, true},
		// A first value whose float32 bytes begin with a newline.
		{"newline.bin", word2vecBinary(append([]string{"x"}, words...), append([][]float32{{math.Float32frombits(0x3f80000a), 0, 0}}, vecs...), true), 8, true},
	}
	v := vectorsVocab(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := writeVectors(t, tc.name, tc.file)
			wv, err := ReadWordVectors(path, v)
			if err != nil {
				t.Fatal(err)
			}
			if wv.Dim != 3 || wv.Words != tc.words || wv.Binary != tc.binary || wv.Found != 4 {
				t.Errorf("dim %d, words %d, binary %v, found %d; want 3, %d, %v, 4", wv.Dim, wv.Words, wv.Binary, wv.Found, tc.words, tc.binary)
			}
			for id, tok := range v.Tokens() {
				if w := want[tok]; !slices.Equal(wv.Rows[id], w) {
					t.Errorf("%s: %v, want %v", tok, wv.Rows[id], w)
				}
			}
			if got := wv.Coverage(); got != 4.0/5 {
				t.Errorf("coverage %g, want 0.8", got)
			}
			if dim, err := WordVectorsDim(path); err != nil || dim != 3 {
				t.Errorf("WordVectorsDim = %d, %v; want 3", dim, err)
			}
		})
	}
}

// TestReadWordVectorsErrors checks that each broken file is refused with
// an error that names it, and the line where there is one.
func TestReadWordVectorsErrors(t *testing.T) {
	bin := word2vecBinary([]string{"the", "happy"}, [][]float32{{1, 2}, {3, 4}}, true)
	nan := word2vecBinary([]string{"the"}, [][]float32{{1, float32(math.NaN())}}, true)
	cases := []struct {
		name, file string
		want       []string // in the error
	}{
		{"empty", "", []string{"the file is empty"}},
		{"blank", "\n\n", []string{":1:", "neither a header"}},
		{"one field", "the\n", []string{":1:", "neither a header"}},
		{"short line", "the 1 2 3\nhappy 1 2\n", []string{":2:", `2 values after the word "happy", want 3`}},
		{"short after header", "2 3\nthe 1 2\n", []string{":2:", "2 values"}},
		{"not a number", "the 1 2 3\nhappy 1 x 3\n", []string{":2:", `value 2 of "happy" is "x"`}},
		{"nan", "the 1 NaN 3\n", []string{":1:", "not a finite number"}},
		{"inf", "happy 1 2 +Inf\n", []string{":1:", "value 3"}},
		{"huge dim", "5 99999999\n", []string{"more than 65536"}},
		{"no vectors", "0 3\n", []string{"no vectors in the file"}},
		{"truncated binary", string(bin[:len(bin)-3]), []string{"ends inside the vector of \"happy\" (vector 2 of 2)"}},
		{"binary short of its count", strings.Replace(string(bin), "2 2\n", "3 2\n", 1), []string{"ends after 2 of the 3 vectors"}},
		{"binary nan", string(nan), []string{"value 2 of \"the\"", "not a finite number"}},
		{"bad gzip", "\x1f\x8b\x00\x00", []string{"gzip"}},
		{"first line cut short", "the 1 2\nparis 1 2 3 4\nhappy 1 2 3 4\n",
			[]string{":2:", `4 values after the word "paris", want 2 (the dimension of the file's first line, which 2 of the 3 lines of the vocabulary's words do not have): is the first line cut short?`}},
		{"no token has a vector", "zebra 1 2\ngiraffe 3 4\n",
			[]string{"none of the vocabulary's 5 tokens has a vector among the file's 2 (of 2 values each)"}},
		{"not vectors", "hello world\n", []string{"none of the vocabulary's 5 tokens"}},
	}
	v := vectorsVocab(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := writeVectors(t, "vectors.txt", []byte(tc.file))
			_, err := ReadWordVectors(path, v)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range append(tc.want, path) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	if _, err := ReadWordVectors(filepath.Join(t.TempDir(), "missing.txt"), v); err == nil || !strings.Contains(err.Error(), "missing.txt") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := WordVectorsDim(filepath.Join(t.TempDir(), "missing.txt")); err == nil {
		t.Error("WordVectorsDim of a missing file: no error")
	}
}

// TestReadWordVectorsSkipsUnneededLines checks that a line no token needs
// is counted, not parsed: a broken vector of an unknown word is no error.
func TestReadWordVectorsSkipsUnneededLines(t *testing.T) {
	path := writeVectors(t, "v.txt", []byte("the 1 2\nzebra x y z\nhappy 3 4\n"))
	wv, err := ReadWordVectors(path, vectorsVocab(t))
	if err != nil {
		t.Fatal(err)
	}
	if wv.Words != 3 || wv.Found != 2 {
		t.Errorf("words %d, found %d; want 3, 2", wv.Words, wv.Found)
	}
	// A word with spaces whose parts are numbers is skipped, not taken
	// for a vector of another width, where the file's other vectors hold
	// the first line's width.
	path = writeVectors(t, "v.txt", []byte("the 1 2\nhappy 1 000 3 4\nparis 3 4\n"))
	if wv, err = ReadWordVectors(path, vectorsVocab(t)); err != nil {
		t.Fatal(err)
	}
	if wv.Words != 3 || wv.Found != 2 || wv.Rows[4] != nil {
		t.Errorf("words %d, found %d, happy %v; want 3, 2, none", wv.Words, wv.Found, wv.Rows[4])
	}
}
