package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/emotionlab/emotion/dataset"
	"github.com/emotionlab/emotion/host"
	"github.com/emotionlab/emotion/model/safetensors"
)

// Metadata keys of a checkpoint's __metadata__ (all values are strings, as
// the safetensors format requires; ours hold JSON).
const (
	metaFormat     = "format"             // "pt", so that safetensors.torch loads it
	metaConfig     = "emotion.config"     // Config
	metaVocab      = "emotion.vocab"      // []string, index = token id
	metaLabels     = "emotion.labels"     // []string, index = class
	metaTrainState = "emotion.train"      // TrainState (training checkpoints)
	metaTrainCfg   = "emotion.train_cfg"  // TrainConfig (training checkpoints)
	metaRun        = "emotion.run"        // the command's own options, opaque here
	prefixExpAvg   = "optimizer.exp_avg." // Adam's first moments
	prefixExpAvgSq = "optimizer.exp_avg_sq."
	prefixBest     = "best."
	prefixEMA      = "ema." // the moving average of the weights (TrainConfig.EMA)
)

// Meta is what a checkpoint says besides its tensors.
type Meta struct {
	Config Config
	Vocab  []string
	Labels []string
	// Run is the command's own record (data options and the like), stored
	// and returned as is.
	Run string
	// Weights, set by LoadModel when it read a training state
	// (SaveTraining), says which of its weights it loaded: the best
	// epoch's, those SaveModel writes beside it ("the best epoch's weights
	// (epoch 2 of 3), those model.safetensors holds"), or, before any epoch
	// was validated, the last ones ("the last weights (epoch 0; …)"). It is
	// "" for a model checkpoint.
	Weights string
}

func (m *Meta) encode() (map[string]string, error) {
	cfg, err := json.Marshal(m.Config)
	if err != nil {
		return nil, err
	}
	vocab, err := json.Marshal(m.Vocab)
	if err != nil {
		return nil, err
	}
	labels, err := json.Marshal(m.Labels)
	if err != nil {
		return nil, err
	}
	md := map[string]string{metaFormat: "pt", metaConfig: string(cfg), metaVocab: string(vocab), metaLabels: string(labels)}
	if m.Run != "" {
		md[metaRun] = m.Run
	}
	return md, nil
}

// metaHeadroom is the room that CheckMeta leaves in a checkpoint's
// header for its tensors' entries and a training state's metadata (the
// epochs' log, the class weights): a few kilobytes for our models.
const metaHeadroom = 4 << 20

// CheckMeta returns an error when a checkpoint with meta could not be
// written, because its metadata (its vocabulary, in practice) would not
// leave room for the rest of a header under safetensors.MaxHeaderSize,
// the limit that readers (ours and the reference) accept. Training calls
// it before its first epoch, where saving after it would fail. The error
// gives the vocabulary's size and its longest token's length.
func CheckMeta(meta Meta) error {
	md, err := meta.encode()
	if err != nil {
		return err
	}
	n := safetensors.MetadataSize(md)
	if limit := safetensors.MaxHeaderSize - metaHeadroom; n > limit {
		longest := ""
		for _, tok := range meta.Vocab {
			if len(tok) > len(longest) {
				longest = tok
			}
		}
		short := []rune(longest)
		if len(short) > 20 {
			short = append(short[:20], '…')
		}
		return fmt.Errorf("the vocabulary of %d tokens (the longest, %q, of %d bytes) is too large for a checkpoint: its metadata would take %d bytes of the header, over the %d that leave room for the tensors under the %d bytes readers accept",
			len(meta.Vocab), string(short), len(longest), n, limit, safetensors.MaxHeaderSize)
	}
	return nil
}

