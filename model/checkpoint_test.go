package model

import (
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emotionlab/emotion/host"
	"github.com/emotionlab/emotion/model/safetensors"
)

// TestConfigNumParams checks the parameter count computed from a config
// alone against the networks built from it.
func TestConfigNumParams(t *testing.T) {
	be := host.NewCPU(1)
	for _, kind := range []string{KindSentence, KindDialog} {
		for _, c := range []Config{smallConfig(kind), DefaultConfig(kind, 51, 2), DefaultConfig(kind, 9, 0)} {
			net, err := New(be, c)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := c.NumParams(), int64(NumParams(net)); got != want {
				t.Errorf("%s %+v: NumParams() = %d, the network has %d", kind, c, got, want)
			}
			net.Release()
		}
	}
}

// TestCheckpointRejectsCorrupt edits a good checkpoint in the ways a file
// can go wrong and checks that loading it fails, naming what is wrong,
// before anything of a corrupt size is allocated.
func TestCheckpointRejectsCorrupt(t *testing.T) {
	be := host.NewCPU(1)
	cfg := smallConfig(KindSentence)
	net, err := New(be, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Release()
	vocab := make([]string, cfg.Vocab)
	for i := range vocab {
		vocab[i] = string(rune('a' + i))
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.safetensors")
	if err := SaveModel(good, be, net, nil, Meta{Vocab: vocab, Labels: []string{"angry", "happy", "neutral", "sad"}}, false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadModel(good, be); err != nil {
		t.Fatalf("the unedited checkpoint: %v", err)
	}
	editConfig := func(f func(*Config)) func([]safetensors.Tensor, map[string]string) []safetensors.Tensor {
		return func(ts []safetensors.Tensor, md map[string]string) []safetensors.Tensor {
			var c Config
			if err := json.Unmarshal([]byte(md[metaConfig]), &c); err != nil {
				t.Fatal(err)
			}
			f(&c)
			b, _ := json.Marshal(c)
			md[metaConfig] = string(b)
			return ts
		}
	}
	setTensor := func(name string, v []float32) func([]safetensors.Tensor, map[string]string) []safetensors.Tensor {
		return func(ts []safetensors.Tensor, md map[string]string) []safetensors.Tensor {
			for i, x := range ts {
				if x.Name == name {
					nt, err := safetensors.FromFloat32(name, x.Shape, v)
					if err != nil {
						t.Fatal(err)
					}
					ts[i] = nt
				}
			}
			return ts
		}
	}
	rename := func(from, to string) func([]safetensors.Tensor, map[string]string) []safetensors.Tensor {
		return func(ts []safetensors.Tensor, md map[string]string) []safetensors.Tensor {
			for i := range ts {
				if ts[i].Name == from {
					ts[i].Name = to
				}
			}
			return ts
		}
	}
	for _, tc := range []struct {
		name string
		edit func([]safetensors.Tensor, map[string]string) []safetensors.Tensor
		want string
	}{
		{"embedding size far too large", editConfig(func(c *Config) { c.Embed = 1 << 30 }), "embed = 1073741824, more than"},
		{"hidden size the tensors do not hold", editConfig(func(c *Config) { c.Hidden = 1 << 20 }), "its tensors hold"},
		{"labels in another order", func(ts []safetensors.Tensor, md map[string]string) []safetensors.Tensor {
			md[metaLabels] = `["sad","neutral","happy","angry"]`
			return ts
		}, "labels"},
		{"five classes", func(ts []safetensors.Tensor, md map[string]string) []safetensors.Tensor {
			md[metaLabels] = `["angry","happy","neutral","sad","fear"]`
			return editConfig(func(c *Config) { c.Classes = 5 })(ts, md)
		}, "labels"},
		{"a NaN weight", setTensor("fc2.bias", []float32{0, float32(math.NaN()), 0, 0}), `"fc2.bias": element 1 is NaN`},
		{"an infinite weight", setTensor("fc2.bias", []float32{0, 0, float32(math.Inf(-1)), 0}), `"fc2.bias": element 2 is -Inf`},
		{"a tensor under another name", rename("fc2.bias", "fc2.bogus"), `unexpected tensor "fc2.bogus"`},
		{"a tensor missing", rename("fc2.bias", "optimizer.exp_avg.fc2.bias"), "its tensors hold"},
		{"a best-epoch tensor of no parameter", func(ts []safetensors.Tensor, md map[string]string) []safetensors.Tensor {
			extra, err := safetensors.FromFloat32("best.bogus", []int{2}, []float32{1, 2})
			if err != nil {
				t.Fatal(err)
			}
			return append(ts, extra)
		}, `unexpected tensor "best.bogus"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, md, err := safetensors.Load(good)
			if err != nil {
				t.Fatal(err)
			}
			ts = tc.edit(ts, md)
			bad := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".safetensors")
			if err := safetensors.Save(bad, ts, md, false); err != nil {
				t.Fatal(err)
			}
			_, _, err = LoadModel(bad, be)
			if err == nil {
				t.Fatal("loaded without error")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), bad) {
				t.Errorf("error %q does not name %q and the file", err, tc.want)
			}
		})
	}
}
