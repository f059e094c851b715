package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/emotionlab/emotion/dataset"
	"github.com/emotionlab/emotion/host"
	"github.com/emotionlab/emotion/model"
)

func init() {
	register(&command{
		name:    "predict",
		summary: "Predict the emotion of utterances or of each turn of a dialog",
		usage:   "--checkpoint FILE [flags] [TEXT ...]",
		help: `Prints the predicted label and the four probabilities.

With the sentence model each TEXT argument is one utterance. With the dialog
model the arguments are the turns of one dialog, in order, and each turn is
predicted from its window of earlier turns. --speaker gives the speaker (F or
M) of every argument, and of every standard-input turn that names none.

Without arguments, JSON lines are read from standard input:
  {"text": "I can't believe it!", "speaker": "F"}            one utterance
  {"turns": [{"text": "...", "speaker": "M"}, {"text": "..."}]}  one dialog
--explain (dialog model) prints the attention pooling weights over each
prediction's context turns. --json prints JSON lines instead of text.

Several --checkpoint flags predict with their ensemble: the mean of the
checkpoints' probabilities (sentence and dialog models may mix; the
arguments are then the turns of one dialog for the dialog models).`,
		examples: `emotion predict --checkpoint runs/sentence-session5/model.safetensors "I am so happy for you!"
emotion predict --checkpoint runs/dialog-session5/model.safetensors --explain "Where were you?" "Out." "Out where?!"
echo '{"turns":[{"text":"Hi.","speaker":"F"},{"text":"Get out.","speaker":"M"}]}' | emotion predict --checkpoint model.safetensors --json`,
		run: runPredict,
	})
}

// predictInput is one line of standard input: one utterance (text and
// speaker) or one dialog (turns). Pointers tell a field that is absent
// (or null) from an empty one.
type predictInput struct {
	Text    *string        `json:"text"`
	Speaker *string        `json:"speaker"`
	Turns   *[]predictTurn `json:"turns"`
}

// jsonInputError describes an error decoding a predict line or a serve
// request in the terms of the JSON given, not of the Go types it decodes
// into ("field \"explain\" is a string, not true or false").
func jsonInputError(err error) string {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	kinds := map[string]string{"array": "an array", "object": "an object", "string": "a string", "number": "a number", "bool": "a boolean"}
	got := cmp.Or(kinds[te.Value], te.Value)
	field := strings.TrimPrefix(te.Field, "predictInput.")
	if field == "" || te.Type == nil {
		return "the value is " + got
	}
	t := te.Type
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	want := "a number"
	switch t.Kind() {
	case reflect.String:
		want = "a string"
	case reflect.Bool:
		want = "true or false"
	case reflect.Slice, reflect.Array:
		want = "an array"
	case reflect.Struct, reflect.Map:
		want = "an object"
	}
	return fmt.Sprintf("field %q is %s, not %s", field, got, want)
}

// predictTurn is one turn of a dialog line.
type predictTurn struct {
	Text    string `json:"text"`
	Speaker string `json:"speaker"`
}

// turns returns the line's turns: the dialog's, or its one utterance.
func (in *predictInput) turns() ([]predictTurn, error) {
	switch {
	case in.Turns != nil && (in.Text != nil || in.Speaker != nil):
		// Which would it be? Each turn has its own text and speaker.
		return nil, errors.New(`give "text" (one utterance) or "turns" (one dialog), not both: a dialog's texts and speakers go in its turns`)
	case in.Turns != nil && len(*in.Turns) == 0:
		return nil, errors.New(`"turns" is empty`)
	case in.Turns != nil:
		return *in.Turns, nil
	case in.Text == nil:
		return nil, errors.New(`no "text" or "turns"`)
	}
	t := predictTurn{Text: *in.Text}
	if in.Speaker != nil {
		t.Speaker = *in.Speaker
	}
	return []predictTurn{t}, nil
}

// predictOutput is one predicted turn (--json).
type predictOutput struct {
	// Line is the standard-input line of the prediction's utterance or
	// dialog (from 1; blank lines count), absent for arguments and serve.
	Line    int                `json:"line,omitempty"`
	Turn    int                `json:"turn"`
	Text    string             `json:"text"`
	Label   string             `json:"label"`
	Probs   map[string]float64 `json:"probs"`
	Context []float64          `json:"attention,omitempty"` // --explain: pooling weight of each window turn
}

