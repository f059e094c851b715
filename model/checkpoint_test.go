package model

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/emotionlab/emotion/dataset"
	"github.com/emotionlab/emotion/host"
	"github.com/emotionlab/emotion/model/safetensors"
)

// TestConfigNumParams checks the parameter count, names and shapes
// computed from a config alone against the networks built from it.
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
			shapes, params := c.ParamShapes(), net.Params()
			if len(shapes) != len(params) {
				t.Errorf("%s: ParamShapes lists %d parameters, the network has %d", kind, len(shapes), len(params))
			}
			for i := range min(len(shapes), len(params)) {
				if shapes[i].Name != params[i].Name || !slices.Equal(shapes[i].Shape, params[i].Shape) {
					t.Errorf("%s: ParamShapes()[%d] = %s %v, the network's %s %v", kind, i, shapes[i].Name, shapes[i].Shape, params[i].Name, params[i].Shape)
				}
			}
			net.Release()
		}
	}
}

// saveSmallModel saves a small sentence model, its vocabulary the
// letters, at path.
func saveSmallModel(t *testing.T, be host.Backend, path string, compress bool) {
	t.Helper()
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
	if err := SaveModel(path, be, net, nil, Meta{Vocab: vocab, Labels: dataset.LabelNames[:]}, compress); err != nil {
		t.Fatal(err)
	}
}

