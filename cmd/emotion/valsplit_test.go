package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// speakerOfID is the speaker of an IEMOCAP utterance ID: its session and
// the gender letter of its last part (Ses01M_impro00_F003 is Ses01F).
func speakerOfID(t *testing.T, id string) string {
	t.Helper()
	m := regexp.MustCompile(`^(Ses\d\d)[FM]_.*_([FM])\d+$`).FindStringSubmatch(id)
	if m == nil {
		t.Fatalf("utterance ID %q", id)
	}
	return m[1] + m[2]
}

// predictionGroups returns the groups (by group of an utterance ID) of
// the utterances of an eval --predictions file.
func predictionGroups(t *testing.T, path string, group func(t *testing.T, id string) string) map[string]int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var p struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		out[group(t, p.ID)]++
	}
	return out
}

// TestValSplitHeldOut: `data --val-split speaker` (or session) names each
// fold's validation speakers (sessions), none of its test session; a run
// trained with it records it, so that eval rebuilds the same split: its
// validation utterances are exactly theirs, and its training split holds
// none of them.
func TestValSplitHeldOut(t *testing.T) {
	data, _ := writeFixture(t)
	sessionOfID := func(t *testing.T, id string) string { return id[:5] }
	for _, mode := range []struct {
		split string
		group func(t *testing.T, id string) string
	}{{"speaker", speakerOfID}, {"session", sessionOfID}} {
		t.Run(mode.split, func(t *testing.T) {
			code, out, errOut := runEmotion(t, "data", "--data", data, "--protocol", "loso", "--val-split", mode.split)
			if code != 0 {
				t.Fatalf("data: exit %d: %s", code, errOut)
			}
			if !strings.Contains(out, "validation: whole "+mode.split+"s holding at least 0.1 of the training sessions") {
				t.Errorf("data does not say how validation is drawn:\n%s", out)
			}
			line := regexp.MustCompile(`(?m)^loso-ses(\d): validation ` + mode.split + `s (.+)$`)
			folds := line.FindAllStringSubmatch(out, -1)
			if len(folds) != 5 {
				t.Fatalf("%d folds name what they validate on, want 5:\n%s", len(folds), out)
			}
			for _, f := range folds {
				if strings.Contains(f[2], "Ses0"+f[1]) {
					t.Errorf("fold %s validates on its test session: %s", f[1], f[2])
				}
			}

			_, out, _ = runEmotion(t, "data", "--data", data, "--val-split", mode.split)
			m := line.FindStringSubmatch(strings.ReplaceAll(out, "session5:", "loso-ses5:"))
			if m == nil {
				t.Fatalf("session5 names nothing held out:\n%s", out)
			}
			want := strings.Split(m[2], ", ")

			dir := t.TempDir()
			run := filepath.Join(dir, "run")
			args := append([]string{"train", "--data", data, "--out", run, "--quiet", "--val-split", mode.split}, tinyRun...)
			if code, _, e := runEmotion(t, args...); code != 0 {
				t.Fatalf("train: exit %d: %s", code, e)
			}
			var cfg struct {
				Run struct {
					Data struct {
						ValSplit string `json:"val_split"`
					} `json:"data"`
				} `json:"run"`
				ValHeldOut []string `json:"val_held_out"`
			}
			if b, err := os.ReadFile(filepath.Join(run, "config.json")); err != nil || json.Unmarshal(b, &cfg) != nil ||
				cfg.Run.Data.ValSplit != mode.split || !slices.Equal(cfg.ValHeldOut, want) {
				t.Errorf("config.json records val split %q, held out %v (%v); want %s, %v", cfg.Run.Data.ValSplit, cfg.ValHeldOut, err, mode.split, want)
			}
			ckpt := filepath.Join(run, "model.safetensors")
			for _, split := range []string{"val", "train"} {
				preds := filepath.Join(dir, split+".jsonl")
				if code, _, e := runEmotion(t, "eval", "--checkpoint", ckpt, "--split", split, "--predictions", preds, "--device", "cpu"); code != 0 {
					t.Fatalf("eval --split %s: exit %d: %s", split, code, e)
				}
				got := predictionGroups(t, preds, mode.group)
				for _, g := range want {
					if split == "val" && got[g] == 0 || split == "train" && got[g] > 0 {
						t.Errorf("eval --split %s: %d utterances of %s", split, got[g], g)
					}
				}
				if split == "val" && len(got) != len(want) {
					t.Errorf("eval --split val: %v, want only %v", got, want)
				}
			}
		})
	}
}

// TestValSplitSpeakerDialogNote: the dialog model under --val-split
// speaker is told that the held-out speakers' turns stay in training
// windows as context; the sentence model, which reads no context, is not.
func TestValSplitSpeakerDialogNote(t *testing.T) {
	data, _ := writeFixture(t)
	for _, kind := range []string{"dialog", "sentence"} {
		args := append([]string{"train", "--data", data, "--model", kind, "--out", filepath.Join(t.TempDir(), "run"), "--val-split", "speaker",
			"--dialog-hidden", "4", "--heads", "2", "--attn-dim", "8", "--window", "3"}, tinyRun...)
		code, _, errOut := runEmotion(t, args...)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", kind, code, errOut)
		}
		if got := strings.Contains(errOut, "note: --val-split speaker: the validation speakers' turns are still the context"); got != (kind == "dialog") {
			t.Errorf("%s model: the note shown %v: %s", kind, got, errOut)
		}
	}
}

// TestTrainFlagsThatDoNotApply: --val-fraction with the seed protocol
// (whose splits are fixed) is a usage error in train and data, before
// anything is written; the other model kind's size flags are named in a
// note, as not used.
func TestTrainFlagsThatDoNotApply(t *testing.T) {
	data, _ := writeFixture(t)
	for _, cmd := range []string{"train", "data"} {
		out := filepath.Join(t.TempDir(), "run")
		args := []string{cmd, "--data", data, "--protocol", "seed", "--val-fraction", "0.5"}
		if cmd == "train" {
			args = append(args, "--out", out)
		}
		code, _, e := runEmotion(t, args...)
		if code != 2 || !strings.Contains(e, "the seed protocol's splits are fixed") {
			t.Errorf("%s --protocol seed --val-fraction 0.5: exit %d, stderr %q", cmd, code, e)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("%s: the run folder was created", cmd)
		}
	}
	for _, tc := range []struct {
		kind, flags, note string
	}{
		// tinyRun gives --dense; the dialog model's sizes are added.
		{"sentence", "--heads", "note: --heads, --attn-dim: the sentence model has none"},
		{"dialog", "--dense", "note: --dense: the dialog model has none"},
	} {
		args := append([]string{"train", "--data", data, "--model", tc.kind, "--out", filepath.Join(t.TempDir(), "run"),
			"--heads", "2", "--attn-dim", "8", "--window", "3"}, tinyRun...)
		code, _, e := runEmotion(t, args...)
		if code != 0 || !strings.Contains(e, tc.note) {
			t.Errorf("%s model with %s: exit %d, stderr %q; want %q", tc.kind, tc.flags, code, e, tc.note)
		}
	}
}