func runPredict(args []string) error {
	fs := newFlagSet("predict")
	ckpts := fs.StringArray("checkpoint", nil, "model checkpoint (model.safetensors[.zst]); give it more than once to predict with the ensemble of the checkpoints (the mean of their probabilities)")
	speaker := fs.String("speaker", "", "speaker of every TEXT argument (and of standard-input turns without one): F or M")
	explain := fs.Bool("explain", false, "dialog model: print the attention pooling weights over the context turns")
	asJSON := fs.Bool("json", false, "print JSON lines")
	device := fs.String("device", "auto", "compute device: cpu, cuda or auto")
	addThreadsFlag(fs)
	addDependentLaunchFlag(fs)
	if err := parseFlags(fs, args, true); err != nil {
		return err
	}
	if err := checkThreads(); err != nil {
		return err
	}
	if len(*ckpts) == 0 || slices.Contains(*ckpts, "") {
		return usagef("--checkpoint is required")
	}
	if *explain && len(*ckpts) > 1 {
		return usagef("--explain shows one dialog model's attention over the context turns; give one --checkpoint, not %d", len(*ckpts))
	}
	spk, err := parseSpeaker(*speaker)
	if err != nil {
		return usageError{err: err}
	}
	be, err := newBackend(*device)
	if err != nil {
		return err
	}
	p, err := loadEnsemble(*ckpts, be)
	if err != nil {
		return err
	}
	defer p.release()
	if kind := p[0].net.Config().Kind; *explain && kind != model.KindDialog {
		return usagef("--explain shows the dialog model's attention over the context turns; %s is a %s model", (*ckpts)[0], kind)
	}
	pr := &predictionPrinter{explain: *explain, json: *asJSON, w: stdout}
	if fs.NArg() > 0 {
		turns := make([]dataset.RawTurn, fs.NArg())
		for i, a := range fs.Args() {
			if strings.TrimSpace(a) == "" {
				return usagef("argument %d: empty text", i+1)
			}
			if err := checkUTF8(a); err != nil {
				return usagef("argument %d: %v", i+1, err)
			}
			turns[i] = dataset.RawTurn{Text: a, Speaker: spk}
		}
		return pr.predict(p, turns)
	}
	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 1<<20), maxInputLine)
	line := 1
	for ; sc.Scan(); line++ {
		text := sc.Text()
		// Before the line is trimmed: the byte named is counted from its
		// start, as an editor counts it.
		if err := cmp.Or(checkUTF8(text), checkJSONSurrogates(text)); err != nil {
			return fmt.Errorf("standard input line %d: %w", line, err)
		}
		if line == 1 {
			// A UTF-8 byte order mark, as Windows editors save JSON lines.
			text = strings.TrimPrefix(text, "\ufeff")
		}
		text = strings.TrimSpace(text)
		if text == "" {
			continue
		}
		const want = `want a JSON object {"text": "...", "speaker": "F"} or {"turns": [{"text": "...", "speaker": "M"}, ...]} (plain texts go in arguments)`
		var in predictInput
		dec := json.NewDecoder(strings.NewReader(text))
		dec.DisallowUnknownFields() // {"txt": ...} is a typo, not an empty text
		if err := dec.Decode(&in); err != nil {
			return fmt.Errorf("standard input line %d: %s: %s", line, jsonInputError(err), want)
		}
		if text[0] != '{' { // null decodes into a struct without error
			return fmt.Errorf("standard input line %d: %.20s: %s", line, text, want)
		}
		// More reports false before a stray } or ]; a second Decode sees
		// anything but the end, as serve checks a body.
		if err := dec.Decode(&struct{}{}); err != io.EOF {
			return fmt.Errorf("standard input line %d: more than one JSON value, or text after it: give one utterance or dialog per line", line)
		}
		inTurns, err := in.turns()
		if err != nil {
			return fmt.Errorf("standard input line %d: %w", line, err)
		}
		turns := make([]dataset.RawTurn, len(inTurns))
		for i, t := range inTurns {
			s, err := parseSpeaker(t.Speaker)
			if err != nil {
				return fmt.Errorf("standard input line %d, turn %d: %w", line, i+1, err)
			}
			if s == 0 {
				s = spk // --speaker, the default
			}
			if strings.TrimSpace(t.Text) == "" {
				return fmt.Errorf("standard input line %d, turn %d: empty text", line, i+1)
			}
			turns[i] = dataset.RawTurn{Text: t.Text, Speaker: s}
		}
		pr.line = line
		if err := pr.predict(p, turns); err != nil {
			return fmt.Errorf("standard input line %d: %w", line, err)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("standard input line %d: longer than %d MiB", line, maxInputLine>>20)
		}
		return fmt.Errorf("standard input line %d: %w", line, err)
	}
	return nil
}