func decodeMeta(path string, md map[string]string) (*Meta, error) {
	m := &Meta{Run: md[metaRun]}
	for _, f := range []struct {
		key string
		dst any
	}{{metaConfig, &m.Config}, {metaVocab, &m.Vocab}, {metaLabels, &m.Labels}} {
		raw, ok := md[f.key]
		if !ok {
			return nil, fmt.Errorf("checkpoint %s: metadata has no %q: not an emotion checkpoint", path, f.key)
		}
		if err := json.Unmarshal([]byte(raw), f.dst); err != nil {
			return nil, fmt.Errorf("checkpoint %s: metadata %q: %w", path, f.key, err)
		}
	}
	if err := m.Config.Validate(); err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if len(m.Vocab) != m.Config.Vocab {
		return nil, fmt.Errorf("checkpoint %s: vocabulary has %d tokens, config says %d", path, len(m.Vocab), m.Config.Vocab)
	}
	if len(m.Labels) != m.Config.Classes {
		return nil, fmt.Errorf("checkpoint %s: %d label names for %d classes", path, len(m.Labels), m.Config.Classes)
	}
	if !slices.Equal(m.Labels, dataset.LabelNames[:]) {
		return nil, fmt.Errorf("checkpoint %s: labels %q, this build's are %q", path, m.Labels, dataset.LabelNames[:])
	}
	return m, nil
}

// trainingPrefixes are the name prefixes of a training checkpoint's other
// copies of the parameters.
var trainingPrefixes = []string{prefixExpAvg, prefixExpAvgSq, prefixBest, prefixEMA}

// checkTensors checks, before a network is allocated for them, that the
// file's tensors are the parameters cfg describes (ParamShapes), each by
// name and shape, and their training copies (optimizer moments, best
// epoch). A corrupt size in the config is then an error, not an
// allocation of that size; the error says how many parameters the config
// describes and the file holds where they differ, and names the first
// tensor that does not fit.
func checkTensors(path string, ts []safetensors.Tensor, cfg Config) error {
	params := cfg.ParamShapes()
	shapes := make(map[string][]int, len(params))
	for _, p := range params {
		shapes[p.Name] = p.Shape
	}
	var misfit error // the first tensor that does not fit cfg
	var held int64   // elements of the model tensors
	found := map[string]bool{}
	for _, t := range ts {
		name, copied := t.Name, false
		for _, prefix := range trainingPrefixes {
			if rest, ok := strings.CutPrefix(t.Name, prefix); ok {
				name, copied = rest, true
				break
			}
		}
		n, err := t.NumElements()
		if err != nil {
			return fmt.Errorf("checkpoint %s: tensor %q: %w", path, t.Name, err)
		}
		if !copied {
			held += int64(n)
			found[name] = true
		}
		want, ok := shapes[name]
		switch {
		case misfit != nil:
		case !ok:
			misfit = fmt.Errorf("unexpected tensor %q (not a parameter of the model)", t.Name)
		case !slices.Equal(t.Shape, want):
			misfit = fmt.Errorf("tensor %q has shape %v, the model needs %v", t.Name, t.Shape, want)
		}
	}
	for _, p := range params {
		if misfit == nil && !found[p.Name] {
			misfit = fmt.Errorf("no tensor %q", p.Name)
		}
	}
	// Names and shapes that all match hold the count; where one does
	// not, the count says how far the file is from its config.
	if misfit == nil {
		return nil
	}
	if want := cfg.NumParams(); held != want {
		return fmt.Errorf("checkpoint %s: its config describes %d parameters, its tensors hold %d: %w", path, want, held, misfit)
	}
	return fmt.Errorf("checkpoint %s: %w", path, misfit)
}

