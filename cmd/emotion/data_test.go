package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFixture writes a CSV folder of five sessions and returns the folder
// and the expected labelled counts per session (angry, happy, neutral, sad).
func writeFixture(t *testing.T) (string, map[int][4]int) {
	t.Helper()
	dir := t.TempDir()
	raws := []string{"ang", "hap", "exc", "neu", "sad", "fru", "xxx"}
	class := map[string]int{"ang": 0, "hap": 1, "exc": 1, "neu": 2, "sad": 3}
	want := map[int][4]int{}
	var b strings.Builder
	b.WriteString("Dialogue_ID,Utterance_Id,Utterance,Emotion,Valence,Activation,Dominance\n")
	n := 0
	for s := 1; s <= 5; s++ {
		for d := range 3 {
			dialog := fmt.Sprintf("Ses%02dM_impro%02d", s, d)
			for tn := range 11 + s {
				g := "FM"[tn%2]
				raw := raws[(n*5+s)%len(raws)]
				if k, ok := class[raw]; ok {
					c := want[s]
					c[k]++
					want[s] = c
				}
				fmt.Fprintf(&b, "%s,%s_%c%03d,\"word%d, and more words %d.\",%s,1,2,3\n", dialog, dialog, g, tn/2, n%17, n%3, raw)
				n++
			}
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "all.csv"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, want
}

// rowAfter returns the fields of the first line after the line containing
// section whose first field is key.
func rowAfter(out, section, key string) []string {
	_, rest, ok := strings.Cut(out, section)
	if !ok {
		return nil
	}
	for line := range strings.SplitSeq(rest, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == key {
			return f
		}
	}
	return nil
}

func TestDataCSV(t *testing.T) {
	dir, want := writeFixture(t)
	code, out, errOut := runEmotion(t, "data", "--data", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, w := range []string{
		"source      CSV " + dir,
		"speakers    known: 10 speakers",
		"dialogs     known: 15 dialogs; windows of up to 10 turns",
		"warnings    none",
		"Protocol session5 (seed 1, validation 0.1",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	var all [4]int
	for s := 1; s <= 5; s++ {
		w := want[s]
		total := w[0] + w[1] + w[2] + w[3]
		for k := range 4 {
			all[k] += w[k]
		}
		wantRow := fmt.Sprintf("%d %d %d %d %d %d", s, w[0], w[1], w[2], w[3], total)
		if got := strings.Join(rowAfter(out, "per session", fmt.Sprint(s)), " "); got != wantRow {
			t.Errorf("session %d row %q, want %q", s, got, wantRow)
		}
	}
	// The mean window of the labelled turns, from writeFixture's layout: a
	// turn tn of its dialog has min(tn+1, 10) turns in its window.
	raws := []string{"ang", "hap", "exc", "neu", "sad", "fru", "xxx"}
	windows, labelled, n := 0, 0, 0
	for s := 1; s <= 5; s++ {
		for range 3 {
			for tn := range 11 + s {
				if r := raws[(n*5+s)%len(raws)]; r != "fru" && r != "xxx" {
					windows, labelled = windows+min(tn+1, 10), labelled+1
				}
				n++
			}
		}
	}
	if w := fmt.Sprintf("windows of up to 10 turns (mean %.2f)", float64(windows)/float64(labelled)); !strings.Contains(out, w) {
		t.Errorf("output lacks %q:\n%s", w, out)
	}
	// Session 5 is the test split.
	w5 := want[5]
	testRow := fmt.Sprintf("test %d %d %d %d %d", w5[0], w5[1], w5[2], w5[3], w5[0]+w5[1]+w5[2]+w5[3])
	if got := strings.Join(rowAfter(out, "Protocol session5", "test"), " "); got != testRow {
		t.Errorf("test row %q, want %q", got, testRow)
	}
	// train + val = sessions 1-4.
	tr, va := rowAfter(out, "Protocol session5", "session5"), rowAfter(out, "Protocol session5", "val")
	if len(tr) != 7 || len(va) != 6 {
		t.Fatalf("train row %q, val row %q", tr, va)
	}
	for k := range 4 {
		var a, b int
		fmt.Sscan(tr[2+k], &a)
		fmt.Sscan(va[1+k], &b)
		if a+b != all[k]-w5[k] {
			t.Errorf("class %d: train %d + val %d, want %d", k, a, b, all[k]-w5[k])
		}
	}
	if v := rowAfter(out, "Vocabulary", "session5"); len(v) != 8 || v[1] == "0" || v[2] != "0.00%" {
		t.Errorf("vocabulary row %q, want 8 fields and no unknown test token", v)
	}
}

// TestDataUnknownAndVectors: the vocabulary table gives the share of the
// test split's tokens outside the vocabulary and, with --embeddings, how
// many tokens have a vector.
func TestDataUnknownAndVectors(t *testing.T) {
	dir, _ := writeFixture(t)
	b, err := os.ReadFile(filepath.Join(dir, "all.csv"))
	if err != nil {
		t.Fatal(err)
	}
	// Session 5's texts get a word no training text has, twice in each
	// of its utterances of seven tokens ("word5 , fresh fresh words 1 .").
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "Ses05") {
			lines[i] = strings.Replace(l, "and more", "fresh fresh", 1)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "all.csv"), []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	vectors, _ := fixtureVectors(t)
	code, out, errOut := runEmotion(t, "data", "--data", dir, "--embeddings", vectors, "--min-count", "1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	v := rowAfter(out, "Vocabulary", "session5")
	// 25 tokens (word0 … word16, 0, 1, 2, ",", ".", and, more, words) and
	// the two special ones; "and", "more" and "word3" have vectors.
	if len(v) != 10 || v[1] != "27" || v[2] != "28.57%" || v[3] != "3" || v[4] != "(12.0%)" {
		t.Errorf("vocabulary row %q, want 27 tokens, 28.57%% unknown test tokens (2 of 7), 3 (12.0%%) with vectors:\n%s", v, out)
	}
	if !strings.Contains(out, "with a vector in "+vectors) {
		t.Errorf("the note does not name the vectors file:\n%s", out)
	}
	if code, _, errOut := runEmotion(t, "data", "--data", dir, "--embeddings", filepath.Join(dir, "none.txt")); code != 1 || !strings.Contains(errOut, "none.txt") {
		t.Errorf("a missing vectors file: exit %d, stderr %q", code, errOut)
	}
}

func TestDataLOSO(t *testing.T) {
	dir, _ := writeFixture(t)
	code, out, errOut := runEmotion(t, "data", "--data", dir, "--protocol", "loso", "--seed", "3", "--window", "4", "--min-count", "1", "--max-len", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for s := 1; s <= 5; s++ {
		if rowAfter(out, "Vocabulary", fmt.Sprintf("loso-ses%d", s)) == nil {
			t.Errorf("no vocabulary row for fold %d:\n%s", s, out)
		}
	}
	if !strings.Contains(out, "windows of up to 4 turns") || !strings.Contains(out, "longer than 2 tokens") {
		t.Errorf("options not reflected:\n%s", out)
	}
}

func TestDataErrors(t *testing.T) {
	t.Setenv("HF_HUB_OFFLINE", "1") // an empty --data taken for the default would not reach the hub
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("Dialogue_ID,Utterance_Id,Utterance,Emotion\nSes01F_impro01,Ses01F_impro01_F000,hi,joy\n"), 0o644)
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--data", bad}, 1, "bad.csv: line 2"},
		{[]string{"--data", filepath.Join(dir, "missing")}, 1, "no such file or folder"},
		{[]string{"--data", bad, "--protocol", "random"}, 2, `unknown protocol "random"`},
		{[]string{"--data", bad, "--max-len", "0"}, 2, "--max-len 0, want at least 1"},
		// An empty --data (an unset shell variable) is not the default.
		{[]string{"--data", ""}, 2, "--data is empty"},
		{[]string{"--data", " "}, 2, "--data is empty"},
	}
	for _, tc := range tests {
		code, _, errOut := runEmotion(t, append([]string{"data"}, tc.args...)...)
		if code != tc.code || !strings.Contains(errOut, tc.want) || !strings.HasPrefix(errOut, "emotion: ") {
			t.Errorf("%q: exit %d, stderr %q; want exit %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
}
