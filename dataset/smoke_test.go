package dataset

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// sharedData is the project's real data, outside the repository.
const sharedData = "../../shared/data"

// iemocapTable is the 4-class count per session and class of
// ../shared/data/README.md.
var iemocapTable = map[int][NumClasses]int{
	1: {229, 278, 384, 194},
	2: {137, 327, 362, 197},
	3: {240, 286, 320, 305},
	4: {327, 303, 258, 143},
	5: {170, 442, 384, 245},
}

// TestSmokeSharedData loads both shared sources, when present, and checks
// the 5,531-utterance table.
func TestSmokeSharedData(t *testing.T) {
	for _, tc := range []struct {
		dir               string
		total             int
		speakers, dialogs bool
	}{
		{"iemocap", 10039, true, true},
		{"zahra99", 5531, false, false},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			path := filepath.Join(sharedData, tc.dir)
			if _, err := os.Stat(path); err != nil {
				t.Skipf("no shared data: %v", err)
			}
			c, err := Load(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Utterances) != tc.total || c.HasSpeakers != tc.speakers || c.HasDialogs != tc.dialogs {
				t.Errorf("%d utterances, speakers %v, dialogs %v; want %d, %v, %v", len(c.Utterances), c.HasSpeakers, c.HasDialogs, tc.total, tc.speakers, tc.dialogs)
			}
			got := SessionCounts(c)
			if len(got) != len(iemocapTable) {
				t.Errorf("sessions %v", got)
			}
			for s, want := range iemocapTable {
				if got[s] != want {
					t.Errorf("session %d: %v, want %v", s, got[s], want)
				}
			}
			if tc.dialogs {
				if n := c.Dialogs(); n != 151 {
					t.Errorf("%d dialogs, want 151", n)
				}
				if n := c.Speakers(); n != 10 {
					t.Errorf("%d speakers, want 10", n)
				}
			} else if len(c.Warnings) == 0 {
				t.Error("a source without IDs gave no warning")
			}
			folds, err := Folds(c, DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			if n := len(folds[0].Test); n != 1241 {
				t.Errorf("session5 test has %d items, want 1241", n)
			}
			if n := len(folds[0].Train) + len(folds[0].Val); n != 5531-1241 {
				t.Errorf("session5 train+val has %d items, want %d", n, 5531-1241)
			}
		})
	}
}
