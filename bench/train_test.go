package bench

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"reflect"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/emotionlab/emotion/dataset"
	"github.com/emotionlab/emotion/host"
	"github.com/emotionlab/emotion/model"
)

func TestSyntheticShape(t *testing.T) {
	tests := []struct {
		kind      string
		count     int
		batchSize int
		bucket    bool
	}{
		{model.KindSentence, 200, 32, false},
		{model.KindSentence, 50, 32, true},
		{model.KindDialog, 60, 32, true},
	}
	for _, tc := range tests {
		o := SynthOptions{Bucket: tc.bucket, Seed: 7}
		b, err := Synthetic(tc.kind, tc.count, 3, tc.batchSize, o)
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Inputs) != tc.count || b.Warmup != 3 || len(b.Timed()) != tc.count-3 || b.Vocab != DefaultVocab ||
			b.Kind != tc.kind || b.SpeakerDim != dataset.SpeakerDim || b.Classes != 4 {
			t.Fatalf("%+v: %d batches, warm-up %d, vocab %d", tc, len(b.Inputs), b.Warmup, b.Vocab)
		}
		var lens []float64
		var counts [4]int
		short := 0
		windows := 0
		for _, in := range b.Inputs {
			if in.Size != tc.batchSize {
				t.Fatalf("%+v: a batch of %d", tc, in.Size)
			}
			if tc.kind == model.KindSentence && in.Turns != 1 || in.Turns > dataset.DefaultWindow {
				t.Fatalf("%+v: %d turns", tc, in.Turns)
			}
			for r := range in.Size {
				turns := int(in.TurnCounts[r])
				windows++
				if turns < dataset.DefaultWindow {
					short++
				}
				target := r*in.Turns + turns - 1
				lens = append(lens, float64(in.Lengths[target]))
				counts[in.Labels[r]]++
				for j := range in.Lengths[target] {
					if id := in.Tokens[target*in.MaxLen+int(j)]; id < 2 || int(id) >= DefaultVocab {
						t.Fatalf("token id %d", id)
					}
				}
			}
		}
		var sum, logSum float64
		for _, l := range lens {
			if l < 1 || l > 100 {
				t.Fatalf("length %g", l)
			}
			sum += l
			logSum += math.Log(l)
		}
		// IEMOCAP: mean 14.6 tokens, mean log length 2.36 (rounding and
		// clamping move the synthetic mean a little).
		mean, logMean := sum/float64(len(lens)), logSum/float64(len(lens))
		if tc.count == 200 && (mean < 13.5 || mean > 16.5 || math.Abs(logMean-2.36) > 0.08) {
			t.Errorf("%+v: mean length %.2f, mean log length %.3f; IEMOCAP's are 14.6 and 2.36", tc, mean, logMean)
		}
		// Classes in IEMOCAP's proportions: neutral and happy lead.
		if n := float64(len(lens)); tc.count == 200 && (math.Abs(float64(counts[2])/n-1708.0/5531) > 0.03 || math.Abs(float64(counts[0])/n-1103.0/5531) > 0.03) {
			t.Errorf("%+v: class counts %v", tc, counts)
		}
		if tc.kind == model.KindDialog {
			// 12.8% of IEMOCAP's windows are shorter than 10 turns.
			if f := float64(short) / float64(windows); f < 0.08 || f > 0.18 {
				t.Errorf("%+v: %.3f of the windows are short, want about 0.128", tc, f)
			}
		}
		// Balanced weights: Σ_k n_k·w_k = N.
		var nw float64
		for k, n := range counts {
			nw += float64(n) * float64(b.ClassWeights[k])
		}
		if math.Abs(nw-float64(len(lens))) > 1e-3*float64(len(lens)) {
			t.Errorf("%+v: class weights %v are not balanced for counts %v", tc, b.ClassWeights, counts)
		}
		again, _ := Synthetic(tc.kind, tc.count, 3, tc.batchSize, o)
		if !reflect.DeepEqual(again, b) {
			t.Errorf("%+v: the same options gave other batches", tc)
		}
		o.Seed++
		other, _ := Synthetic(tc.kind, tc.count, 3, tc.batchSize, o)
		if reflect.DeepEqual(other.Inputs[0].Tokens, b.Inputs[0].Tokens) {
			t.Errorf("%+v: another seed gave the same batches", tc)
		}
	}
}

