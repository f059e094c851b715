package dataset

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzReadWordVectors feeds arbitrary bytes to the word-vectors reader as a
// file: it must never panic, every error must name the file, and what it
// accepts must be well formed: vectors of the file's dimension, finite,
// counted, none for <pad> and <unk>, and the dimension WordVectorsDim
// reads. Its seed corpus runs as an ordinary test; fuzz with
//
//	go test -run '^$' -fuzz FuzzReadWordVectors ./dataset
func FuzzReadWordVectors(f *testing.F) {
	bin := word2vecBinary([]string{"the", "Happy", "x"}, [][]float32{{1, 2}, {3, 4}, {5, 6}}, true)
	for _, s := range []string{
		"",
		"the 1 2 3\n",
		"3 2\nthe 1 2\nhappy 3 4\nn't 5 6\n",
		"the 1 2\nParis 3 4\nparis 5 6\n<unk> 7 8\n<pad> 9 9\n",
		"2 2\n" + "the 1\n",
		"the 1e39 2\n",
		"the 1 2\r\n\r\nhappy 3 4 5\n",
		". . . 1 2\nthe 1 2\n",
		string(bin),
		string(bin[:len(bin)-5]),
		"1 65537\n",
	} {
		f.Add([]byte(s))
	}
	v, err := NewVocab([]string{PadToken, UnkToken, "the", "paris", "happy", "n't"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "vectors.txt")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		wv, err := ReadWordVectors(path, v)
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if wv.Dim < 1 || len(wv.Rows) != v.Len() || wv.Rows[PadID] != nil || wv.Rows[UnkID] != nil {
			t.Fatalf("dim %d, %d rows, <pad> %v, <unk> %v", wv.Dim, len(wv.Rows), wv.Rows[PadID], wv.Rows[UnkID])
		}
		found := 0
		for id, r := range wv.Rows {
			if r == nil {
				continue
			}
			found++
			if len(r) != wv.Dim {
				t.Fatalf("row %d has %d values, dim %d", id, len(r), wv.Dim)
			}
			for _, x := range r {
				if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
					t.Fatalf("row %d holds %v", id, x)
				}
			}
		}
		if found != wv.Found || wv.Words < found {
			t.Fatalf("found %d rows, Found %d, Words %d", found, wv.Found, wv.Words)
		}
		if dim, err := WordVectorsDim(path); err != nil || dim != wv.Dim {
			t.Fatalf("WordVectorsDim = %d, %v; ReadWordVectors read %d", dim, err, wv.Dim)
		}
	})
}