// paramTensors downloads params (or the host copies in values, when not
// nil) as safetensors tensors named prefix + the state_dict name.
func paramTensors(be host.Backend, params []*Param, values [][]float32, prefix string) ([]safetensors.Tensor, error) {
	out := make([]safetensors.Tensor, 0, len(params))
	for i, p := range params {
		var v []float32
		if values != nil {
			v = values[i]
		} else {
			v = make([]float32, p.Len())
			be.Download(v, p.Value)
		}
		t, err := safetensors.FromFloat32(prefix+p.Name, p.Shape, v)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, be.Sync()
}

// SaveModel writes net's parameters (or, when values is not nil, those host
// copies in Params order, e.g. Trainer.Best) with meta to path as one
// safetensors file whose tensors are named and laid out as the PyTorch
// state_dict; compress writes it zstd-compressed. The file is written to a
// temporary name and renamed into place.
func SaveModel(path string, be host.Backend, net Network, values [][]float32, meta Meta, compress bool) error {
	meta.Config = net.Config()
	md, err := meta.encode()
	if err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	ts, err := paramTensors(be, net.Params(), values, "")
	if err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	return safetensors.Save(path, ts, md, compress) // its errors name path
}

// loadCheckpointFile is safetensors.Load, with what to give instead for
// a folder (a run folder: the checkpoints in it) or a missing file whose
// compressed form (--compress) is beside it.
func loadCheckpointFile(path string) ([]safetensors.Tensor, map[string]string, error) {
	ts, md, err := safetensors.Load(path)
	if err == nil {
		return ts, md, nil
	}
	if fi, serr := os.Stat(path); serr == nil && fi.IsDir() {
		var in []string
		for _, name := range []string{"model.safetensors", "model.safetensors.zst", "state.safetensors", "state.safetensors.zst"} {
			if _, err := os.Stat(filepath.Join(path, name)); err == nil {
				in = append(in, filepath.Join(path, name))
			}
		}
		hint := "give a checkpoint file: a run's model.safetensors to evaluate or predict, its state.safetensors to resume"
		if len(in) > 0 {
			hint += "; this folder has " + strings.Join(in, ", ")
		}
		return nil, nil, fmt.Errorf("checkpoint %s is a folder: %s", path, hint)
	}
	if errors.Is(err, os.ErrNotExist) && !strings.HasSuffix(path, ".zst") {
		if _, serr := os.Stat(path + ".zst"); serr == nil {
			return nil, nil, fmt.Errorf("%w; %s.zst, beside it, is a compressed checkpoint (--compress): give that", err, path)
		}
	}
	return nil, nil, err
}

// LoadModel reads a checkpoint written by SaveModel (or SaveTraining) and
// builds its network on be. Missing, extra or misshapen tensors are errors.
// From a training state it loads the best epoch's parameters, the model
// SaveModel writes beside it (the last ones when no epoch has been
// validated yet), and says which in Meta.Weights.
func LoadModel(path string, be host.Backend) (Network, *Meta, error) {
	ts, md, err := loadCheckpointFile(path)
	if err != nil {
		return nil, nil, err
	}
	meta, err := decodeMeta(path, md)
	if err != nil {
		return nil, nil, err
	}
	if err := checkTensors(path, ts, meta.Config); err != nil {
		return nil, nil, err
	}
	net, err := New(be, meta.Config)
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	byName := indexTensors(ts)
	prefix, weights, err := stateWeights(path, md, byName, net)
	meta.Weights = weights
	if err == nil {
		err = uploadParams(be, path, net.Params(), byName, prefix)
	}
	if err != nil {
		net.Release()
		return nil, nil, err
	}
	return net, meta, nil
}

// stateWeights returns, for a training state, the prefix of the weights
// LoadModel loads (prefixBest when the state has the best epoch's) and
// their description for Meta.Weights; "", "" for a model checkpoint.
func stateWeights(path string, md map[string]string, byName map[string]safetensors.Tensor, net Network) (prefix, weights string, err error) {
	raw, ok := md[metaTrainState]
	if !ok {
		return "", "", nil
	}
	var st TrainState
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		return "", "", fmt.Errorf("checkpoint %s: %s: %w", path, metaTrainState, err)
	}
	// The state's best score is the monitored one's (a negated loss for
	// val_loss), which the training config names.
	var cfg TrainConfig
	if rawCfg, ok := md[metaTrainCfg]; ok {
		if err := json.Unmarshal([]byte(rawCfg), &cfg); err != nil {
			return "", "", fmt.Errorf("checkpoint %s: %s: %w", path, metaTrainCfg, err)
		}
	}
	if err := st.validate(cfg, net); err != nil {
		return "", "", fmt.Errorf("checkpoint %s: %s: %w", path, metaTrainState, err)
	}
	if _, ok := byName[prefixBest+net.Params()[0].Name]; ok && st.BestEpoch > 0 {
		return prefixBest, fmt.Sprintf("the best epoch's weights (epoch %d of %d), those model.safetensors holds", st.BestEpoch, st.Epoch), nil
	}
	// SaveModel writes model.safetensors when an epoch is validated.
	return "", fmt.Sprintf("the last weights (epoch %d; no epoch has been validated, so there is no model.safetensors yet)", st.Epoch), nil
}