// TestSyntheticBucketing checks that bucketing pads less, as in training.
func TestSyntheticBucketing(t *testing.T) {
	padding := func(bucket bool) float64 {
		b, err := Synthetic(model.KindSentence, 40, 0, 32, SynthOptions{Bucket: bucket, Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		s := Stats(b.Inputs)
		if s.Rows != 40*32 || s.Tokens <= 0 || s.Padded < s.Tokens {
			t.Fatalf("stats %+v", s)
		}
		return float64(s.Padded) / float64(s.Tokens)
	}
	if on, off := padding(true), padding(false); !(on < 1.3 && off > 2) {
		t.Errorf("padded/real tokens %.2f bucketed, %.2f not; want < 1.3 and > 2", on, off)
	}
}

func TestSyntheticErrors(t *testing.T) {
	tests := []struct {
		kind                    string
		count, warmup, batchSiz int
		o                       SynthOptions
	}{
		{"nope", 2, 0, 4, SynthOptions{}},
		{model.KindSentence, 0, 0, 4, SynthOptions{}},
		{model.KindSentence, 2, 2, 4, SynthOptions{}},
		{model.KindSentence, 2, 0, 0, SynthOptions{}},
		{model.KindDialog, 2, 0, 4, SynthOptions{Vocab: 2}},
	}
	for _, tc := range tests {
		if _, err := Synthetic(tc.kind, tc.count, tc.warmup, tc.batchSiz, tc.o); err == nil {
			t.Errorf("%+v: no error", tc)
		}
	}
}

func tinyConfig(kind string, vocab int) model.Config {
	c := model.DefaultConfig(kind, vocab, dataset.SpeakerDim)
	c.Embed, c.Hidden, c.Dense, c.DialogHid, c.Heads, c.AttnDim, c.Seed = 8, 4, 4, 4, 2, 8, 5
	return c
}

func TestBatchFileRoundTrip(t *testing.T) {
	for _, kind := range []string{model.KindSentence, model.KindDialog} {
		b, err := Synthetic(kind, 4, 1, 5, SynthOptions{Vocab: 40, Seed: 2, Bucket: true})
		if err != nil {
			t.Fatal(err)
		}
		cfg := tinyConfig(kind, b.Vocab)
		var buf bytes.Buffer
		if err := WriteBatches(&buf, b, cfg); err != nil {
			t.Fatal(err)
		}
		raw := buf.Bytes()
		if !bytes.HasPrefix(raw, []byte("EMOBATCH\x01\x00\x00\x00")) {
			t.Fatalf("file starts %q", raw[:12])
		}
		got, gotCfg, err := ReadBatches(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, b) || gotCfg != cfg {
			t.Errorf("%s: read back differs:\n%+v\n%+v", kind, got, b)
		}
		// The format's size: header, then per batch 12 bytes and 4 per element.
		n := 0
		for _, in := range b.Inputs {
			n += 12 + 4*(len(in.Tokens)+len(in.Lengths)+len(in.TurnCounts)+len(in.Speaker)+len(in.Labels))
		}
		hdr := int(raw[12]) | int(raw[13])<<8 | int(raw[14])<<16 | int(raw[15])<<24
		if len(raw) != 16+hdr+n {
			t.Errorf("%s: %d bytes, want 16 + %d + %d", kind, len(raw), hdr, n)
		}
		for _, bad := range []struct {
			name string
			data []byte
			want string
		}{
			{"magic", append([]byte("EMOBATCX"), raw[8:]...), "not a batch file"},
			{"version", append([]byte("EMOBATCH\x02"), raw[9:]...), "version 2"},
			{"truncated", raw[:len(raw)-3], io.ErrUnexpectedEOF.Error()},
			{"header", raw[:20], "header"},
			{"a count of 10^11", withHeader(t, raw, "count", 100_000_000_000), io.ErrUnexpectedEOF.Error()},
			{"speaker_dim 2^62", withHeader(t, raw, "speaker_dim", 1<<62), "speaker_dim"},
			{"dims whose product overflows", withDims(raw, [3]uint32{0xffffffff, 0xffffffff, 1}), "over 268435456 elements"},
			{"dims of 2^30 tokens", withDims(raw, [3]uint32{1 << 10, 1 << 10, 1 << 10}), "over 268435456 elements"},
			// Two rows of 2^27+1 speaker features: each count fits, the
			// speaker array (2^28+2 floats) does not.
			{"a speaker array over 2^28", withDims(withHeader(t, raw, "speaker_dim", 1<<27+1), [3]uint32{2, 1, 1}), "over 268435456 elements"},
		} {
			_, _, err := ReadBatches(bytes.NewReader(bad.data))
			if err == nil || !strings.Contains(err.Error(), bad.want) {
				t.Errorf("%s: %s: error %v, want %q", kind, bad.name, err, bad.want)
			}
		}
	}
}

// withHeader returns the batch file raw with its JSON header's key set to v.
func withHeader(t *testing.T, raw []byte, key string, v any) []byte {
	t.Helper()
	n := int(binary.LittleEndian.Uint32(raw[12:16]))
	var h map[string]any
	if err := json.Unmarshal(raw[16:16+n], &h); err != nil {
		t.Fatal(err)
	}
	h[key] = v
	hdr, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	out := append([]byte(nil), raw[:12]...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(hdr)))
	out = append(out, hdr...)
	return append(out, raw[16+n:]...)
}

// withDims returns the batch file raw with its first batch's shape set to d.
func withDims(raw []byte, d [3]uint32) []byte {
	n := int(binary.LittleEndian.Uint32(raw[12:16]))
	out := append([]byte(nil), raw...)
	for i, v := range d {
		binary.LittleEndian.PutUint32(out[16+n+4*i:], v)
	}
	return out
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteBatchesError(t *testing.T) {
	b, _ := Synthetic(model.KindSentence, 30, 1, 32, SynthOptions{Seed: 1})
	if err := WriteBatches(failWriter{}, b, tinyConfig(b.Kind, b.Vocab)); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("error %v", err)
	}
}

func TestRunTrain(t *testing.T) {
	for _, kind := range []string{model.KindSentence, model.KindDialog} {
		b, err := Synthetic(kind, 4, 2, 6, SynthOptions{Vocab: 60, Seed: 4, Bucket: true})
		if err != nil {
			t.Fatal(err)
		}
		cfg := tinyConfig(kind, b.Vocab)
		be := host.NewCPU(1)
		allocs := heapAllocs()
		rep, err := RunTrain(be, b, cfg, 3)
		if err != nil {
			t.Fatal(err)
		}
		// The headline pass's allocations are some of RunTrain's, which
		// also built the network.
		if during := heapAllocs() - allocs; !(rep.AllocBytesPerStep*3 < float64(during)) {
			t.Errorf("%s: %g bytes allocated per step of 3, %d by the whole run", kind, rep.AllocBytesPerStep, during)
		}
		net, _ := model.New(host.NewCPU(1), cfg)
		stats := Stats(append(append([]model.Inputs(nil), b.Timed()...), b.Timed()[0])) // steps cycle: 2 timed batches, 3 steps
		switch {
		case rep.Framework != "emotion" || rep.Model != kind || rep.Source != "synthetic" || rep.Backend != "cpu (1 thread)":
			t.Errorf("%s: header %+v", kind, rep)
		case rep.Params != model.NumParams(net) || rep.Steps != 3 || rep.Warmup != 2 || rep.BatchSize != 6:
			t.Errorf("%s: %d params (want %d), %d steps, %d warm-up, batch %d", kind, rep.Params, model.NumParams(net), rep.Steps, rep.Warmup, rep.BatchSize)
		case rep.RowsPerStep != 6 || rep.TokensPerStep != float64(stats.Tokens)/3 || rep.PaddedPerStep != float64(stats.Padded)/3:
			t.Errorf("%s: per step %g rows, %g tokens, %g padded; want 6, %g, %g", kind, rep.RowsPerStep, rep.TokensPerStep, rep.PaddedPerStep,
				float64(stats.Tokens)/3, float64(stats.Padded)/3)
		case !(rep.Seconds > 0) || math.Abs(rep.UttPerSec-18/rep.Seconds) > 1e-9*rep.UttPerSec || math.Abs(rep.MsPerStep-rep.Seconds*1e3/3) > 1e-9:
			t.Errorf("%s: %g s, %g utt/s, %g ms/step", kind, rep.Seconds, rep.UttPerSec, rep.MsPerStep)
		case !(rep.ForwardMs > 0 && rep.BackwardMs > 0 && rep.OptimizerMs > 0):
			t.Errorf("%s: split %g %g %g", kind, rep.ForwardMs, rep.BackwardMs, rep.OptimizerMs)
		case !(rep.FinalLoss > 0) || math.IsInf(rep.FinalLoss, 0):
			t.Errorf("%s: loss %g", kind, rep.FinalLoss)
		case rep.PoolBytes <= 0 || rep.HeapPeakBytes <= 0 || rep.HeapSysBytes < rep.HeapPeakBytes || rep.AllocBytesPerStep < 0:
			t.Errorf("%s: memory %+v", kind, rep)
		case peakRSS() > 0 && rep.PeakRSSBytes < rep.PoolBytes:
			t.Errorf("%s: peak RSS %d below the pool's %d bytes", kind, rep.PeakRSSBytes, rep.PoolBytes)
		}
	}
}

func TestRunTrainErrors(t *testing.T) {
	b, _ := Synthetic(model.KindSentence, 3, 1, 4, SynthOptions{Vocab: 60, Seed: 4})
	if _, err := RunTrain(host.NewCPU(1), b, tinyConfig(model.KindSentence, 30), 2); err == nil || !strings.Contains(err.Error(), "vocabulary") {
		t.Errorf("small vocabulary: %v", err)
	}
	if _, err := RunTrain(host.NewCPU(1), b, tinyConfig(model.KindSentence, 60), 0); err == nil {
		t.Error("no steps: no error")
	}
	bad := tinyConfig(model.KindSentence, 60)
	bad.Hidden = 0
	if _, err := RunTrain(host.NewCPU(1), b, bad, 1); err == nil || !strings.Contains(err.Error(), "hidden") {
		t.Errorf("bad config: %v", err)
	}
}

func TestPeakRSS(t *testing.T) {
	before := peakRSS()
	if before <= 0 {
		t.Skip("peak RSS not available here")
	}
	buf := make([]byte, 64<<20)
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = 1
	}
	if after := peakRSS(); after < before || after < 64<<20 {
		t.Errorf("peak RSS %d before and %d after touching 64 MiB", before, after)
	}
	_ = buf[len(buf)-1]

	// The peak is in bytes, at least the resident set now (read first,
	// so that the peak read after it bounds it). With the heap's free
	// memory returned to the system, touching more than the peak holds
	// above the resident set makes a new peak, so that the two are close
	// and a peak in the wrong unit falls below the resident set.
	debug.FreeOSMemory()
	now, ok := vmRSS()
	if !ok {
		t.Skip("no VmRSS")
	}
	more := make([]byte, max(64<<20, peakRSS()-now+64<<20))
	for i := 0; i < len(more); i += 4096 {
		more[i] = 1
	}
	if now, _ = vmRSS(); peakRSS() < now {
		t.Errorf("peak RSS %d bytes below the resident set of %d", peakRSS(), now)
	}
	_ = more[len(more)-1]
}

// vmRSS reads the resident set of /proc/self/status ("VmRSS: N kB"), in
// bytes.
func vmRSS() (int64, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) != 2 || f[1] != "kB" {
				return 0, false
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}
