package model

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/emotionlab/emotion/dataset"
	"github.com/emotionlab/emotion/host"
)

// FuzzLoadCheckpoint feeds LoadModel and LoadTraining mutations of a
// training checkpoint written mid-run (uncompressed and compressed). Each
// must load or return an error; a trainer that loads must then train on
// without a panic (a resumed state whose counters or config make no sense
// is the loader's to refuse, not Run's to crash on).
func FuzzLoadCheckpoint(f *testing.F) {
	be := host.NewCPU(1)
	dir := f.TempDir()
	for _, kind := range []string{KindSentence, KindDialog} {
		tr := newToyTrainer(f, be, kind, 2)
		data := newToyData(kind, tr.Net.Config())
		ctx, cancel := context.WithCancel(context.Background())
		tr.OnBatch = func(done, total, seen int, loss, acc float64) {
			if done == 3 {
				cancel()
			}
		}
		if err := tr.Run(ctx, data); err != ErrInterrupted {
			f.Fatalf("Run = %v, want ErrInterrupted", err)
		}
		meta := Meta{Vocab: make([]string, tr.Net.Config().Vocab), Labels: dataset.LabelNames[:]}
		for _, compress := range []bool{false, true} {
			path := filepath.Join(dir, "seed.safetensors")
			if err := SaveTraining(path, be, tr, meta, compress); err != nil {
				f.Fatal(err)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
		tr.Net.Release()
		tr.Release()
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(t.TempDir(), "fuzz.safetensors")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if net, _, err := LoadModel(path, be); err == nil {
			net.Release()
		}
		tr, _, err := LoadTraining(path, be)
		if err != nil {
			return
		}
		defer tr.Net.Release()
		defer tr.Release()
		data := newToyData(tr.Net.Config().Kind, tr.Net.Config())
		tr.Cfg.Epochs = min(tr.Cfg.Epochs, tr.State.Epoch+1) // one more epoch at most
		_ = tr.Run(context.Background(), data)
	})
}
