// Package tests holds the end-to-end tests of the emotion command: it is
// built once, then driven as a user would, on a small synthetic IEMOCAP-like
// corpus that the test writes itself.
package tests

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "emotion-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// EMOTION_BINARY names a prebuilt emotion (a CPU build), for running
	// the compiled tests where there is no Go toolchain, as on a GPU
	// machine.
	if binary = os.Getenv("EMOTION_BINARY"); binary == "" {
		binary = filepath.Join(dir, "emotion")
		build := exec.Command("go", "build", "-o", binary, "../cmd/emotion")
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build emotion:", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// words that give each emotion away, and neutral filler.
var (
	cue = map[string][]string{
		"ang": {"furious", "hate", "stop", "idiot"},
		"hap": {"great", "love", "wonderful", "yes"},
		"exc": {"amazing", "wow", "great"},
		"neu": {"okay", "maybe", "tuesday", "table"},
		"sad": {"miss", "sorry", "cry", "alone"},
		"fru": {"ugh", "whatever"},
	}
	filler = []string{"i", "you", "the", "it", "we", "was", "that", "there", "and", "so", "know", "really"}
	emos   = []string{"ang", "hap", "exc", "neu", "sad", "fru"}
)

// writeCorpus writes a SILICONE-layout CSV corpus: 5 sessions of 8 dialogs
// of 14 turns, split over train.csv and test.csv.
func writeCorpus(t *testing.T, dir string) {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 1))
	files := map[string]*csv.Writer{}
	for _, name := range []string{"train.csv", "test.csv"} {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		w := csv.NewWriter(f)
		w.Write([]string{"Dialogue_ID", "Utterance_Id", "Utterance", "Emotion", "Valence", "Activation", "Dominance"})
		files[name] = w
	}
	for s := 1; s <= 5; s++ {
		for d := range 8 {
			lead := "FM"[d%2]
			dialog := fmt.Sprintf("Ses%02d%c_impro%02d", s, lead, d+1)
			w := files["train.csv"]
			if d%4 == 3 {
				w = files["test.csv"]
			}
			mood := emos[r.IntN(len(emos))]
			for turn := range 14 {
				g := "FM"[turn%2]
				if r.IntN(3) == 0 {
					mood = emos[r.IntN(len(emos))]
				}
				var words []string
				for range 3 + r.IntN(8) {
					words = append(words, filler[r.IntN(len(filler))])
				}
				c := cue[mood]
				words = append(words, c[r.IntN(len(c))])
				r.Shuffle(len(words), func(i, j int) { words[i], words[j] = words[j], words[i] })
				text := strings.ToUpper(words[0][:1]) + strings.Join(words, " ")[1:] + "."
				id := fmt.Sprintf("%s_%c%03d", dialog, g, turn/2)
				w.Write([]string{dialog, id, text, mood, "3.0", "3.0", "3.0"})
			}
		}
	}
	for _, w := range files {
		w.Flush()
		if err := w.Error(); err != nil {
			t.Fatal(err)
		}
	}
}

type result struct {
	stdout, stderr string
	code           int
}

func run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return runIn(t, "", stdin, args...)
}

// runIn runs emotion in the folder dir ("" for this one).
func runIn(t *testing.T, dir, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Stdin = strings.NewReader(stdin)
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{out.String(), errb.String(), code}
}

