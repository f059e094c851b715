package dataset

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const csvHeader = "Dialogue_ID,Utterance_Id,Utterance,Emotion,Valence,Activation,Dominance\n"

// writeFile writes content to name inside dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadCSV(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "a.csv", csvHeader+
		`Ses02M_script01_1b,Ses02M_script01_1b_M000,"Hello, there.",exc,3,3,3`+"\n"+
		`Ses02M_script01_1b,Ses02M_script01_1b_F000,"She said ""no"".",fru,2,3,3`+"\n"+
		`Ses02M_script01_1b,Ses02M_script01_1b_F001,"two`+"\nlines\""+`,ANG,2,3,3`+"\n"+
		`Ses02M_script01_1b,Ses02M_script01_1b_M001,,xxx,2,3,3`+"\n")
	us, err := ReadCSV(p)
	if err != nil {
		t.Fatal(err)
	}
	want := []Utterance{
		{ID: "Ses02M_script01_1b_M000", Dialog: "Ses02M_script01_1b", Session: 2, Speaker: "Ses02M", Gender: 'M', Text: "Hello, there.", Label: Happy, RawLabel: "exc"},
		{ID: "Ses02M_script01_1b_F000", Dialog: "Ses02M_script01_1b", Session: 2, Speaker: "Ses02F", Gender: 'F', Text: `She said "no".`, Label: NoLabel, RawLabel: "fru"},
		{ID: "Ses02M_script01_1b_F001", Dialog: "Ses02M_script01_1b", Session: 2, Speaker: "Ses02F", Gender: 'F', Text: "two\nlines", Label: Angry, RawLabel: "ANG"},
		{ID: "Ses02M_script01_1b_M001", Dialog: "Ses02M_script01_1b", Session: 2, Speaker: "Ses02M", Gender: 'M', Text: "", Label: NoLabel, RawLabel: "xxx"},
	}
	if len(us) != len(want) {
		t.Fatalf("got %d utterances, want %d", len(us), len(want))
	}
	for i := range want {
		if us[i] != want[i] {
			t.Errorf("utterance %d:\n got %+v\nwant %+v", i, us[i], want[i])
		}
	}
}

func TestReadCSVLabels(t *testing.T) {
	tests := []struct {
		raw  string
		want Label
	}{
		{"ang", Angry}, {"hap", Happy}, {"exc", Happy}, {"neu", Neutral}, {"sad", Sad},
		{"fru", NoLabel}, {"sur", NoLabel}, {"fea", NoLabel}, {"dis", NoLabel}, {"oth", NoLabel}, {"xxx", NoLabel},
		{" Neu ", Neutral},
	}
	dir := t.TempDir()
	for _, tc := range tests {
		p := writeFile(t, dir, "l.csv", csvHeader+"Ses01F_impro01,Ses01F_impro01_F000,Hi.,"+tc.raw+",1,1,1\n")
		us, err := ReadCSV(p)
		if err != nil {
			t.Errorf("%q: %v", tc.raw, err)
			continue
		}
		if us[0].Label != tc.want {
			t.Errorf("%q: label %v, want %v", tc.raw, us[0].Label, tc.want)
		}
	}
}

