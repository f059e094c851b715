package main

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/emotionlab/emotion/host"
	"github.com/emotionlab/emotion/model"
)

// fixtureVectors writes GloVe-style vectors of 6 values for some of the
// fixture's tokens (and one it lacks) and returns the file and the vectors.
func fixtureVectors(t *testing.T) (string, map[string][]float32) {
	t.Helper()
	vecs := map[string][]float32{
		"and":   {0.5, -0.25, 1, 0, 2, -1},
		"more":  {1, 1, 1, 1, 1, 1},
		"word3": {-0.5, 0.5, -0.5, 0.5, -0.5, 0.5},
		"zebra": {9, 9, 9, 9, 9, 9},
	}
	var b strings.Builder
	for _, w := range slices.Sorted(maps.Keys(vecs)) {
		b.WriteString(w)
		for _, x := range vecs[w] {
			b.WriteString(" " + strconv.FormatFloat(float64(x), 'g', -1, 32))
		}
		b.WriteString("\n")
	}
	path := filepath.Join(t.TempDir(), "vectors.txt")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, vecs
}

// embeddingRows loads a checkpoint and returns its embedding rows by token.
func embeddingRows(t *testing.T, path string) (map[string][]float32, model.Config) {
	t.Helper()
	be := host.NewCPU(1)
	net, meta, err := model.LoadModel(path, be)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Release()
	e := net.Embedding()
	w := make([]float32, e.Weight.Len())
	be.Download(w, e.Weight.Value)
	if err := be.Sync(); err != nil {
		t.Fatal(err)
	}
	rows := map[string][]float32{}
	for id, tok := range meta.Vocab {
		rows[tok] = w[id*e.Dim : (id+1)*e.Dim]
	}
	return rows, net.Config()
}

// TestTrainEmbeddings trains from pretrained vectors: --embed defaults to
// their size, the tokens with a vector start from it (and keep it when
// frozen, through --resume and in every fold of loso), config.json counts
// them, and a mismatched --embed or a missing file is refused.
func TestTrainEmbeddings(t *testing.T) {
	data, _ := writeFixture(t)
	vectors, vecs := fixtureVectors(t)
	small := []string{"--device", "cpu", "--hidden", "4", "--dense", "4", "--min-count", "1", "--max-batches", "2"}

	out := filepath.Join(t.TempDir(), "frozen")
	args := append([]string{"train", "--data", data, "--out", out, "--embeddings", vectors, "--freeze-embeddings", "--epochs", "1"}, small...)
	code, _, errOut := runEmotion(t, args...)
	if code != 0 {
		t.Fatalf("train --embeddings --freeze-embeddings: exit %d: %s", code, errOut)
	}
	if !strings.Contains(errOut, "word vectors for 3 of the ") || !strings.Contains(errOut, vectors+" (4 vectors of 6 values), frozen") {
		t.Errorf("stderr does not report the vectors found: %s", errOut)
	}
	// 3 of the fixture's 25 tokens: a warning that most have none.
	if !strings.Contains(errOut, "warning: "+out+": most tokens have no vector in "+vectors) {
		t.Errorf("no warning of the low coverage: %s", errOut)
	}
	check := func(dir string) {
		t.Helper()
		rows, cfg := embeddingRows(t, filepath.Join(dir, "model.safetensors"))
		if cfg.Embed != 6 {
			t.Errorf("%s: embedding size %d, want the vectors' 6", dir, cfg.Embed)
		}
		for w, v := range vecs {
			if w != "zebra" && !slices.Equal(rows[w], v) {
				t.Errorf("%s: %q = %v, want its frozen vector %v", dir, w, rows[w], v)
			}
		}
		var c struct {
			Found int                         `json:"embeddings_found"`
			Train model.TrainConfig           `json:"train"`
			Run   struct{ Embeddings string } `json:"run"`
		}
		b, err := os.ReadFile(filepath.Join(dir, "config.json"))
		if err == nil {
			err = json.Unmarshal(b, &c)
		}
		if err != nil || c.Found != 3 || !c.Train.FreezeEmbeddings || c.Run.Embeddings != vectors {
			t.Errorf("%s/config.json: found %d, freeze %v, embeddings %q (%v); want 3, true, %s", dir, c.Found, c.Train.FreezeEmbeddings, c.Run.Embeddings, err, vectors)
		}
	}
	check(out)
	code, _, errOut = runEmotion(t, "train", "--resume", filepath.Join(out, "state.safetensors"), "--epochs", "2", "--quiet", "--device", "cpu")
	if code != 0 {
		t.Fatalf("--resume: exit %d: %s", code, errOut)
	}
	check(out)

	// Fine-tuned: the vectors are where training starts, not where it ends.
	tuned := filepath.Join(t.TempDir(), "tuned")
	code, _, errOut = runEmotion(t, append([]string{"train", "--data", data, "--out", tuned, "--embeddings", vectors, "--epochs", "1", "--quiet"}, small...)...)
	if code != 0 {
		t.Fatalf("train --embeddings: exit %d: %s", code, errOut)
	}
	if rows, _ := embeddingRows(t, filepath.Join(tuned, "model.safetensors")); slices.Equal(rows["and"], vecs["and"]) {
		t.Error("without --freeze-embeddings the vector of \"and\" did not move in training")
	}

	loso := filepath.Join(t.TempDir(), "loso")
	code, _, errOut = runEmotion(t, append([]string{"train", "--data", data, "--out", loso, "--protocol", "loso", "--embeddings", vectors, "--freeze-embeddings", "--epochs", "1", "--quiet"}, small...)...)
	if code != 0 {
		t.Fatalf("loso: exit %d: %s", code, errOut)
	}
	for k := 1; k <= 5; k++ {
		check(filepath.Join(loso, "fold"+string(rune('0'+k))))
	}

	// Frozen without vectors: allowed (a fixed random embedding is an
	// experiment), but said.
	code, _, errOut = runEmotion(t, append([]string{"train", "--data", data, "--out", filepath.Join(t.TempDir(), "random"), "--freeze-embeddings", "--epochs", "1", "--embed", "4"}, small...)...)
	if code != 0 || !strings.Contains(errOut, "note: --freeze-embeddings without --embeddings keeps the random initial embedding fixed") {
		t.Errorf("--freeze-embeddings alone: exit %d, stderr %q", code, errOut)
	}

	for _, tc := range []struct {
		name  string
		extra []string
		code  int
		want  []string
	}{
		{"other size", []string{"--embeddings", vectors, "--embed", "8"}, 2, []string{"--embed 8", "have 6 values"}},
		{"missing file", []string{"--embeddings", filepath.Join(data, "none.txt")}, 1, []string{"none.txt"}},
		{"with --resume and --out", []string{"--resume", filepath.Join(out, "state.safetensors"), "--embeddings", vectors}, 2, []string{"--out cannot change"}},
	} {
		code, _, errOut := runEmotion(t, append([]string{"train", "--data", data, "--out", filepath.Join(t.TempDir(), "x"), "--quiet", "--device", "cpu"}, tc.extra...)...)
		if code != tc.code {
			t.Errorf("%s: exit %d, want %d: %s", tc.name, code, tc.code, errOut)
		}
		for _, w := range tc.want {
			if !strings.Contains(errOut, w) {
				t.Errorf("%s: stderr %q does not say %q", tc.name, errOut, w)
			}
		}
	}
}

