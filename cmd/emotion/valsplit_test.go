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

// predictionSpeakers returns the speakers of the utterances of an eval
// --predictions file.
func predictionSpeakers(t *testing.T, path string) map[string]int {
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
		out[speakerOfID(t, p.ID)]++
	}
	return out
}

// TestValSplitSpeaker: `data --val-split speaker` names each fold's
// validation speakers, none of its test session; a run trained with it
// records it, so that eval rebuilds the same split: its validation
// utterances are exactly those speakers', and its training split holds
// none of them.
func TestValSplitSpeaker(t *testing.T) {
	data, _ := writeFixture(t)
	code, out, errOut := runEmotion(t, "data", "--data", data, "--protocol", "loso", "--val-split", "speaker")
	if code != 0 {
		t.Fatalf("data: exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "validation: whole speakers holding at least 0.1 of the training sessions") {
		t.Errorf("data does not say how validation is drawn:\n%s", out)
	}
	line := regexp.MustCompile(`(?m)^loso-ses(\d): validation speakers (.+)$`)
	folds := line.FindAllStringSubmatch(out, -1)
	if len(folds) != 5 {
		t.Fatalf("%d folds name their validation speakers, want 5:\n%s", len(folds), out)
	}
	for _, f := range folds {
		if strings.Contains(f[2], "Ses0"+f[1]) {
			t.Errorf("fold %s validates on its test session's speaker: %s", f[1], f[2])
		}
	}

	_, out, _ = runEmotion(t, "data", "--data", data, "--val-split", "speaker")
	m := line.FindStringSubmatch(strings.ReplaceAll(out, "session5:", "loso-ses5:"))
	if m == nil {
		t.Fatalf("session5 names no validation speakers:\n%s", out)
	}
	want := strings.Split(m[2], ", ")

	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	args := append([]string{"train", "--data", data, "--out", run, "--quiet", "--val-split", "speaker"}, tinyRun...)
	if code, _, e := runEmotion(t, args...); code != 0 {
		t.Fatalf("train: exit %d: %s", code, e)
	}
	var cfg struct {
		Run struct {
			Data struct{ ValSplit string } `json:"data"`
		} `json:"run"`
		ValSpeakers []string `json:"val_speakers"`
	}
	if b, err := os.ReadFile(filepath.Join(run, "config.json")); err != nil || json.Unmarshal(b, &cfg) != nil ||
		cfg.Run.Data.ValSplit != "speaker" || !slices.Equal(cfg.ValSpeakers, want) {
		t.Errorf("config.json records val split %q, speakers %v (%v); want speaker, %v", cfg.Run.Data.ValSplit, cfg.ValSpeakers, err, want)
	}
	ckpt := filepath.Join(run, "model.safetensors")
	for _, split := range []string{"val", "train"} {
		preds := filepath.Join(dir, split+".jsonl")
		if code, _, e := runEmotion(t, "eval", "--checkpoint", ckpt, "--split", split, "--predictions", preds, "--device", "cpu"); code != 0 {
			t.Fatalf("eval --split %s: exit %d: %s", split, code, e)
		}
		got := predictionSpeakers(t, preds)
		for _, sp := range want {
			if split == "val" && got[sp] == 0 || split == "train" && got[sp] > 0 {
				t.Errorf("eval --split %s: %d utterances of validation speaker %s", split, got[sp], sp)
			}
		}
		if split == "val" && len(got) != len(want) {
			t.Errorf("eval --split val: speakers %v, want only %v", got, want)
		}
	}
}