// checkUTF8 refuses text that is not UTF-8 (Latin-1, say), which the
// tokenizer would read as U+FFFD, and so would JSON's decoder.
func checkUTF8(text string) error {
	if utf8.ValidString(text) {
		return nil
	}
	bad := 0
	for bad < len(text) {
		r, n := utf8.DecodeRuneInString(text[bad:])
		if r == utf8.RuneError && n == 1 {
			break
		}
		bad += n
	}
	return fmt.Errorf("not UTF-8 text: byte %d is 0x%02x (save it as UTF-8)", bad+1, text[bad])
}

// checkJSONSurrogates refuses a JSON text holding a \u escape of half a
// UTF-16 surrogate pair without its other half ("\ud83d" alone), which
// encoding/json reads as U+FFFD: not a character, as bytes that are not
// UTF-8 are not, which checkUTF8 refuses. Escapes are looked for inside
// strings only, and an escaped backslash ("\\ud83d") is no escape.
func checkJSONSurrogates(raw string) error {
	inString := false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '"':
			inString = !inString
		case !inString || c != '\\':
		case i+1 < len(raw) && raw[i+1] == 'u':
			hi, ok := hex4(raw, i+2)
			if !ok { // the decoder reports a malformed escape
				i++
				continue
			}
			switch {
			case hi >= 0xd800 && hi < 0xdc00:
				if lo, ok := hex4(raw, i+8); ok && strings.HasPrefix(raw[i+6:], "\\u") && lo >= 0xdc00 && lo < 0xe000 {
					i += 11 // the pair
					continue
				}
				return fmt.Errorf("not UTF-8 text: byte %d begins \\u%04x, half a surrogate pair without its other half", i+1, hi)
			case hi >= 0xdc00 && hi < 0xe000:
				return fmt.Errorf("not UTF-8 text: byte %d begins \\u%04x, half a surrogate pair without its other half", i+1, hi)
			}
			i += 5
		default:
			i++ // \" \\ \n …: the escaped byte is no quote or backslash
		}
	}
	return nil
}

// hex4 reads four hex digits of s at i.
func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	v, err := strconv.ParseUint(s[i:i+4], 16, 16)
	return rune(v), err == nil
}

// maxInputLine is the longest line predict reads from standard input.
const maxInputLine = 1 << 24

func parseSpeaker(s string) (byte, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "":
		return 0, nil
	case "F":
		return 'F', nil
	case "M":
		return 'M', nil
	}
	return 0, fmt.Errorf("speaker %q: want F or M", s)
}

// loadCheckpoint loads a checkpoint with model.LoadModel and, for a
// training state, notes on stderr which of its weights it took.
func loadCheckpoint(ckpt string, be host.Backend) (model.Network, *model.Meta, error) {
	net, meta, err := model.LoadModel(ckpt, be)
	if err == nil && meta.Weights != "" {
		fmt.Fprintf(stderr, "note: %s is a training state: using %s\n", ckpt, meta.Weights)
	}
	return net, meta, err
}

// loadPredictor loads a checkpoint, its vocabulary and its data options.
func loadPredictor(ckpt string, be host.Backend) (*predictor, error) {
	net, meta, err := loadCheckpoint(ckpt, be)
	if err != nil {
		return nil, err
	}
	rec, err := decodeRunRecord(ckpt, meta.Run)
	if err != nil {
		net.Release()
		return nil, err
	}
	vocab, err := dataset.NewVocab(meta.Vocab)
	if err != nil {
		net.Release()
		return nil, fmt.Errorf("checkpoint %s: %w", ckpt, err)
	}
	return &predictor{be: be, net: net, vocab: vocab, opts: rec.Data, ckpt: ckpt, noSpeakers: rec.NoSpeakers}, nil
}

// predictor predicts raw turns with one network.
type predictor struct {
	be    host.Backend
	net   model.Network
	vocab *dataset.Vocab
	opts  dataset.Options
	ckpt  string
	// noSpeakers: the model was trained without speakers (runRecord), so
	// the turns' speakers are left out of its inputs.
	noSpeakers bool
}