func indexTensors(ts []safetensors.Tensor) map[string]safetensors.Tensor {
	m := make(map[string]safetensors.Tensor, len(ts))
	for _, t := range ts {
		m[t.Name] = t
	}
	return m
}

// readTensor returns the float32 elements of tensor name, checked against
// shape and finite.
func readTensor(path string, byName map[string]safetensors.Tensor, name string, shape []int) ([]float32, error) {
	t, ok := byName[name]
	if !ok {
		return nil, fmt.Errorf("checkpoint %s: no tensor %q", path, name)
	}
	if fmt.Sprint(t.Shape) != fmt.Sprint(shape) {
		return nil, fmt.Errorf("checkpoint %s: tensor %q has shape %v, the model needs %v", path, name, t.Shape, shape)
	}
	v, err := t.Float32s()
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: tensor %q: %w", path, name, err)
	}
	for i, x := range v {
		if !finite(float64(x)) {
			return nil, fmt.Errorf("checkpoint %s: tensor %q: element %d is %v (a diverged or corrupt checkpoint)", path, name, i, x)
		}
	}
	return v, nil
}

func uploadParams(be host.Backend, path string, params []*Param, byName map[string]safetensors.Tensor, prefix string) error {
	for _, p := range params {
		v, err := readTensor(path, byName, prefix+p.Name, p.Shape)
		if err != nil {
			return err
		}
		be.Upload(p.Value, v)
	}
	return be.Sync()
}

// SaveTraining writes everything needed to resume t: the current
// parameters, Adam's moments, the moving average of the weights (with
// TrainConfig.EMA), the best epoch's parameters, the train state and
// config, and meta.
func SaveTraining(path string, be host.Backend, t *Trainer, meta Meta, compress bool) error {
	meta.Config = t.Net.Config()
	md, err := meta.encode()
	if err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	t.State.AdamStep = t.Opt.Step
	st, err := json.Marshal(t.State)
	if err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	tc, err := json.Marshal(t.Cfg)
	if err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	md[metaTrainState], md[metaTrainCfg] = string(st), string(tc)
	params := t.Net.Params()
	ts, err := paramTensors(be, params, nil, "")
	if err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	for i, p := range params {
		m, v := t.Opt.Moments(i)
		for _, mom := range []struct {
			prefix string
			buf    *host.F32
		}{{prefixExpAvg, m}, {prefixExpAvgSq, v}} {
			x := make([]float32, p.Len())
			be.Download(x, mom.buf)
			tt, err := safetensors.FromFloat32(mom.prefix+p.Name, p.Shape, x)
			if err != nil {
				return fmt.Errorf("save %s: %w", path, err)
			}
			ts = append(ts, tt)
		}
	}
	if t.EMA != nil && t.EMA.Updates > 0 {
		for i, p := range params {
			avg := t.EMA.Average(i)
			if avg == nil {
				continue // frozen: never averaged
			}
			x := make([]float32, p.Len())
			be.Download(x, avg)
			tt, err := safetensors.FromFloat32(prefixEMA+p.Name, p.Shape, x)
			if err != nil {
				return fmt.Errorf("save %s: %w", path, err)
			}
			ts = append(ts, tt)
		}
	}
	if t.Best != nil {
		best, err := paramTensors(be, params, t.Best, prefixBest)
		if err != nil {
			return fmt.Errorf("save %s: %w", path, err)
		}
		ts = append(ts, best...)
	}
	if err := be.Sync(); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	return safetensors.Save(path, ts, md, compress) // its errors name path
}