// TestCheckpointRejectsCorrupt edits a good checkpoint in the ways a file
// can go wrong and checks that loading it fails, naming what is wrong,
// before anything of a corrupt size is allocated.
func TestCheckpointRejectsCorrupt(t *testing.T) {
	be := host.NewCPU(1)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.safetensors")
	saveSmallModel(t, be, good, false)
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
		{"hidden size the tensors do not hold", editConfig(func(c *Config) { c.Hidden = 1 << 20 }),
			`its tensors hold 833: tensor "fc1.weight" has shape [6 13], the model needs [6 2097155]`},
		{"a tensor more", func(ts []safetensors.Tensor, md map[string]string) []safetensors.Tensor {
			extra, err := safetensors.FromFloat32("fc3.bias", []int{2}, []float32{1, 2})
			if err != nil {
				t.Fatal(err)
			}
			return append(ts, extra)
		}, `its tensors hold 835: unexpected tensor "fc3.bias"`},
		{"labels in another order", func(ts []safetensors.Tensor, md map[string]string) []safetensors.Tensor {
			md[metaLabels] = `["sad","neutral","happy","angry"]`
			return ts
		}, "labels"},
		{"five classes", func(ts []safetensors.Tensor, md map[string]string) []safetensors.Tensor {
			md[metaLabels] = `["angry","happy","neutral","sad","fear"]`
			return editConfig(func(c *Config) { c.Classes = 5 })(ts, md)
		}, "labels"},
		{"a vocabulary short of the config's", func(ts []safetensors.Tensor, md map[string]string) []safetensors.Tensor {
			md[metaVocab] = `["a","b"]`
			return ts
		}, "vocabulary has 2 tokens, config says 23"},
		{"a NaN weight", setTensor("fc2.bias", []float32{0, float32(math.NaN()), 0, 0}), `"fc2.bias": element 1 is NaN`},
		{"an infinite weight", setTensor("fc2.bias", []float32{0, 0, float32(math.Inf(-1)), 0}), `"fc2.bias": element 2 is -Inf`},
		{"a tensor under another name", rename("fc2.bias", "fc2.bogus"), `unexpected tensor "fc2.bogus"`},
		{"a weight transposed", func(ts []safetensors.Tensor, md map[string]string) []safetensors.Tensor {
			for i := range ts {
				if ts[i].Name == "fc1.weight" { // [6, 13] as [13, 6]: as many elements
					slices.Reverse(ts[i].Shape)
				}
			}
			return ts
		}, `"fc1.weight" has shape [13 6], the model needs [6 13]`},
		{"a tensor missing", rename("fc2.bias", "optimizer.exp_avg.fc2.bias"), `its tensors hold 829: no tensor "fc2.bias"`},
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

// TestLoadCheckpointHints: a folder, a file missing where its compressed
// form is, and a text file given for a checkpoint each say what to give.
func TestLoadCheckpointHints(t *testing.T) {
	be := host.NewCPU(1)
	run := t.TempDir()
	model := filepath.Join(run, "model.safetensors")
	saveSmallModel(t, be, model+".zst", true)
	config := filepath.Join(run, "config.json")
	if err := os.WriteFile(config, []byte(`{"run": {"data": "x"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		want       []string
	}{
		{"a run folder", run, []string{"checkpoint " + run + " is a folder: give a checkpoint file", "this folder has " + model + ".zst"}},
		{"an empty folder", t.TempDir(), []string{"is a folder: give a checkpoint file: a run's model.safetensors to evaluate or predict, its state.safetensors to resume"}},
		{"compressed beside", model, []string{model, "no such file", model + ".zst, beside it, is a compressed checkpoint (--compress): give that"}},
		{"config.json", config, []string{config, "not a safetensors file: it begins with the text"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, load := range []func() error{
				func() error { _, _, err := LoadModel(tc.path, be); return err },
				func() error { _, _, err := LoadTraining(tc.path, be); return err },
			} {
				err := load()
				for _, w := range tc.want {
					if err == nil || !strings.Contains(err.Error(), w) {
						t.Errorf("error %v; want %q in it", err, w)
					}
				}
			}
		})
	}
	if _, _, err := LoadModel(model+".zst", be); err != nil {
		t.Errorf("the compressed checkpoint: %v", err)
	}
}

// TestTrainingCheckpointRejectsBadState edits the run state and training
// config of a checkpoint written mid-run into values no run can have, and
// checks that LoadTraining refuses each, naming the field, instead of
// resuming into a panic or a silently different run.
func TestTrainingCheckpointRejectsBadState(t *testing.T) {
	be := host.NewCPU(1)
	tr := newToyTrainer(t, be, KindSentence, 3)
	data := newToyData(KindSentence, tr.Net.Config())
	ctx, cancel := context.WithCancel(context.Background())
	tr.OnBatch = func(done, total, seen int, loss, acc float64) {
		if tr.State.Epoch == 1 && done == 2 {
			cancel()
		}
	}
	if err := tr.Run(ctx, data); err != ErrInterrupted {
		t.Fatalf("Run = %v, want ErrInterrupted", err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.safetensors")
	meta := Meta{Vocab: make([]string, tr.Net.Config().Vocab), Labels: dataset.LabelNames[:]}
	if err := SaveTraining(good, be, tr, meta, false); err != nil {
		t.Fatal(err)
	}
	savedBest, savedStep := tr.Best, tr.Opt.Step
	tr.Net.Release()
	tr.Release()
	// Unedited, it loads with the best epoch's parameters and the Adam
	// step it was saved with (SaveTraining after LoadTraining, without a
	// Run between, must not reset the step to 0).
	if r, _, err := LoadTraining(good, be); err != nil {
		t.Fatalf("the unedited checkpoint: %v", err)
	} else {
		if savedStep == 0 || r.Opt.Step != savedStep {
			t.Errorf("loaded Adam step %d, saved %d", r.Opt.Step, savedStep)
		}
		if len(r.Best) != len(savedBest) {
			t.Fatalf("loaded %d best-epoch tensors, saved %d", len(r.Best), len(savedBest))
		}
		for i := range savedBest {
			if !slices.Equal(r.Best[i], savedBest[i]) {
				t.Errorf("best-epoch %s differs from the saved one", r.Net.Params()[i].Name)
			}
		}
		r.Net.Release()
		r.Release()
	}
	editJSON := func(key string, f func(map[string]any)) func(map[string]string) {
		return func(md map[string]string) {
			var v map[string]any
			if err := json.Unmarshal([]byte(md[key]), &v); err != nil {
				t.Fatal(err)
			}
			f(v)
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			md[key] = string(b)
		}
	}
	state := func(field string, value any) func(map[string]string) {
		return editJSON(metaTrainState, func(v map[string]any) { v[field] = value })
	}
	config := func(field string, value any) func(map[string]string) {
		return editJSON(metaTrainCfg, func(v map[string]any) { v[field] = value })
	}
	for _, tc := range []struct {
		name string
		edit func(map[string]string)
		want string
	}{
		{"negative batch", state("batch", -1), "batch"},
		{"negative epoch", state("epoch", -2), "epoch"},
		{"negative Adam step", state("adam_step", -5), "adam_step"},
		{"more correct than seen", state("correct", 1000), "correct"},
		{"best epoch after the last", state("best_epoch", 9), "best_epoch"},
		{"dropout counters of another network", state("dropout_counters", []uint64{1, 2, 3, 4, 5, 6, 7}), "dropout_counters"},
		{"no epochs", config("epochs", -1), "epochs"},
		{"negative patience", config("patience", -1), "patience"},
		{"a learning rate of zero", config("lr", 0), "lr"},
		{"history shorter than the epochs", state("history", []any{}), "history"},
		{"bad epochs after the last best epoch", state("bad_epochs", 1), "bad_epochs"},
		{"a best accuracy above 1", state("best_val_acc", 1.5), "best_val_acc"},
		{"a negated loss where the accuracy is monitored", state("best_val_acc", -1.2), "best_val_acc"},
		{"an accuracy where the loss is monitored", func(md map[string]string) {
			config("monitor", "val_loss")(md)
			state("best_val_acc", 0.5)(md)
		}, "best_val_acc"},
		{"a negative loss sum", state("loss_sum", -1), "loss_sum"},
		{"no best epoch after an epoch", state("best_epoch", 0), "best_epoch"},
		{"a negative weight decay", config("weight_decay", -0.1), "weight_decay"},
		{"a negative clip norm", config("clip_norm", -1), "clip_norm"},
		{"three class weights", config("class_weights", []float32{1, 1, 1}), "class_weights"},
		{"a negative class weight", config("class_weights", []float32{1, -1, 1, 1}), "class_weights"},
		{"a moving average's decay of 1", config("ema", 1), "ema = 1"},
		{"a moving average without its tensors", config("ema", 0.9), "the moving average of a run with ema = 0.9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, md, err := safetensors.Load(good)
			if err != nil {
				t.Fatal(err)
			}
			before := md[metaTrainState]
			tc.edit(md)
			bad := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".safetensors")
			if err := safetensors.Save(bad, ts, md, false); err != nil {
				t.Fatal(err)
			}
			if md[metaTrainState] != before { // LoadModel reads the state too
				if net, _, err := LoadModel(bad, be); err == nil {
					net.Release()
					t.Error("LoadModel loaded it without error")
				} else if !strings.Contains(err.Error(), tc.want) {
					t.Errorf("LoadModel: error %q does not name %q", err, tc.want)
				}
			}
			r, _, err := LoadTraining(bad, be)
			if err == nil {
				r.Net.Release()
				r.Release()
				t.Fatal("loaded without error")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), bad) {
				t.Errorf("error %q does not name %q and the file", err, tc.want)
			}
		})
	}

	// A state without dropout counters (none drawn yet) is valid.
	ts, md, err := safetensors.Load(good)
	if err != nil {
		t.Fatal(err)
	}
	state("dropout_counters", nil)(md)
	noCounters := filepath.Join(dir, "no_counters.safetensors")
	if err := safetensors.Save(noCounters, ts, md, false); err != nil {
		t.Fatal(err)
	}
	if r, _, err := LoadTraining(noCounters, be); err != nil {
		t.Errorf("a state without dropout counters: %v", err)
	} else {
		r.Net.Release()
		r.Release()
	}

	// A state past its first epoch without the best epoch's parameters
	// could not restore them at the end.
	ts, md, err = safetensors.Load(good)
	if err != nil {
		t.Fatal(err)
	}
	ts = slices.DeleteFunc(ts, func(x safetensors.Tensor) bool { return strings.HasPrefix(x.Name, prefixBest) })
	noBest := filepath.Join(dir, "no_best.safetensors")
	if err := safetensors.Save(noBest, ts, md, false); err != nil {
		t.Fatal(err)
	}
	if r, _, err := LoadTraining(noBest, be); err == nil {
		r.Net.Release()
		r.Release()
		t.Error("a state of 1 epoch without best-epoch parameters loaded")
	} else if !strings.Contains(err.Error(), "no best-epoch parameters") {
		t.Errorf("a state without best-epoch parameters: %v", err)
	}

	// A batch count past the end of the resumed epoch is not the loader's
	// to know (it depends on the data): Run refuses it.
	r, _, err := LoadTraining(good, be)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Net.Release()
	defer r.Release()
	r.State.Batch = 100
	if err := r.Run(context.Background(), data); err == nil || !strings.Contains(err.Error(), "not the saved run's") {
		t.Errorf("resuming after batch 100 of an epoch of 8: Run = %v", err)
	}
}

// TestLoadModelFromState: LoadModel of a training state takes the best
// epoch's parameters, those SaveModel writes beside it, and says so; before
// any epoch is validated it takes the last ones. A state with a moving
// average of the weights (ema.*) loads the same way.
func TestLoadModelFromState(t *testing.T) {
	be := host.NewCPU(1)
	for _, run := range []struct {
		stopAt int // interrupted in epoch 1, or in epoch 2
		ema    float32
	}{{0, 0}, {1, 0}, {0, 0.9}, {1, 0.9}} { // with a moving average, the state holds it too
		stopAt := run.stopAt
		tr := newToyTrainerEMA(t, be, KindSentence, 3, run.ema)
		data := newToyData(KindSentence, tr.Net.Config())
		ctx, cancel := context.WithCancel(context.Background())
		tr.OnBatch = func(done, total, seen int, loss, acc float64) {
			if tr.State.Epoch == stopAt && done == 2 {
				cancel()
			}
		}
		if err := tr.Run(ctx, data); err != ErrInterrupted {
			t.Fatalf("Run = %v, want ErrInterrupted", err)
		}
		path := filepath.Join(t.TempDir(), "state.safetensors")
		meta := Meta{Vocab: make([]string, tr.Net.Config().Vocab), Labels: dataset.LabelNames[:]}
		if err := SaveTraining(path, be, tr, meta, false); err != nil {
			t.Fatal(err)
		}
		want, wantWeights := tr.Best, "the best epoch's weights (epoch 1 of 1), those model.safetensors holds"
		if stopAt == 0 {
			want, wantWeights = nil, "the last weights (epoch 0; no epoch has been validated, so there is no model.safetensors yet)"
			for _, p := range tr.Net.Params() {
				v := make([]float32, p.Len())
				be.Download(v, p.Value)
				want = append(want, v)
			}
		}
		net, got, err := LoadModel(path, be)
		if err != nil {
			t.Fatal(err)
		}
		if got.Weights != wantWeights {
			t.Errorf("ema %g, stopped in epoch %d: Weights %q, want %q", run.ema, stopAt+1, got.Weights, wantWeights)
		}
		differs := false
		for i, p := range net.Params() {
			v := make([]float32, p.Len())
			be.Download(v, p.Value)
			if !slices.Equal(v, want[i]) {
				t.Errorf("ema %g, stopped in epoch %d: %s is not the expected weights", run.ema, stopAt+1, p.Name)
			}
			last := make([]float32, p.Len())
			be.Download(last, tr.Net.Params()[i].Value)
			differs = differs || !slices.Equal(v, last)
		}
		if stopAt == 1 && !differs {
			t.Error("the best epoch's weights equal the last ones: the test proves nothing")
		}
		net.Release()
		tr.Net.Release()
		tr.Release()
	}
	// A model checkpoint says nothing.
	net := newToyTrainer(t, be, KindSentence, 1).Net
	path := filepath.Join(t.TempDir(), "model.safetensors")
	if err := SaveModel(path, be, net, nil, Meta{Vocab: make([]string, net.Config().Vocab), Labels: dataset.LabelNames[:]}, false); err != nil {
		t.Fatal(err)
	}
	if loaded, meta, err := LoadModel(path, be); err != nil || meta.Weights != "" {
		t.Errorf("model checkpoint: Weights %q, error %v", meta.Weights, err)
	} else {
		loaded.Release()
	}
	// It cannot resume a run, and LoadTraining says why.
	if _, _, err := LoadTraining(path, be); err == nil || !strings.Contains(err.Error(), "holds a model's parameters only") {
		t.Errorf("LoadTraining of a model checkpoint: %v", err)
	}
}

// TestSaveErrorNamesFileOnce: a failed save says "save <path>:" once, not
// once per layer (it read "save P: save P: write safetensors tensor …:
// write .P.tmp-…: no space left on device").
func TestSaveErrorNamesFileOnce(t *testing.T) {
	be := host.NewCPU(1)
	tr := newToyTrainer(t, be, KindSentence, 1)
	defer tr.Net.Release()
	defer tr.Release()
	meta := Meta{Vocab: make([]string, tr.Net.Config().Vocab), Labels: dataset.LabelNames[:]}
	path := filepath.Join(t.TempDir(), "missing", "x.safetensors")
	for name, err := range map[string]error{
		"SaveModel":    SaveModel(path, be, tr.Net, nil, meta, false),
		"SaveTraining": SaveTraining(path, be, tr, meta, false),
	} {
		if err == nil {
			t.Fatalf("%s into a missing folder: no error", name)
		}
		if n := strings.Count(err.Error(), "save "+path); n != 1 {
			t.Errorf("%s: %q says %q %d times, want once", name, err, "save "+path, n)
		}
	}
}

// TestCheckMeta: CheckMeta refuses the metadata of a vocabulary that
// leaves no room in a checkpoint's header (a checkpoint that saving after
// the first epoch then failed to write, its error not naming the
// vocabulary), giving its size and longest token, and accepts a usual one.
func TestCheckMeta(t *testing.T) {
	cfg := DefaultConfig(KindSentence, 4, dataset.SpeakerDim)
	ok := Meta{Config: cfg, Vocab: []string{"<pad>", "<unk>", "hello", "world"}, Labels: dataset.LabelNames[:]}
	if err := CheckMeta(ok); err != nil {
		t.Fatal(err)
	}
	// 100-character tokens of control characters, which the header
	// escapes twice (JSON in a JSON string: 7 bytes each): 97 MB.
	tok := strings.Repeat("\x01", 100)
	vocab := []string{"<pad>", "<unk>", "hello"}
	for range 138_000 {
		vocab = append(vocab, tok)
	}
	vocab = append(vocab, tok+"\x02")
	big := Meta{Config: cfg, Vocab: vocab, Labels: dataset.LabelNames[:]}
	big.Config.Vocab = len(vocab)
	err := CheckMeta(big)
	if err == nil || !strings.Contains(err.Error(), "the vocabulary of 138004 tokens (the longest, \"\\x01\\x01") ||
		!strings.Contains(err.Error(), "…\", of 101 bytes) is too large for a checkpoint") {
		t.Fatalf("CheckMeta of a vocabulary too large: %v", err)
	}
	// Its header is indeed within metaHeadroom of the limit: a
	// checkpoint's tensors and training state would not fit.
	md, err := big.encode()
	if err != nil {
		t.Fatal(err)
	}
	if n := safetensors.MetadataSize(md); n <= safetensors.MaxHeaderSize-metaHeadroom || n > safetensors.MaxHeaderSize {
		t.Fatalf("test vocabulary: metadata of %d bytes", n)
	}
}

// TestLoadTrainingFromBeforeSchedules: the epochs of a state saved before
// the learning-rate schedules have no "lr"; they were trained at the
// constant rate, which LoadTraining gives them, so that a resumed run's
// log.jsonl (written again from them) does not say 0.
func TestLoadTrainingFromBeforeSchedules(t *testing.T) {
	be := host.NewCPU(1)
	tr := newToyTrainer(t, be, KindSentence, 2)
	data := newToyData(KindSentence, tr.Net.Config())
	ctx, cancel := context.WithCancel(context.Background())
	tr.OnBatch = func(done, total, seen int, loss, acc float64) {
		if tr.State.Epoch == 1 && done == 2 {
			cancel()
		}
	}
	if err := tr.Run(ctx, data); err != ErrInterrupted {
		t.Fatalf("Run = %v, want ErrInterrupted", err)
	}
	path := filepath.Join(t.TempDir(), "old.safetensors")
	meta := Meta{Vocab: make([]string, tr.Net.Config().Vocab), Labels: dataset.LabelNames[:]}
	if err := SaveTraining(path, be, tr, meta, false); err != nil {
		t.Fatal(err)
	}
	tr.Net.Release()
	tr.Release()
	ts, md, err := safetensors.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal([]byte(md[metaTrainState]), &st); err != nil {
		t.Fatal(err)
	}
	for _, e := range st["history"].([]any) {
		delete(e.(map[string]any), "lr")
	}
	b, _ := json.Marshal(st)
	md[metaTrainState] = string(b)
	var cfg map[string]any
	if err := json.Unmarshal([]byte(md[metaTrainCfg]), &cfg); err != nil {
		t.Fatal(err)
	}
	delete(cfg, "lr_schedule")
	delete(cfg, "monitor")
	b, _ = json.Marshal(cfg)
	md[metaTrainCfg] = string(b)
	if err := safetensors.Save(path, ts, md, false); err != nil {
		t.Fatal(err)
	}
	r, _, err := LoadTraining(path, be)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Net.Release()
	defer r.Release()
	if err := r.Run(context.Background(), data); err != nil {
		t.Fatal(err)
	}
	for _, e := range r.State.History {
		if e.LR != r.Cfg.LR {
			t.Errorf("epoch %d: lr %g, want the run's %g", e.Epoch, e.LR, r.Cfg.LR)
		}
	}
}