// withoutSpeakers returns groups with every turn's speaker left out (a
// copy), for a model trained without speakers.
func withoutSpeakers(groups [][]dataset.RawTurn) [][]dataset.RawTurn {
	out := make([][]dataset.RawTurn, len(groups))
	for g, turns := range groups {
		out[g] = slices.Clone(turns)
		for i := range out[g] {
			out[g][i].Speaker = 0
		}
	}
	return out
}

// ignoredSpeakers is the note that the members of e trained without
// speakers leave the given speakers out, or "".
func (e ensemble) ignoredSpeakers() string {
	var ckpts []string
	for _, p := range e {
		if p.noSpeakers {
			ckpts = append(ckpts, p.ckpt)
		}
	}
	if len(ckpts) == 0 {
		return ""
	}
	return fmt.Sprintf("note: %s was trained on data without speakers: it leaves the speakers given out of its inputs", strings.Join(ckpts, ", "))
}

// ensemble predicts with the mean of its members' probabilities (each
// encoding the text with its own vocabulary), its label their argmax; an
// ensemble of one is its member.
type ensemble []*predictor

// loadEnsemble loads the predictors of ckpts (releasing those loaded if
// one fails).
func loadEnsemble(ckpts []string, be host.Backend) (ensemble, error) {
	var e ensemble
	for _, ckpt := range ckpts {
		p, err := loadPredictor(ckpt, be)
		if err != nil {
			e.release()
			return nil, err
		}
		e = append(e, p)
	}
	return e, nil
}

// release frees the members' networks.
func (e ensemble) release() {
	for _, p := range e {
		p.net.Release()
	}
}

// context is the most earlier turns a member's window takes: what a batch
// after the first needs before its first turn.
func (e ensemble) context() int {
	c := 0
	for _, p := range e {
		if p.net.Config().Kind == model.KindDialog {
			c = max(c, max(p.opts.Window, 1)-1)
		}
	}
	return c
}

// predictGroups is predictor.predictGroups of the ensemble (explain only
// for an ensemble of one).
func (e ensemble) predictGroups(groups [][]dataset.RawTurn, explain bool) ([][]predictOutput, error) {
	if len(e) == 1 {
		return e[0].predictGroups(groups, explain)
	}
	var sum [][]float64
	for _, p := range e {
		ev, _, _, err := p.evaluate(groups, false)
		if err != nil {
			return nil, err
		}
		if sum == nil {
			sum = make([][]float64, len(ev.Probs))
			for r := range sum {
				sum[r] = make([]float64, len(ev.Probs[r]))
			}
		}
		for r, ps := range ev.Probs {
			for k, v := range ps {
				sum[r][k] += float64(v)
			}
		}
	}
	return predictOutputs(groups, meanEval(sum, len(e)), nil, model.Inputs{}), nil
}

// predictGroups predicts every turn of groups in one batch and returns each
// group's predictions, in order: with the sentence model every turn on its
// own, with the dialog model each group one dialog whose turns are
// predicted from their windows. explain (dialog model) adds each
// prediction's attention pooling weights over its window's turns. Every
// group needs a turn.
func (p *predictor) predictGroups(groups [][]dataset.RawTurn, explain bool) ([][]predictOutput, error) {
	ev, weights, in, err := p.evaluate(groups, explain)
	if err != nil {
		return nil, err
	}
	return predictOutputs(groups, ev, weights, in), nil
}

// evaluate runs groups through the network in one batch (predictGroups)
// and returns its evaluation and, with explain (dialog model), the
// pooling weights, and the batch's inputs.
func (p *predictor) evaluate(groups [][]dataset.RawTurn, explain bool) (_ *model.Eval, weights []float32, in model.Inputs, _ error) {
	if p.noSpeakers {
		groups = withoutSpeakers(groups)
	}
	if p.net.Config().Kind == model.KindDialog {
		b, err := dataset.PredictDialogs(p.vocab, p.opts, groups)
		if err != nil {
			return nil, nil, in, err
		}
		in = model.DialogInputs(b)
	} else {
		for g, turns := range groups {
			if len(turns) == 0 {
				return nil, nil, in, fmt.Errorf("predict: group %d: no turns", g+1)
			}
		}
		b, err := dataset.PredictSentences(p.vocab, p.opts, slices.Concat(groups...))
		if err != nil {
			return nil, nil, in, err
		}
		in = model.SentenceInputs(b)
	}
	ev, err := model.Evaluate(p.be, p.net, []model.Inputs{in}, nil)
	if err != nil {
		return nil, nil, in, err
	}
	if d, ok := p.net.(*model.Dialog); ok && explain {
		// Evaluate ran exactly this one batch: its pooling weights are there.
		weights = make([]float32, in.Size*in.Turns)
		p.be.Download(weights, d.PoolingWeights())
		if err := p.be.Sync(); err != nil {
			return nil, nil, in, err
		}
	}
	return ev, weights, in, nil
}