func TestReadCSVErrors(t *testing.T) {
	row := func(dialog, id, text, emo string) string {
		return dialog + "," + id + "," + text + "," + emo + ",1,1,1\n"
	}
	ok := row("Ses01F_impro01", "Ses01F_impro01_F000", "Hi.", "neu")
	tests := []struct {
		name    string
		content string
		want    []string // substrings of the error
	}{
		{"empty file", "", []string{"bad.csv", "empty file"}},
		{"missing column", "Dialogue_ID,Utterance_Id,Utterance,Valence\n" + ok, []string{"bad.csv", "header", `missing column "Emotion"`}},
		{"two missing", "Dialogue_ID,Utterance\n", []string{`"Utterance_Id", "Emotion"`}},
		{"duplicate column", "Dialogue_ID,Utterance_Id,Utterance,Emotion,emotion\n", []string{`column "Emotion" appears twice`}},
		{"wrong field count", csvHeader + ok + "Ses01F_impro01,Ses01F_impro01_F001,Hi.,neu\n", []string{"bad.csv", "line 3", "wrong number of fields"}},
		{"bare quote", csvHeader + ok + `Ses01F_impro01,Ses01F_impro01_F001,Hi "there",neu,1,1,1` + "\n", []string{"bad.csv", "line 3", `bare "`}},
		{"unterminated quote", csvHeader + ok + `Ses01F_impro01,Ses01F_impro01_F001,"Hi there,neu,1,1,1` + "\n", []string{"bad.csv", "line 3", `extraneous or missing "`}},
		{"undefined emotion", csvHeader + ok + row("Ses01F_impro01", "Ses01F_impro01_M000", "Yo.", "happy"), []string{"bad.csv", "line 3", "Ses01F_impro01_M000", `undefined emotion "happy"`}},
		{"empty emotion", csvHeader + row("Ses01F_impro01", "Ses01F_impro01_M000", "Yo.", ""), []string{"line 2", `undefined emotion ""`}},
		{"empty labelled text", csvHeader + row("Ses01F_impro01", "Ses01F_impro01_M000", "  ", "sad"), []string{"line 2", "empty text"}},
		{"duplicate id", csvHeader + ok + row("Ses01F_impro01", "Ses01F_impro01_M000", "a", "neu") + ok, []string{"line 4", `duplicate utterance ID "Ses01F_impro01_F000"`, "first on line 2"}},
		// A Latin-1 file: its accented words would all read as U+FFFD.
		{"latin-1 text", csvHeader + ok + row("Ses01F_impro01", "Ses01F_impro01_M000", "Un caf\xe9.", "neu"),
			[]string{"bad.csv", "line 3", "Ses01F_impro01_M000", "not valid UTF-8 (byte 7 of the text is 0xe9", "save the file as UTF-8"}},
		{"latin-1 context turn", csvHeader + row("Ses01F_impro01", "Ses01F_impro01_M000", "\xe0 bient\xf4t", "xxx"), []string{"line 2", "byte 1 of the text is 0xe0"}},
		// Excel's "Unicode Text", pandas' encoding="utf-16": the header
		// read as "D\x00i\x00…" was reported as missing every column.
		{"utf-16le", utf16Of(csvHeader+ok, false), []string{"bad.csv", "UTF-16", "save the file as UTF-8"}},
		{"utf-16be", utf16Of(csvHeader+ok, true), []string{"bad.csv", "UTF-16", "save the file as UTF-8"}},
		{"empty id", csvHeader + row("Ses01F_impro01", "", "a", "neu"), []string{"line 2", "empty Utterance_Id"}},
		{"no Ses", csvHeader + row("Ses01F_impro01", "Xes01F_impro01_F000", "a", "neu"), []string{"line 2", "malformed utterance ID"}},
		{"session 6", csvHeader + row("Ses06F_impro01", "Ses06F_impro01_F000", "a", "neu"), []string{"session 6 outside 1–5"}},
		{"session letters", csvHeader + row("Ses0xF_impro01", "Ses0xF_impro01_F000", "a", "neu"), []string{"no two-digit session"}},
		{"session 0", csvHeader + row("Ses00F_impro01", "Ses00F_impro01_F000", "a", "neu"), []string{"session 0 outside 1–5"}},
		// strconv.Atoi reads "+1" as 1: the digits are checked one by one.
		{"session with a sign", csvHeader + row("Ses+1F_impro01", "Ses+1F_impro01_F000", "a", "neu"), []string{"no two-digit session"}},
		{"no gender after the session", csvHeader + row("Ses01X_impro01", "Ses01X_impro01_F000", "a", "neu"), []string{"no F or M after the session"}},
		{"no _ after the session", csvHeader + row("Ses01Fximpro01", "Ses01Fximpro01_F000", "a", "neu"), []string{"no _ after the session"}},
		{"duplicate first column", "Dialogue_ID,Utterance_Id,Utterance,Emotion,dialogue_id\n", []string{`column "Dialogue_ID" appears twice`}},
		// A quoted field over several lines: the error names the line
		// where its record starts, as every other error of a record does.
		{"bad quote in a multi-line field", csvHeader + ok + "Ses01F_impro01,Ses01F_impro01_F001,\"two\nlines\" x,neu,1,1,1\n",
			[]string{"bad.csv", "line 3:", `extraneous or missing "`}},
		{"no gender", csvHeader + row("Ses01F_impro01", "Ses01F_impro01_X000", "a", "neu"), []string{"does not start with F or M"}},
		{"no number", csvHeader + row("Ses01F_impro01", "Ses01F_impro01_F", "a", "neu"), []string{"malformed utterance ID"}},
		{"no dialog", csvHeader + row("Ses01F", "Ses01F__F000", "a", "neu"), []string{"no dialog name"}},
		{"dialog mismatch", csvHeader + row("Ses01F_impro02", "Ses01F_impro01_F000", "a", "neu"), []string{"line 2", `Dialogue_ID "Ses01F_impro02" does not match`}},
	}
	dir := t.TempDir()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, dir, "bad.csv", tc.content)
			_, err := ReadCSV(p)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// utf16Of encodes the ASCII text s as UTF-16 with its byte order mark,