func mustRun(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	r := run(t, stdin, args...)
	if r.code != 0 {
		t.Fatalf("emotion %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

var small = []string{"--embed", "12", "--hidden", "8", "--dense", "16", "--dropout", "0.1", "--dialog-hidden", "8", "--heads", "2", "--attn-dim", "8", "--min-count", "1"}

func TestTrainEvalPredict(t *testing.T) {
	data := t.TempDir()
	writeCorpus(t, data)
	out := mustRun(t, "", "data", "--data", data)
	for _, want := range []string{"speakers", "known: 10 speakers", "40 dialogs"} {
		if !strings.Contains(out, want) {
			t.Errorf("emotion data output lacks %q:\n%s", want, out)
		}
	}

	for _, kind := range []string{"sentence", "dialog"} {
		t.Run(kind, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "run")
			args := append([]string{"train", "--data", data, "--model", kind, "--epochs", "15", "--patience", "0", "--lr", "0.02",
				"--out", dir, "--quiet", "--device", "cpu"}, small...)
			mustRun(t, "", args...)
			for _, f := range []string{"config.json", "log.jsonl", "metrics.json", "confusion.png", "curves.png", "model.safetensors", "state.safetensors"} {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Errorf("run folder lacks %s: %v", f, err)
				}
			}
			var m struct {
				BestEpoch int `json:"best_epoch"`
				Report    struct {
					Accuracy  float64 `json:"accuracy"`
					Support   int     `json:"support"`
					Confusion [][]int `json:"confusion"`
				} `json:"report"`
			}
			readJSON(t, filepath.Join(dir, "metrics.json"), &m)
			t.Logf("%s: test accuracy %.3f on %d (best epoch %d)", kind, m.Report.Accuracy, m.Report.Support, m.BestEpoch)
			if m.Report.Support == 0 || len(m.Report.Confusion) != 4 {
				t.Fatalf("metrics.json: %+v", m)
			}
			// The cue words make the task easy: far above chance (0.25).
			if m.Report.Accuracy < 0.6 {
				t.Errorf("test accuracy %.3f: the model did not learn the cue words", m.Report.Accuracy)
			}

			ckpt := filepath.Join(dir, "model.safetensors")
			preds := filepath.Join(t.TempDir(), "preds.jsonl")
			out := mustRun(t, "", "eval", "--checkpoint", ckpt, "--predictions", preds, "--device", "cpu")
			if !strings.Contains(out, "precision    recall  f1-score   support") || !strings.Contains(out, fmt.Sprintf("%.4f", m.Report.Accuracy)) {
				t.Errorf("eval output does not repeat the test accuracy %.4f:\n%s", m.Report.Accuracy, out)
			}
			if st, err := os.Stat(preds); err != nil {
				t.Fatal(err)
			} else if st.Mode().Perm() != 0o644 {
				t.Errorf("predictions file mode %v, want 0644 as every output", st.Mode().Perm())
			}
			f, err := os.Open(preds)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			n := 0
			for sc := bufio.NewScanner(f); sc.Scan(); n++ {
				var p struct {
					ID, Text, True, Pred string
					Probs                map[string]float64
				}
				if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
					t.Fatal(err)
				}
				sum := 0.0
				for _, v := range p.Probs {
					sum += v
				}
				if p.ID == "" || p.Text == "" || p.True == "" || p.Pred == "" || len(p.Probs) != 4 || sum < 0.99 || sum > 1.01 {
					t.Fatalf("prediction line %d: %+v", n+1, p)
				}
				// The predicted label is the one of the highest probability.
				for label, v := range p.Probs {
					if v > p.Probs[p.Pred] {
						t.Fatalf("prediction line %d: pred %s but %s has a higher probability: %v", n+1, p.Pred, label, p.Probs)
					}
				}
			}
			if n != m.Report.Support {
				t.Errorf("%d prediction lines for %d test utterances", n, m.Report.Support)
			}

			out = mustRun(t, "", "predict", "--checkpoint", ckpt, "--speaker", "F", "--device", "cpu", "I hate you idiot.", "I love this, wonderful.")
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if kind == "sentence" && len(lines) != 2 {
				t.Fatalf("predict printed %d lines for 2 texts:\n%s", len(lines), out)
			}
			t.Logf("predict:\n%s", out)
			if r := run(t, "", "predict", "--checkpoint", ckpt, "--device", "cpu", "Fine.", "  "); r.code != 2 || !strings.Contains(r.stderr, "argument 2: empty text") {
				t.Errorf("predict of an empty argument: exit %d, stderr %q", r.code, r.stderr)
			}
			if kind == "sentence" {
				if r := run(t, "", "predict", "--checkpoint", ckpt, "--device", "cpu", "--explain", "Fine."); r.code != 2 || !strings.Contains(r.stderr, "is a sentence model") {
					t.Errorf("predict --explain with a sentence model: exit %d, stderr %q", r.code, r.stderr)
				}
			}
			// A blank line, a dialog, an utterance: each prediction names
			// the input line it answers.
			in := "\n" + `{"turns":[{"text":"Okay, maybe tuesday.","speaker":"F"},{"text":"I miss you, sorry.","speaker":"M"},{"text":"Wow, amazing, great!","speaker":"F"}]}` + "\n" +
				`{"text": "Fine."}` + "\n"
			args = []string{"predict", "--checkpoint", ckpt, "--json", "--device", "cpu"}
			if kind == "dialog" {
				args = append(args, "--explain")
			}
			out = mustRun(t, in, args...)
			lines = strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 4 {
				t.Fatalf("predict --json printed %d lines for a dialog of 3 turns and an utterance:\n%s", len(lines), out)
			}
			for i, l := range lines {
				var turn struct {
					Line      int
					Turn      int
					Label     string
					Probs     map[string]float64
					Attention []float64
				}
				if err := json.Unmarshal([]byte(l), &turn); err != nil {
					t.Fatal(err)
				}
				if i == 3 {
					if turn.Line != 3 || turn.Turn != 1 {
						t.Errorf("predict --json line 4 says input line %d, turn %d; want 3, 1", turn.Line, turn.Turn)
					}
					continue
				}
				if turn.Turn != i+1 || turn.Line != 2 {
					t.Errorf("predict --json line %d says input line %d, turn %d; want 2, %d", i+1, turn.Line, turn.Turn, i+1)
				}
				if kind != "dialog" {
					continue
				}
				// Turn i+1 has i+1 context turns (the window is larger),
				// each with a softmax weight: positive, summing to 1.
				sum := 0.0
				for _, w := range turn.Attention {
					sum += w
					if !(w > 0) {
						t.Errorf("--explain weights of turn %d: %v: a context turn has weight %g", i+1, turn.Attention, w)
					}
				}
				if len(turn.Attention) != i+1 || sum < 0.99 || sum > 1.01 {
					t.Errorf("--explain weights of turn %d: %v (want %d weights summing to 1)", i+1, turn.Attention, i+1)
				}
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"missing data", []string{"train", "--data", filepath.Join(dir, "nope"), "--quiet"}, 1, "nope"},
		{"unknown model", []string{"train", "--data", dir, "--model", "transformer"}, 2, "transformer"},
		{"unknown flag", []string{"train", "--epochz", "3"}, 2, "epochz"},
		{"negative weight decay", []string{"train", "--data", dir, "--weight-decay", "-0.01"}, 2, "--weight-decay"},
		{"negative patience", []string{"train", "--data", dir, "--patience", "-1"}, 2, "--patience"},
		{"empty data", []string{"train", "--data", ""}, 2, "--data is empty"},
		{"empty data for eval", []string{"eval", "--checkpoint", "x", "--data", " "}, 2, "--data is empty"},
		{"no checkpoint", []string{"eval"}, 2, "--checkpoint"},
		{"missing checkpoint", []string{"eval", "--checkpoint", filepath.Join(dir, "none.safetensors")}, 1, "none.safetensors"},
		{"cuda in a cpu build", []string{"predict", "--checkpoint", "x", "--device", "cuda", "hi"}, 1, "CUDA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, "", tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d (want %d), stderr %q (want it to mention %q)", r.code, tc.code, r.stderr, tc.want)
			}
		})
	}
	bad := filepath.Join(dir, "bad.safetensors")
	os.WriteFile(bad, []byte("\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":"), 0o644)
	r := run(t, "", "predict", "--checkpoint", bad, "--device", "cpu", "hello")
	if r.code != 1 || !strings.Contains(r.stderr, "bad.safetensors") {
		t.Errorf("a corrupt checkpoint: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestInterruptAndResume stops a training run with SIGINT (Ctrl-C) and
// resumes it: the resumed run finishes with the same metrics as an
// uninterrupted one.
func TestInterruptAndResume(t *testing.T) {
	data := t.TempDir()
	writeCorpus(t, data)
	base := append([]string{"train", "--data", data, "--model", "dialog", "--epochs", "4", "--patience", "0", "--quiet", "--device", "cpu", "--compress"}, small...)

	full := filepath.Join(t.TempDir(), "full")
	mustRun(t, "", append(base, "--out", full)...)

	part := filepath.Join(t.TempDir(), "part")
	cmd := exec.Command(binary, append(base, "--out", part)...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Interrupt once the first epoch is logged.
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if b, _ := os.ReadFile(filepath.Join(part, "log.jsonl")); len(b) > 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	state := filepath.Join(part, "state.safetensors.zst")
	if err == nil {
		t.Skip("the run finished before the interrupt arrived")
	}
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("an interrupted run exits %d, want 130", code)
	}
	if !strings.Contains(errb.String(), "--resume "+state) {
		t.Fatalf("interrupted run says %q; want it to say how to resume", errb.String())
	}
	mustRun(t, "", "train", "--resume", state, "--quiet", "--device", "cpu")

	sameMetrics(t, full, part)
}

// TestResumeAfterKill resumes a run killed after it logged an epoch but
// before it saved that epoch's state (SIGKILL, a power cut or a failed
// save between the two writes): the resumed run trains that epoch again,
// and its log must hold each epoch once.
func TestResumeAfterKill(t *testing.T) {
	data := t.TempDir()
	writeCorpus(t, data)
	base := append([]string{"train", "--data", data, "--max-batches", "2", "--patience", "0", "--quiet", "--device", "cpu"}, small...)
	full := filepath.Join(t.TempDir(), "full")
	mustRun(t, "", append(base, "--epochs", "2", "--out", full)...)
	part := filepath.Join(t.TempDir(), "part")
	mustRun(t, "", append(base, "--epochs", "1", "--out", part)...)
	// The state holds epoch 1; the log also has epoch 2's line, as it
	// does when the process dies while saving epoch 2's state.
	fullLog, err := os.ReadFile(filepath.Join(full, "log.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	second := strings.SplitAfter(string(fullLog), "\n")[1]
	f, err := os.OpenFile(filepath.Join(part, "log.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(second); err != nil {
		t.Fatal(err)
	}
	f.Close()
	mustRun(t, "", "train", "--resume", filepath.Join(part, "state.safetensors"), "--epochs", "2", "--quiet", "--device", "cpu")
	sameTraining(t, full, part)
	sameMetrics(t, full, part)
}

// sameMetrics checks that the resumed run in resumed ends with the
// metrics.json of the uninterrupted run in full.
func sameMetrics(t *testing.T, full, resumed string) {
	t.Helper()
	var a, b map[string]any
	readJSON(t, filepath.Join(full, "metrics.json"), &a)
	readJSON(t, filepath.Join(resumed, "metrics.json"), &b)
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if !bytes.Equal(ja, jb) {
		t.Errorf("resumed run's metrics differ from the uninterrupted run's:\n%s\n%s", jb, ja)
	}
}

// sameTraining checks that the epochs of the resumed run in resumed
// trained as those of the uninterrupted run in full: the same losses and
// accuracies and batch counts epoch by epoch (the metrics alone may agree
// when the best epoch came before the resumed ones).
func sameTraining(t *testing.T, full, resumed string) {
	t.Helper()
	read := func(dir string) []map[string]any {
		b, err := os.ReadFile(filepath.Join(dir, "log.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		var logs []map[string]any
		for l := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("%s/log.jsonl: %v", dir, err)
			}
			delete(m, "seconds")
			delete(m, "utt_per_sec")
			logs = append(logs, m)
		}
		return logs
	}
	a, b := read(full), read(resumed)
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if !bytes.Equal(ja, jb) {
		t.Errorf("resumed run's epochs differ from the uninterrupted run's:\n%s\n%s", jb, ja)
	}
}

// TestJSONStdout checks that train --json without --quiet keeps stdout
// JSON lines (the epochs', then the report): the text report is not
// printed there too.
func TestJSONStdout(t *testing.T) {
	data := t.TempDir()
	writeCorpus(t, data)
	out := mustRun(t, "", append([]string{"train", "--data", data, "--max-batches", "2", "--epochs", "2", "--patience", "0", "--json",
		"--device", "cpu", "--out", filepath.Join(t.TempDir(), "run")}, small...)...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Errorf("--json stdout has %d lines, want 3 (2 epochs, the report):\n%s", len(lines), out)
	}
	for i, l := range lines {
		var v map[string]any
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Errorf("--json stdout line %d is not JSON: %q", i+1, l)
		}
	}
}

// TestClosedStdout: a stdout whose reader is gone (emotion train --json
// | head -1) gives the commands a write error to handle rather than
// killing the process with SIGPIPE: train stops with its first epoch
// saved and says how to resume; data fails naming the write.
func TestClosedStdout(t *testing.T) {
	data := t.TempDir()
	writeCorpus(t, data)
	closedPipe := func() *os.File {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		r.Close()
		t.Cleanup(func() { w.Close() })
		return w
	}
	runTo := func(stdout *os.File, args ...string) (int, string) {
		cmd := exec.Command(binary, args...)
		var errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = stdout, &errb
		err := cmd.Run()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		if ee != nil && !ee.Exited() {
			t.Fatalf("emotion %s: %v (killed by a signal)\n%s", strings.Join(args, " "), err, errb.String())
		}
		return cmd.ProcessState.ExitCode(), errb.String()
	}
	dir := filepath.Join(t.TempDir(), "run")
	code, errOut := runTo(closedPipe(), append([]string{"train", "--data", data, "--max-batches", "2", "--epochs", "3", "--patience", "0", "--json",
		"--device", "cpu", "--out", dir}, small...)...)
	want := "epoch 1: --json line: write /dev/stdout: broken pipe (the epoch is saved: continue with 'emotion train --resume " + filepath.Join(dir, "state.safetensors") + "')"
	if code != 1 || !strings.Contains(errOut, want) {
		t.Errorf("train: exit %d, stderr %q; want exit 1 and %q", code, errOut, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "state.safetensors")); err != nil {
		t.Errorf("train: the epoch was not saved: %v", err)
	}
	code, errOut = runTo(closedPipe(), "data", "--data", data)
	if code != 1 || !strings.Contains(errOut, "broken pipe") {
		t.Errorf("data: exit %d, stderr %q; want exit 1 and a broken pipe", code, errOut)
	}
}

// TestLOSO trains the five leave-one-session-out folds and checks the
// summary: one report per fold and the mean of their accuracies.
func TestLOSO(t *testing.T) {
	data := t.TempDir()
	writeCorpus(t, data)
	dir := filepath.Join(t.TempDir(), "loso")
	out := mustRun(t, "", append([]string{"train", "--data", data, "--protocol", "loso", "--epochs", "2", "--out", dir, "--device", "cpu"}, small...)...)
	var m struct {
		Protocol string
		Folds    []struct{ Accuracy float64 }
		Summary  struct {
			Folds    int
			Accuracy struct{ Mean, Std float64 }
		}
	}
	readJSON(t, filepath.Join(dir, "metrics.json"), &m)
	if len(m.Folds) != 5 || m.Summary.Folds != 5 {
		t.Fatalf("metrics.json: %d folds, summary of %d", len(m.Folds), m.Summary.Folds)
	}
	mean := 0.0
	for i, f := range m.Folds {
		mean += f.Accuracy / 5
		if _, err := os.Stat(filepath.Join(dir, fmt.Sprintf("fold%d", i+1), "model.safetensors")); err != nil {
			t.Errorf("fold %d: %v", i+1, err)
		}
	}
	if d := mean - m.Summary.Accuracy.Mean; d > 1e-9 || d < -1e-9 {
		t.Errorf("summary mean accuracy %g, folds average %g", m.Summary.Accuracy.Mean, mean)
	}
	if !strings.Contains(out, "loso over 5 folds") {
		t.Errorf("train output lacks the summary:\n%s", out)
	}

	// Resuming the last fold (here already finished) writes the summary
	// over all five again, the earlier folds' reports read from their
	// folders.
	want, err := os.ReadFile(filepath.Join(dir, "metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "metrics.json"))
	mustRun(t, "", "train", "--resume", filepath.Join(dir, "fold5", "state.safetensors"), "--quiet", "--device", "cpu")
	got, err := os.ReadFile(filepath.Join(dir, "metrics.json"))
	if err != nil {
		t.Fatalf("a resumed LOSO run wrote no summary: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the resumed run's summary differs:\n%s\nwant\n%s", got, want)
	}
	// More epochs for the last fold only would mix the folds' training.
	r := run(t, "", "train", "--resume", filepath.Join(dir, "fold5", "state.safetensors"), "--epochs", "3", "--quiet", "--device", "cpu")
	if r.code != 2 || !strings.Contains(r.stderr, "--epochs 3 would train folds 5–5") {
		t.Errorf("resume of fold 5 with --epochs 3: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestResumeKeepsTheRun checks that --resume continues the run it names:
// in that run's folder wherever it now is, with the run's own settings
// (--max-batches included), refusing flags that would change them; and
// that a fresh run into an old folder starts its log again.
func TestResumeKeepsTheRun(t *testing.T) {
	data := t.TempDir()
	writeCorpus(t, data)
	base := append([]string{"train", "--data", data, "--max-batches", "2", "--patience", "0", "--quiet", "--device", "cpu", "--seed", "7"}, small...)
	full := filepath.Join(t.TempDir(), "full")
	mustRun(t, "", append(base, "--epochs", "3", "--out", full)...)

	// One epoch, run from one directory with the data named relative to
	// it, then the folder moved and resumed for three from another.
	work := t.TempDir()
	part := filepath.Join(work, "runs", "part")
	if err := os.Rename(data, filepath.Join(work, "data")); err != nil {
		t.Fatal(err)
	}
	data = filepath.Join(work, "data")
	base[2] = "data" // --data, relative to work
	if r := runIn(t, work, "", append(base, "--epochs", "1", "--out", part)...); r.code != 0 {
		t.Fatalf("train from %s: exit %d: %s", work, r.code, r.stderr)
	}
	base[2] = data
	moved := filepath.Join(t.TempDir(), "moved")
	if err := os.Rename(part, moved); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(moved, "state.safetensors")
	r := run(t, "", "train", "--resume", state, "--lr", "5", "--batch-size", "4")
	if r.code != 2 || !strings.Contains(r.stderr, "--lr, --batch-size") {
		t.Errorf("--resume with --lr and --batch-size: exit %d, stderr %q", r.code, r.stderr)
	}
	mustRun(t, "", "train", "--resume", state, "--epochs", "3", "--quiet", "--device", "cpu")
	if _, err := os.Stat(part); !os.IsNotExist(err) {
		t.Errorf("the resumed run wrote to its old folder %s (%v)", part, err)
	}
	sameMetrics(t, full, moved)
	sameTraining(t, full, moved)
	// config.json says what the run is now: --epochs 3, as the full run's.
	var fullCfg, movedCfg struct {
		Train, Model map[string]any
	}
	readJSON(t, filepath.Join(full, "config.json"), &fullCfg)
	readJSON(t, filepath.Join(moved, "config.json"), &movedCfg)
	if a, b := fmt.Sprint(fullCfg), fmt.Sprint(movedCfg); a != b || fullCfg.Train["epochs"] != 3.0 {
		t.Errorf("config.json of the resumed run:\n%s\nof the uninterrupted one:\n%s", b, a)
	}
	lines := func(dir string) int {
		b, err := os.ReadFile(filepath.Join(dir, "log.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		return bytes.Count(b, []byte("\n"))
	}
	if n := lines(moved); n != 3 {
		t.Errorf("the resumed run's log has %d lines, want 3 (1 + 2 resumed)", n)
	}
	// A fresh run into a used folder replaces its log; with --json its
	// stdout is JSON lines, the epochs' and then the test report.
	out := mustRun(t, "", append(base, "--epochs", "3", "--out", full, "--json")...)
	if n := lines(full); n != 3 {
		t.Errorf("a second fresh run's log has %d lines, want 3", n)
	}
	jsonLines := strings.Split(strings.TrimSpace(out), "\n")
	for i, l := range jsonLines {
		var v map[string]any
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("--json stdout line %d is not JSON: %q", i+1, l)
		}
		if _, ok := v["report"]; ok != (i == len(jsonLines)-1) || len(jsonLines) != 4 {
			t.Errorf("--json stdout: %d lines, line %d has a report: %v; want 3 epochs then the report", len(jsonLines), i+1, ok)
		}
	}
}

// TestUserMistakes checks what a user is told after common mistakes with
// a trained run: each error says what is wrong and what to do instead.
func TestUserMistakes(t *testing.T) {
	data := t.TempDir()
	writeCorpus(t, data)
	dir := filepath.Join(t.TempDir(), "run")
	mustRun(t, "", append([]string{"train", "--data", data, "--epochs", "2", "--patience", "0", "--lr", "0.02",
		"--out", dir, "--quiet", "--device", "cpu"}, small...)...)
	ckpt := filepath.Join(dir, "model.safetensors")
	state := filepath.Join(dir, "state.safetensors")

	// Resuming a finished run trains nothing, and says so.
	r := run(t, "", "train", "--resume", state, "--device", "cpu")
	if r.code != 0 || !strings.Contains(r.stderr, "nothing left to train: it has trained 2 epochs, and --epochs is 2") {
		t.Errorf("resume of a finished run: exit %d, stderr %q; want a note that nothing is left to train", r.code, r.stderr)
	}
	// Fewer epochs than it trained train nothing either, and its
	// config.json still says it trained 2.
	r = run(t, "", "train", "--resume", state, "--device", "cpu", "--epochs", "1")
	if r.code != 0 || !strings.Contains(r.stderr, "nothing left to train: it has trained 2 epochs, and --epochs is 1") {
		t.Errorf("resume with --epochs 1: exit %d, stderr %q; want a note that nothing is left to train", r.code, r.stderr)
	}
	var trained struct {
		Train struct {
			Epochs int `json:"epochs"`
		} `json:"train"`
	}
	if readJSON(t, filepath.Join(dir, "config.json"), &trained); trained.Train.Epochs != 2 {
		t.Errorf("after --resume --epochs 1, config.json says %d epochs; want the 2 the run trained", trained.Train.Epochs)
	}
	// eval --split evaluates the split it names: as many utterances as
	// the run's config.json gives that split.
	var cfg map[string]any
	readJSON(t, filepath.Join(dir, "config.json"), &cfg)
	for _, split := range []string{"val", "train", "test"} {
		out := mustRun(t, "", "eval", "--checkpoint", ckpt, "--device", "cpu", "--split", split)
		want := fmt.Sprintf("the %s split of fold ", split)
		size := fmt.Sprintf(": %v utterances\n", cfg[split+"_size"])
		if !strings.Contains(out, want) || !strings.Contains(out, size) {
			t.Errorf("eval --split %s: output lacks %q and %q:\n%s", split, want, size, out)
		}
	}
	// --resume takes the state, not the model.
	r = run(t, "", "train", "--resume", ckpt, "--device", "cpu")
	if r.code != 1 || !strings.Contains(r.stderr, "state.safetensors") || strings.Contains(r.stderr, "JSON") {
		t.Errorf("--resume of model.safetensors: exit %d, stderr %q; want it to point at state.safetensors", r.code, r.stderr)
	}
	// A wrong --data of the user's own is not "the data it was trained on".
	r = run(t, "", "eval", "--checkpoint", ckpt, "--device", "cpu", "--data", filepath.Join(data, "nope"))
	if r.code != 1 || !strings.Contains(r.stderr, "nope") || strings.Contains(r.stderr, "trained on") || strings.Contains(r.stderr, "give --data") {
		t.Errorf("eval --data of a missing folder: exit %d, stderr %q", r.code, r.stderr)
	}
	// Standard input is JSON lines: plain text, a misspelt field or two
	// objects on a line are refused with the expected form.
	for in, want := range map[string]string{
		"I love it.\n":                       "want a JSON object",
		`{"txt": "I love it."}` + "\n":       `unknown field "txt"`,
		`{"text": "a"} {"text": "b"}` + "\n": "one utterance or dialog per line",
		// A line that is both an utterance and a dialog, or neither, is
		// refused: the text, the speaker or a nested dialog was ignored.
		`{"turns": [{"text": "a"}], "text": "b"}` + "\n":              `give "text" (one utterance) or "turns" (one dialog), not both`,
		`{"turns": [{"text": "a"}], "speaker": "F"}` + "\n":           `not both`,
		`{"turns": [{"text": "a", "turns": [{"text": "b"}]}]}` + "\n": `unknown field "turns"`,
		`{"turns": []}` + "\n":                                        `"turns" is empty`,
		`{"turns": [], "text": "b"}` + "\n":                           `not both`,
		"null\n":                                                      "null: want a JSON object",
		"{}\n":                                                        `no "text" or "turns"`,
		"{\"text\": \"a\"}\n\ufeff{\"text\": \"b\"}\n":                "line 2: invalid character",
		// Latin-1, which JSON's decoder would read as U+FFFD.
		"{\"text\": \"caf\xe9\"}\n": "line 1: not UTF-8 text: byte 14 is 0xe9",
	} {
		r = run(t, in, "predict", "--checkpoint", ckpt, "--device", "cpu")
		if r.code != 1 || !strings.Contains(r.stderr, want) {
			t.Errorf("predict with standard input %q: exit %d, stderr %q; want %q", in, r.code, r.stderr, want)
		}
	}
	if r = run(t, "", "predict", "--checkpoint", ckpt, "--device", "cpu", "ok", "caf\xe9"); r.code != 2 || !strings.Contains(r.stderr, "argument 2: not UTF-8 text: byte 4 is 0xe9") {
		t.Errorf("predict with a Latin-1 argument: exit %d, stderr %q", r.code, r.stderr)
	}
	// A byte order mark before the first line (Windows editors) is skipped.
	if bom := mustRun(t, "\ufeff{\"text\": \"I love it.\"}\n", "predict", "--checkpoint", ckpt, "--device", "cpu"); bom != mustRun(t, "", "predict", "--checkpoint", ckpt, "--device", "cpu", "I love it.") {
		t.Errorf("standard input with a byte order mark gives %q", bom)
	}
	// --speaker applies to standard-input turns that name no speaker.
	args := mustRun(t, "", "predict", "--checkpoint", ckpt, "--device", "cpu", "--speaker", "M", "I hate you idiot.")
	stdin := mustRun(t, `{"text": "I hate you idiot."}`+"\n", "predict", "--checkpoint", ckpt, "--device", "cpu", "--speaker", "M")
	if args != stdin {
		t.Errorf("--speaker M: the argument gives\n%sbut the same text on standard input\n%s", args, stdin)
	}
}

// TestKilledFreshRunLeavesNoEarlierRun: a fresh train into the folder of
// an earlier run, killed (SIGKILL) before its first epoch ends, leaves
// its own config.json beside no checkpoint or metrics of the earlier run:
// eval and --resume find nothing to trust, where they found the earlier
// run's model and state beside the new run's config.
func TestKilledFreshRunLeavesNoEarlierRun(t *testing.T) {
	data := t.TempDir()
	writeCorpus(t, data)
	out := filepath.Join(t.TempDir(), "run")
	base := append([]string{"train", "--data", data, "--out", out, "--patience", "0", "--quiet", "--device", "cpu"}, small...)
	mustRun(t, "", append(base, "--epochs", "1", "--max-batches", "1")...)

	cmd := exec.Command(binary, append(base, "--model", "dialog", "--epochs", "50", "--seed", "7")...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it once it has written its config.json.
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if b, _ := os.ReadFile(filepath.Join(out, "config.json")); bytes.Contains(b, []byte(`"seed": 7,`)) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if time.Now().After(deadline) {
		t.Fatal("the new run wrote no config.json of its own in 60 s")
	}
	if b, err := os.ReadFile(filepath.Join(out, "log.jsonl")); err != nil || len(b) > 0 {
		t.Skipf("the new run logged an epoch before it was killed (log.jsonl: %v)", err)
	}
	var cfg map[string]any
	readJSON(t, filepath.Join(out, "config.json"), &cfg)
	if m, _ := cfg["model"].(map[string]any); m == nil || m["kind"] != "dialog" {
		t.Fatalf("config.json is not the new run's: %v", cfg["model"])
	}
	for _, name := range []string{"model.safetensors", "state.safetensors", "metrics.json"} {
		if _, err := os.Stat(filepath.Join(out, name)); !os.IsNotExist(err) {
			t.Errorf("%s of the earlier run is beside the killed run's config.json (%v)", name, err)
		}
	}
	r := run(t, "", "eval", "--checkpoint", filepath.Join(out, "model.safetensors"), "--device", "cpu")
	if r.code != 1 || !strings.Contains(r.stderr, "model.safetensors") {
		t.Errorf("eval of the killed run's folder: exit %d, stderr %q", r.code, r.stderr)
	}
}