// LoadTraining reads a checkpoint written by SaveTraining: it builds the
// network and a trainer with the saved config, state, moments and best
// parameters, ready to Run on.
func LoadTraining(path string, be host.Backend) (*Trainer, *Meta, error) {
	ts, md, err := loadCheckpointFile(path)
	if err != nil {
		return nil, nil, err
	}
	meta, err := decodeMeta(path, md)
	if err != nil {
		return nil, nil, err
	}
	var cfg TrainConfig
	var st TrainState
	if md[metaTrainCfg] == "" && md[metaTrainState] == "" {
		return nil, nil, fmt.Errorf("checkpoint %s holds a model's parameters only (for eval and predict), not a training state: "+
			"resume from the state.safetensors of its run folder", path)
	}
	if err := json.Unmarshal([]byte(md[metaTrainCfg]), &cfg); err != nil {
		return nil, nil, fmt.Errorf("checkpoint %s: not a training checkpoint (metadata %q: %v)", path, metaTrainCfg, err)
	}
	if err := json.Unmarshal([]byte(md[metaTrainState]), &st); err != nil {
		return nil, nil, fmt.Errorf("checkpoint %s: not a training checkpoint (metadata %q: %v)", path, metaTrainState, err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, nil, fmt.Errorf("checkpoint %s: metadata %q: %w", path, metaTrainCfg, err)
	}
	if err := checkTensors(path, ts, meta.Config); err != nil {
		return nil, nil, err
	}
	net, err := New(be, meta.Config)
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if err := st.validate(cfg, net); err != nil {
		net.Release()
		return nil, nil, fmt.Errorf("checkpoint %s: metadata %q: %w", path, metaTrainState, err)
	}
	t, err := NewTrainer(be, net, cfg)
	if err != nil {
		net.Release()
		return nil, nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	fail := func(err error) (*Trainer, *Meta, error) {
		t.Release()
		net.Release()
		return nil, nil, err
	}
	byName := indexTensors(ts)
	params := net.Params()
	if err := uploadParams(be, path, params, byName, ""); err != nil {
		return fail(err)
	}
	for i, p := range params {
		m, err := readTensor(path, byName, prefixExpAvg+p.Name, p.Shape)
		if err != nil {
			return fail(err)
		}
		v, err := readTensor(path, byName, prefixExpAvgSq+p.Name, p.Shape)
		if err != nil {
			return fail(err)
		}
		if err := t.Opt.SetMoments(i, m, v); err != nil {
			return fail(fmt.Errorf("checkpoint %s: %w", path, err))
		}
	}
	if t.EMA != nil && st.AdamStep > 0 {
		// The average of every step so far: a state without it cannot
		// go on to the same result.
		for i, p := range params {
			if t.EMA.Average(i) == nil {
				continue
			}
			v, err := readTensor(path, byName, prefixEMA+p.Name, p.Shape)
			if err != nil {
				return fail(fmt.Errorf("%w (the moving average of a run with ema = %g)", err, cfg.EMA))
			}
			if err := t.EMA.SetAverage(i, v); err != nil {
				return fail(fmt.Errorf("checkpoint %s: %w", path, err))
			}
		}
	}
	if _, ok := byName[prefixBest+params[0].Name]; !ok && st.Epoch > 0 {
		return fail(fmt.Errorf("checkpoint %s: %d epochs were validated but it holds no best-epoch parameters (%q…)", path, st.Epoch, prefixBest+params[0].Name))
	} else if ok {
		t.Best = make([][]float32, len(params))
		for i, p := range params {
			if t.Best[i], err = readTensor(path, byName, prefixBest+p.Name, p.Shape); err != nil {
				return fail(err)
			}
		}
	}
	if cfg.Schedule == "" {
		// Saved before the schedules, when epochs logged no rate: they
		// were all trained at the constant one.
		for i := range st.History {
			if st.History[i].LR == 0 {
				st.History[i].LR = cfg.LR
			}
		}
	}
	t.State = st
	t.Opt.Step = st.AdamStep
	if t.EMA != nil {
		t.EMA.Updates = st.AdamStep // so that a save before any Run keeps the average
	}
	if err := be.Sync(); err != nil {
		return fail(fmt.Errorf("checkpoint %s: %w", path, err))
	}
	return t, meta, nil
}