// TestResumeWithMovedEmbeddings: a loso run stopped in its first fold
// reads its word vectors again for each fold it starts. Moved, they are an
// error naming the old path; --resume --embeddings says where they now
// are (checked against the run's embedding size), and the folds that
// start read them there. A run started without vectors refuses it.
func TestResumeWithMovedEmbeddings(t *testing.T) {
	data, _ := writeFixture(t)
	vectors, _ := fixtureVectors(t)
	out := filepath.Join(t.TempDir(), "loso")
	// --json stops after fold 1's first epoch, saved
	code, e := emotionStdoutFull([]string{"train", "--data", data, "--out", out, "--protocol", "loso", "--embeddings", vectors, "--epochs", "2", "--json",
		"--device", "cpu", "--hidden", "4", "--dense", "4", "--min-count", "1", "--max-batches", "2", "--threads", "1"})
	if code != 1 {
		t.Fatalf("loso with a failing standard output: exit %d: %s", code, e)
	}
	state := filepath.Join(out, "fold1", "state.safetensors")
	moved := filepath.Join(t.TempDir(), "moved.txt")
	if err := os.Rename(vectors, moved); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runEmotion(t, "train", "--resume", state, "--quiet", "--device", "cpu"); code != 1 || !strings.Contains(errOut, vectors) {
		t.Errorf("--resume with the vectors moved: exit %d, stderr %q; want an error naming %s", code, errOut, vectors)
	}
	other := filepath.Join(t.TempDir(), "other.txt")
	if err := os.WriteFile(other, []byte("and 1 2 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runEmotion(t, "train", "--resume", state, "--embeddings", other, "--quiet", "--device", "cpu"); code != 1 || !strings.Contains(errOut, "vectors of 3 values, the run's embedding 6") {
		t.Errorf("--resume --embeddings of another size: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := runEmotion(t, "train", "--resume", state, "--embeddings", moved, "--quiet", "--device", "cpu"); code != 0 {
		t.Fatalf("--resume --embeddings %s: exit %d: %s", moved, code, errOut)
	}
	var c struct {
		Found int                         `json:"embeddings_found"`
		Run   struct{ Embeddings string } `json:"run"`
	}
	b, err := os.ReadFile(filepath.Join(out, "fold5", "config.json"))
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || c.Run.Embeddings != moved || c.Found != 3 {
		t.Errorf("fold5/config.json: embeddings %q, found %d (%v); want %s, 3", c.Run.Embeddings, c.Found, err, moved)
	}

	plain := filepath.Join(t.TempDir(), "plain")
	if code, _, e := runEmotion(t, "train", "--data", data, "--out", plain, "--epochs", "1", "--quiet", "--device", "cpu", "--embed", "4", "--hidden", "4", "--dense", "4", "--max-batches", "1"); code != 0 {
		t.Fatalf("train: exit %d: %s", code, e)
	}
	if code, _, errOut := runEmotion(t, "train", "--resume", filepath.Join(plain, "state.safetensors"), "--embeddings", moved, "--device", "cpu"); code != 2 || !strings.Contains(errOut, "started without --embeddings") {
		t.Errorf("--resume --embeddings of a run without vectors: exit %d, stderr %q", code, errOut)
	}
}
