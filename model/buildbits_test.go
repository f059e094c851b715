package model

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"testing"

	"github.com/emotionlab/emotion/host"
)

// TestBuildBits writes, where EMOTION_BITS_FILE names a file, a digest of
// the bits of a short training run of each model (initial parameters,
// every epoch's losses, the parameters at the end) on 1 and 3 threads. CI
// runs it under the default build and under GOAMD64=v3, where the compiler
// may fuse a*b+c, and compares the files: the CPU's bits must not depend
// on the instruction level the binary was built for. Without the variable
// it checks only that the digest does not depend on the thread count.
func TestBuildBits(t *testing.T) {
	var digests []string
	for _, threads := range []int{1, 3} {
		be := host.NewCPU(threads)
		h := sha256.New()
		put := func(v []float32) {
			for _, x := range v {
				h.Write(binary.LittleEndian.AppendUint32(nil, math.Float32bits(x)))
			}
		}
		params := func(tr *Trainer) {
			for _, p := range tr.Net.Params() {
				v := make([]float32, p.Len())
				be.Download(v, p.Value)
				put(v)
			}
		}
		for _, kind := range []string{KindSentence, KindDialog} {
			tr := newToyTrainer(t, be, kind, 2)
			// Clipping and weight decay too: every sum the optimiser takes.
			tr.Cfg.ClipNorm, tr.Opt.ClipNorm = 0.5, 0.5
			tr.Cfg.WeightDecay, tr.Opt.WeightDecay = 1e-3, 1e-3
			params(tr)
			if err := tr.Run(context.Background(), newToyData(kind, tr.Net.Config())); err != nil {
				t.Fatal(err)
			}
			for _, l := range tr.State.History {
				put([]float32{float32(l.TrainLoss), float32(l.ValLoss)})
				fmt.Fprintf(h, "%v %v|", l.TrainLoss, l.ValLoss)
			}
			params(tr)
			tr.Net.Release()
			tr.Release()
		}
		digests = append(digests, fmt.Sprintf("%x", h.Sum(nil)))
	}
	if digests[0] != digests[1] {
		t.Errorf("1 thread: %s; 3 threads: %s", digests[0], digests[1])
	}
	if path := os.Getenv("EMOTION_BITS_FILE"); path != "" {
		if err := os.WriteFile(path, []byte(digests[0]+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
