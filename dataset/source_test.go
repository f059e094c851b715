package dataset

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseSource(t *testing.T) {
	dir := t.TempDir()
	csvDir := filepath.Join(dir, "iemocap")
	pqDir := filepath.Join(dir, "zahra", "data")
	for _, d := range []string{csvDir, pqDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	a := writeFile(t, csvDir, "a.csv", csvHeader)
	b := writeFile(t, dir, "b.CSV", csvHeader)
	p1 := writeFile(t, pqDir, "session1-00000-of-00001.parquet", "")
	p2 := writeFile(t, pqDir, "session2-00000-of-00001.parquet", "")
	txt := writeFile(t, dir, "notes.txt", "")
	zahra := filepath.Join(dir, "zahra")

	tests := []struct {
		data string
		want Source
		err  string
	}{
		{"", Source{Kind: SourceHub, Repo: "Zahra99/IEMOCAP_Text", Revision: "main"}, ""},
		{"hf:Zahra99/IEMOCAP_Text", Source{Kind: SourceHub, Repo: "Zahra99/IEMOCAP_Text", Revision: "main"}, ""},
		{" hf:a/b@v1.0 ", Source{Kind: SourceHub, Repo: "a/b", Revision: "v1.0"}, ""},
		{"hf:a/b@", Source{}, "empty revision"},
		{"hf:ab", Source{}, "want hf:owner/name"},
		{"hf:a/b/c", Source{}, "want hf:owner/name"},
		{"hf:/b", Source{}, "want hf:owner/name"},
		{csvDir, Source{Kind: SourceCSV, Paths: []string{csvDir}}, ""},
		{a + "," + b, Source{Kind: SourceCSV, Paths: []string{a, b}}, ""},
		{zahra, Source{Kind: SourceParquet, Paths: []string{zahra}}, ""},
		{p1 + ", " + p2 + ",", Source{Kind: SourceParquet, Paths: []string{p1, p2}}, ""},
		{a + "," + p1, Source{}, "mixes CSV and parquet"},
		{txt, Source{}, "not a .csv or .parquet file"},
		{filepath.Join(dir, "missing"), Source{}, "no such file or folder"},
		{"Zahra99/IEMOCAP_Text", Source{}, "no such file or folder (a hub dataset is written hf:Zahra99/IEMOCAP_Text)"},
		{" , ", Source{}, "no path"},
	}
	// A missing file's path gets no hint about hub names.
	for _, p := range []string{filepath.Join(dir, "missing.csv"), "./missing", "data/train.csv"} {
		if _, err := ParseSource(p); err == nil || strings.Contains(err.Error(), "hf:") {
			t.Errorf("ParseSource(%q) of a missing path: error %v, want no hub hint", p, err)
		}
	}
	for _, tc := range tests {
		got, err := ParseSource(tc.data)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseSource(%q): error %v, want %q", tc.data, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseSource(%q): %v", tc.data, err)
			continue
		}
		if got.Kind != tc.want.Kind || got.Repo != tc.want.Repo || got.Revision != tc.want.Revision || !slices.Equal(got.Paths, tc.want.Paths) {
			t.Errorf("ParseSource(%q) = %+v, want %+v", tc.data, got, tc.want)
		}
	}
}

func TestLoadCSVSource(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "x.csv", csvHeader+
		"Ses01F_impro01,Ses01F_impro01_F000,Hi.,neu,1,1,1\n"+
		"Ses01F_impro01,Ses01F_impro01_M000,Bye.,sad,1,1,1\n")
	for _, data := range []string{dir, p} {
		c, err := Load(context.Background(), data)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Utterances) != 2 || !c.HasSpeakers || c.Source != "CSV "+data {
			t.Errorf("Load(%q): %d utterances, speakers %v, source %q", data, len(c.Utterances), c.HasSpeakers, c.Source)
		}
	}
	if _, err := Load(context.Background(), filepath.Join(dir, "nope")); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("missing source: %v", err)
	}
}