// big-endian when be.
func utf16Of(s string, be bool) string {
	b := []byte{0xff, 0xfe}
	if be {
		b = []byte{0xfe, 0xff}
	}
	for _, c := range []byte(s) {
		if be {
			b = append(b, 0, c)
		} else {
			b = append(b, c, 0)
		}
	}
	return string(b)
}

func TestReadCSVMissingFile(t *testing.T) {
	_, err := ReadCSV(filepath.Join(t.TempDir(), "nope.csv"))
	if err == nil || !strings.Contains(err.Error(), "nope.csv") || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("got %v, want a not-exist error naming the file", err)
	}
}

// TestLoadCSVFolder checks the regrouping of a folder of CSVs: dialogs
// sorted by (session, dialog), turns in file order, turn positions, and
// files read in name order.
func TestLoadCSVFolder(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "train.csv", csvHeader+
		"Ses02F_impro01,Ses02F_impro01_F000,b0,neu,1,1,1\n"+
		"Ses01M_script01_1,Ses01M_script01_1_M000,a0,sad,1,1,1\n"+
		"Ses02F_impro01,Ses02F_impro01_M000,b1,xxx,1,1,1\n"+
		"Ses01M_script01_1,Ses01M_script01_1_F000,a1,ang,1,1,1\n"+
		"Ses02F_impro01,Ses02F_impro01_F001,b2,hap,1,1,1\n")
	writeFile(t, dir, "dev.csv", csvHeader+
		"Ses01F_impro03,Ses01F_impro03_M000,c0,exc,1,1,1\n"+
		"Ses01F_impro03,Ses01F_impro03_M001,c1,fru,1,1,1\n")
	writeFile(t, dir, "notes.txt", "not a csv")
	c, err := LoadCSV([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if !c.HasDialogs || !c.HasSpeakers || len(c.Warnings) != 0 {
		t.Errorf("HasDialogs %v HasSpeakers %v Warnings %q", c.HasDialogs, c.HasSpeakers, c.Warnings)
	}
	want := []struct {
		text string
		turn int
	}{{"c0", 0}, {"c1", 1}, {"a0", 0}, {"a1", 1}, {"b0", 0}, {"b1", 1}, {"b2", 2}}
	if len(c.Utterances) != len(want) {
		t.Fatalf("%d utterances, want %d", len(c.Utterances), len(want))
	}
	for i, w := range want {
		if u := c.Utterances[i]; u.Text != w.text || u.Turn != w.turn {
			t.Errorf("utterance %d = %s turn %d, want %s turn %d", i, u.Text, u.Turn, w.text, w.turn)
		}
	}
	if got := c.Dialogs(); got != 3 {
		t.Errorf("Dialogs() = %d, want 3", got)
	}
	if got := c.Speakers(); got != 4 {
		t.Errorf("Speakers() = %d, want 4", got)
	}
	// The same files listed one by one give the same corpus, and so does a
	// folder of links to them (data is linked in, not copied).
	c2, err := LoadCSV([]string{filepath.Join(dir, "train.csv"), filepath.Join(dir, "dev.csv")})
	if err != nil {
		t.Fatal(err)
	}
	links := t.TempDir()
	for _, f := range []string{"train.csv", "dev.csv"} {
		if err := os.Symlink(filepath.Join(dir, f), filepath.Join(links, f)); err != nil {
			t.Fatal(err)
		}
	}
	c3, err := LoadCSV([]string{links})
	if err != nil {
		t.Fatal(err)
	}
	for _, other := range []*Corpus{c2, c3} {
		if len(other.Utterances) != len(c.Utterances) {
			t.Fatalf("%d utterances from %s, %d from the folder", len(other.Utterances), other.Source, len(c.Utterances))
		}
		for i := range c.Utterances {
			if c.Utterances[i] != other.Utterances[i] {
				t.Errorf("utterance %d differs between the folder and %s", i, other.Source)
			}
		}
	}
}

// TestReadCSVByteOrderMark reads files saved with a UTF-8 byte order mark
// (Excel, pandas' utf-8-sig), before a plain and before a quoted header.
func TestReadCSVByteOrderMark(t *testing.T) {
	dir := t.TempDir()
	row := "\"Ses01F_impro01\",\"Ses01F_impro01_F000\",\"Hi.\",\"neu\"\r\n"
	for name, header := range map[string]string{
		"plain.csv":  "\ufeffDialogue_ID,Utterance_Id,Utterance,Emotion\r\n",
		"quoted.csv": "\ufeff\"Dialogue_ID\",\"Utterance_Id\",\"Utterance\",\"Emotion\"\r\n",
	} {
		us, err := ReadCSV(writeFile(t, dir, name, header+row))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(us) != 1 || us[0].Text != "Hi." || us[0].Label != Neutral {
			t.Errorf("%s: %+v", name, us)
		}
	}
}

func TestLoadCSVErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"turn order", map[string]string{"a.csv": csvHeader +
			"Ses01F_impro01,Ses01F_impro01_F001,x,neu,1,1,1\n" +
			"Ses01F_impro01,Ses01F_impro01_M000,y,neu,1,1,1\n" +
			"Ses01F_impro01,Ses01F_impro01_F000,z,neu,1,1,1\n"},
			[]string{"a.csv: line 4", "Ses01F_impro01_F000 comes after Ses01F_impro01_F001", "a.csv: line 2", "must increase"}},
		{"duplicate across files", map[string]string{
			"a.csv": csvHeader + "Ses01F_impro01,Ses01F_impro01_F000,x,neu,1,1,1\n",
			"b.csv": csvHeader + "Ses01F_impro01,Ses01F_impro01_F000,y,neu,1,1,1\n"},
			[]string{"b.csv: line 2", `duplicate utterance ID "Ses01F_impro01_F000"`, "a.csv: line 2"}},
		{"no csv", map[string]string{"x.txt": "hi"}, []string{"no .csv files"}},
		{"header only", map[string]string{"a.csv": csvHeader}, []string{"a.csv", "no utterances"}},
		{"bad file in folder", map[string]string{
			"a.csv": csvHeader + "Ses01F_impro01,Ses01F_impro01_F000,x,neu,1,1,1\n",
			"b.csv": "Dialogue_ID,Utterance_Id\n"},
			[]string{"b.csv", "missing column"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for n, s := range tc.files {
				writeFile(t, dir, n, s)
			}
			_, err := LoadCSV([]string{dir})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	if _, err := LoadCSV([]string{filepath.Join(t.TempDir(), "missing")}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing folder: %v", err)
	}
	if _, err := LoadCSV(nil); err == nil {
		t.Error("no paths: no error")
	}
}

func TestParseUtteranceID(t *testing.T) {
	tests := []struct {
		id      string
		session int
		gender  byte
		dialog  string
		num     int
	}{
		{"Ses01F_impro01_F000", 1, 'F', "Ses01F_impro01", 0},
		{"Ses05M_script01_1b_F013", 5, 'F', "Ses05M_script01_1b", 13},
		{"Ses03M_impro05a_M1", 3, 'M', "Ses03M_impro05a", 1},
	}
	for _, tc := range tests {
		s, g, d, n, err := parseUtteranceID(tc.id)
		if err != nil || s != tc.session || g != tc.gender || d != tc.dialog || n != tc.num {
			t.Errorf("parseUtteranceID(%q) = %d %c %q %d %v, want %d %c %q %d", tc.id, s, g, d, n, err, tc.session, tc.gender, tc.dialog, tc.num)
		}
	}
}

// TestReadCSVLenientInput: what a CSV may hold and still be read: spaces
// around the header's names, and a replacement character U+FFFD written
// as UTF-8 (valid text, unlike a stray byte).
func TestReadCSVLenientInput(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "a.csv", " Dialogue_ID , Utterance_Id ,Utterance, Emotion \n"+
		"Ses01F_impro01,Ses01F_impro01_F000,caf\ufffd ok,neu\n")
	us, err := ReadCSV(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(us) != 1 || us[0].Text != "caf\ufffd ok" || us[0].Label != Neutral {
		t.Errorf("got %+v", us)
	}
}

// TestLoadCSVTurnNumbersIncrease: two turns of a speaker with the same
// number written differently (F000, then F00) are out of order: the
// numbers must increase strictly.
func TestLoadCSVTurnNumbersIncrease(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.csv", csvHeader+
		"Ses01F_impro01,Ses01F_impro01_F000,x,neu,1,1,1\n"+
		"Ses01F_impro01,Ses01F_impro01_F00,y,neu,1,1,1\n")
	_, err := LoadCSV([]string{dir})
	if err == nil || !strings.Contains(err.Error(), "Ses01F_impro01_F00 comes after Ses01F_impro01_F000") {
		t.Errorf("got %v, want an error saying the turn numbers must increase", err)
	}
}

// TestLoadCSVFolderSkipsFolders: a folder inside a CSV folder is not read
// as a file, even when its name ends in .csv.
func TestLoadCSVFolderSkipsFolders(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.csv", csvHeader+"Ses01F_impro01,Ses01F_impro01_F000,x,neu,1,1,1\n")
	if err := os.Mkdir(filepath.Join(dir, "old.csv"), 0o755); err != nil {
		t.Fatal(err)
	}
	c, err := LoadCSV([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Utterances) != 1 {
		t.Errorf("%d utterances, want 1", len(c.Utterances))
	}
}
