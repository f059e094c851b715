package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/emotionlab/emotion/dataset"
	"github.com/emotionlab/emotion/model"
	"github.com/emotionlab/emotion/model/safetensors"
)

// TestTrainLongToken: a training token longer than dataset.MaxTokenRunes
// characters (a 15 MB "word" made a vocabulary whose checkpoint no reader
// accepts, and saving after the first epoch failed without naming it) is
// left out of the vocabulary and read as <unk>, with a warning that says
// how many there were and the longest.
func TestTrainLongToken(t *testing.T) {
	data, _ := writeFixture(t)
	csvPath := filepath.Join(data, "all.csv")
	b, err := os.ReadFile(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", dataset.MaxTokenRunes+50)
	b = []byte(strings.ReplaceAll(string(b), `"word3, and`, `"word3 `+long+`, and`))
	if err := os.WriteFile(csvPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "run")
	code, _, errOut := runEmotion(t, append([]string{"train", "--data", data, "--out", out}, tinyRun...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(errOut, "training tokens are longer than 100 characters (the longest, \"xxxxxxxxxxxxxxxxxxxx\"…, has 150)") ||
		!strings.Contains(errOut, "read as <unk>") {
		t.Errorf("no warning about the long token: %q", errOut)
	}
	_, md, err := safetensors.Load(filepath.Join(out, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	var vocab []string
	if err := json.Unmarshal([]byte(md["emotion.vocab"]), &vocab); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(vocab, long) || !slices.Contains(vocab, "word3") {
		t.Errorf("vocabulary %q", vocab)
	}
	// --quiet: no warning.
	if code, _, errOut := runEmotion(t, append([]string{"train", "--data", data, "--out", filepath.Join(t.TempDir(), "run"), "--quiet"}, tinyRun...)...); code != 0 || errOut != "" {
		t.Errorf("--quiet: exit %d, stderr %q", code, errOut)
	}
}

// TestTrainVocabularyTooLarge: a fresh run whose vocabulary would not fit a
// checkpoint's header (model.CheckMeta) fails before its first epoch,
// where saving after it failed, naming the folder and --min-count, and
// writes no config, log or checkpoint.
func TestTrainVocabularyTooLarge(t *testing.T) {
	defer func(f func(model.Meta) error) { checkMeta = f }(checkMeta)
	var vocab int
	checkMeta = func(m model.Meta) error {
		vocab = len(m.Vocab)
		return fmt.Errorf("its vocabulary of %d tokens is too large", len(m.Vocab))
	}
	data, _ := writeFixture(t)
	out := filepath.Join(t.TempDir(), "run")
	code, _, errOut := runEmotion(t, append([]string{"train", "--data", data, "--out", out, "--quiet"}, tinyRun...)...)
	if want := fmt.Sprintf("emotion: %s: its vocabulary of %d tokens is too large; --min-count 1 keeps tokens seen that often: raise it to keep fewer\n", out, vocab); code != 1 || errOut != want {
		t.Errorf("exit %d, stderr %q, want %q", code, errOut, want)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("the run wrote %d files", len(entries))
	}
}