// predictOutputs are the predictions of ev's rows, one a turn of groups
// in order; weights (in.Turns a row, of which in.TurnCounts are the
// window's) are the pooling weights --explain prints, nil without it.
func predictOutputs(groups [][]dataset.RawTurn, ev *model.Eval, weights []float32, in model.Inputs) [][]predictOutput {
	outs := make([][]predictOutput, len(groups))
	row := 0
	for g, turns := range groups {
		outs[g] = make([]predictOutput, len(turns))
		for i := range turns {
			out := predictOutput{Turn: i + 1, Text: turns[i].Text, Label: dataset.LabelNames[ev.Preds[row]], Probs: map[string]float64{}}
			for k, v := range ev.Probs[row] {
				out.Probs[dataset.LabelNames[k]] = round4(float64(v))
			}
			if weights != nil {
				for t := range int(in.TurnCounts[row]) {
					out.Context = append(out.Context, round4(float64(weights[row*in.Turns+t])))
				}
			}
			outs[g][i] = out
			row++
		}
	}
	return outs
}

// predictionPrinter prints the predictions of the predict command.
type predictionPrinter struct {
	explain, json bool
	w             io.Writer
	// speakersNoted: the note that a member trained without speakers
	// leaves them out has been printed (once, at the first turn with one).
	speakersNoted bool
	// line is the standard-input line being predicted (0 for arguments).
	line int
}

// predictBatch is the most turns predict predicts at once (with the
// dialog model a batch after the first also holds the window−1 turns
// before them, predicted by the batch before). A batch's memory grows with its rows: a dialog of 20,000 turns on
// one standard-input line, predicted as one batch, took 8 GB (the 16 MiB
// line limit allows hundreds of thousands of turns).
const predictBatch = 128

// predict predicts the turns of one input (utterances, or one dialog) and
// prints them, predictBatch turns at a time. With the dialog model a
// turn's window is the window−1 turns before it, so a batch after the
// first starts with the turns its first window needs, whose own
// predictions (made from a shorter context) are not printed.
func (pr *predictionPrinter) predict(p ensemble, turns []dataset.RawTurn) error {
	if note := p.ignoredSpeakers(); !pr.speakersNoted && note != "" &&
		slices.ContainsFunc(turns, func(t dataset.RawTurn) bool { return t.Speaker != 0 }) {
		fmt.Fprintln(stderr, note)
		pr.speakersNoted = true
	}
	context := p.context()
	for first := 0; first < len(turns); first += predictBatch {
		lo, end := max(first-context, 0), min(first+predictBatch, len(turns))
		outs, err := p.predictGroups([][]dataset.RawTurn{turns[lo:end]}, pr.explain)
		if err != nil {
			return err
		}
		for r := first - lo; r < end-lo; r++ {
			out := outs[0][r]
			out.Turn = lo + r + 1 // numbered in the whole input
			out.Line = pr.line
			if err := pr.print(out, turns, lo+r); err != nil {
				return err
			}
		}
	}
	return nil
}

func (pr *predictionPrinter) print(out predictOutput, turns []dataset.RawTurn, i int) error {
	if pr.json {
		b, err := json.Marshal(out)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(pr.w, "%s\n", b)
		return err
	}
	var probs []string
	for _, name := range dataset.LabelNames {
		probs = append(probs, fmt.Sprintf("%s %.3f", name, out.Probs[name]))
	}
	if _, err := fmt.Fprintf(pr.w, "%-7s  %s  %s\n", out.Label, strings.Join(probs, "  "), out.Text); err != nil {
		return err
	}
	if out.Context != nil {
		first := i + 1 - len(out.Context)
		for t, w := range out.Context {
			bar := strings.Repeat("█", int(w*40+0.5))
			if _, err := fmt.Fprintf(pr.w, "    %5.3f %-40s turn %d: %s\n", w, bar, first+t+1, turns[first+t].Text); err != nil {
				return err
			}
		}
	}
	return nil
}

// stdin is the predict command's input; tests replace it.
var stdin io.Reader = os.Stdin
