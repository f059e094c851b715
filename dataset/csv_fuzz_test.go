package dataset

import (
	"strings"
	"testing"
)

// FuzzReadCSV feeds arbitrary bytes to the CSV reader: it must never panic,
// every error must name the file, and what it accepts must be well formed.
// Its seed corpus runs as an ordinary test; fuzz with
//
//	go test -run '^$' -fuzz FuzzReadCSV ./dataset
func FuzzReadCSV(f *testing.F) {
	seeds := []string{
		"",
		"\n",
		"\ufeff" + csvHeader,
		csvHeader + "Ses01F_impro01,Ses01F_impro01_F000,Hi.,neu,1,1,1\n",
		csvHeader + "Ses01F_impro01,Ses01F_impro01_F000,\"a, \"\"b\"\"\",exc,1,1,1\r\n" +
			"Ses01F_impro01,Ses01F_impro01_M000,,xxx,1,1,1\r\n",
		"Emotion,Utterance,Utterance_Id,Dialogue_ID\nsad,x,Ses05M_script01_1b_M012,Ses05M_script01_1b\n",
		csvHeader + "Ses01F_impro01,Ses01F_impro01_F000,\"Hi\n",
		csvHeader + "Ses01F_impro01,Ses01F_impro01_F000,Hi,neu\n",
		csvHeader + "Ses09F_impro01,Ses09F_impro01_F000,Hi,neu,1,1,1\n",
		csvHeader + "Ses01F_impro01,Ses01F_impro01_F99999999999999999999999,Hi,neu,1,1,1\n",
		csvHeader + "Ses01F_impro01,Ses01F_impro01_F000,Hi,neu,1,1,1\nSes01F_impro01,Ses01F_impro01_F000,Hi,neu,1,1,1\n",
		"Dialogue_ID,Utterance_Id,Utterance,Emotion\nSes1,Ses1,a,ang\n",
		"Dialogue_ID,Utterance_Id,Utterance,Emotion\nSes01F_,Ses01F__F0,a,ang\n",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		rows, err := readCSV(strings.NewReader(data), "fuzz.csv")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.csv: ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		ids := map[string]bool{}
		for _, r := range rows {
			u := r.Utterance
			if ids[u.ID] {
				t.Fatalf("duplicate ID %q accepted", u.ID)
			}
			ids[u.ID] = true
			if u.Session < 1 || u.Session > 5 || (u.Gender != 'F' && u.Gender != 'M') {
				t.Fatalf("bad session or gender in %+v", u)
			}
			if !strings.HasPrefix(u.ID, u.Dialog+"_") || !strings.HasPrefix(u.Speaker, "Ses0") || u.Speaker[5] != u.Gender {
				t.Fatalf("inconsistent ID, dialog and speaker in %+v", u)
			}
			if u.Label < NoLabel || u.Label >= NumClasses {
				t.Fatalf("label %d out of range", u.Label)
			}
			if u.Labelled() && strings.TrimSpace(u.Text) == "" {
				t.Fatalf("labelled utterance with empty text: %+v", u)
			}
			if r.line < 2 || r.num < 0 {
				t.Fatalf("bad line %d or turn number %d", r.line, r.num)
			}
		}
		if len(rows) > 0 {
			if _, err := groupDialogs(rows); err != nil && !strings.HasPrefix(err.Error(), "fuzz.csv: ") {
				t.Fatalf("grouping error does not name the file: %v", err)
			}
		}
	})
}
