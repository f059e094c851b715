package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/emotionlab/emotion/model"
	"github.com/emotionlab/emotion/model/metrics"
)

// readLogLines reads the epoch lines of a run folder's log.jsonl.
func readLogLines(t *testing.T, dir string) []model.EpochLog {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "log.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var logs []model.EpochLog
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var l model.EpochLog
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("log.jsonl: %q: %v", sc.Text(), err)
		}
		logs = append(logs, l)
	}
	return logs
}

// runMetrics is what the flow tests read of a fold's metrics.json.
type runMetrics struct {
	BestEpoch   int     `json:"best_epoch"`
	BestValAcc  float64 `json:"best_val_acc"`
	BestValUA   float64 `json:"best_val_ua"`
	BestValLoss float64 `json:"best_val_loss"`
	Epochs      int     `json:"epochs"`
}

func readRunMetrics(t *testing.T, dir string) runMetrics {
	t.Helper()
	var m runMetrics
	b, err := os.ReadFile(filepath.Join(dir, "metrics.json"))
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestTrainMetricsOfLastBestEpoch: a run's metrics.json holds its best
// epoch's validation figures, those of that epoch's log.jsonl line, also
// when the best epoch is the last one (a one-epoch run: an off-by-one in
// the history lookup wrote zeros); and --max-batches N trains N batches
// an epoch, as log.jsonl's "batches" says (not N−1).
func TestTrainMetricsOfLastBestEpoch(t *testing.T) {
	data, _ := writeFixture(t)
	out := filepath.Join(t.TempDir(), "run")
	args := append([]string{"train", "--data", data, "--out", out, "--quiet", "--batch-size", "8"}, tinyResumeRun...)
	args = append(args, "--epochs", "1")
	if code, _, e := runEmotion(t, args...); code != 0 {
		t.Fatalf("train: exit %d: %s", code, e)
	}
	logs := readLogLines(t, out)
	m := readRunMetrics(t, out)
	if len(logs) != 1 || m.BestEpoch != 1 {
		t.Fatalf("%d log lines, best epoch %d: want 1 and 1", len(logs), m.BestEpoch)
	}
	best := logs[m.BestEpoch-1]
	if m.BestValAcc != best.ValAcc || m.BestValUA != best.ValUA || m.BestValLoss != best.ValLoss || best.ValLoss == 0 {
		t.Errorf("metrics.json best_val_acc %v, best_val_ua %v, best_val_loss %v; log.jsonl's best epoch: %v, %v, %v",
			m.BestValAcc, m.BestValUA, m.BestValLoss, best.ValAcc, best.ValUA, best.ValLoss)
	}
	for _, l := range logs {
		if l.BatchCount != 2 {
			t.Errorf("epoch %d trained %d batches, want --max-batches 2", l.Epoch, l.BatchCount)
		}
	}
}

// TestTrainEarlyStopEpochsAndResume: a run that early stopping ends says
// in metrics.json how many epochs it trained (its log.jsonl lines), not
// the --epochs it was given; and --resume with a larger --epochs trains
// nothing more (early stopping ended it): it says so, and log.jsonl stays
// as it was.
func TestTrainEarlyStopEpochsAndResume(t *testing.T) {
	data, _ := writeFixture(t)
	out := filepath.Join(t.TempDir(), "run")
	args := []string{"train", "--data", data, "--out", out, "--quiet", "--epochs", "30", "--patience", "1", "--max-batches", "2",
		"--device", "cpu", "--threads", "1", "--embed", "8", "--hidden", "4", "--dense", "4", "--min-count", "1"}
	if code, _, e := runEmotion(t, args...); code != 0 {
		t.Fatalf("train: exit %d: %s", code, e)
	}
	logs := readLogLines(t, out)
	if len(logs) >= 30 {
		t.Fatalf("--patience 1 did not stop the run early (%d epochs): the test needs one that stops", len(logs))
	}
	if m := readRunMetrics(t, out); m.Epochs != len(logs) {
		t.Errorf("metrics.json epochs %d, but the run trained %d (log.jsonl lines)", m.Epochs, len(logs))
	}
	before, err := os.ReadFile(filepath.Join(out, "log.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	code, _, e := runEmotion(t, "train", "--resume", filepath.Join(out, "state.safetensors"), "--epochs", "40", "--device", "cpu", "--threads", "1")
	if code != 0 || !strings.Contains(e, "nothing left to train: early stopping ended it") {
		t.Errorf("--resume --epochs 40 of an early-stopped run: exit %d, stderr %q", code, e)
	}
	if after, err := os.ReadFile(filepath.Join(out, "log.jsonl")); err != nil || !bytes.Equal(after, before) {
		t.Errorf("log.jsonl changed: the early-stopped run trained on (%v)", err)
	}
}

// TestResumeFlagsRefused: every train flag but those --resume takes (how
// long and where to run, what to print, where the data and vectors now
// are: listed here, not read from resumeFlags, which the test checks) is
// a usage error with --resume, naming the flag: the run's own settings
// (its --seed, say) come from its record, and one given beside --resume
// would be silently ignored.
func TestResumeFlagsRefused(t *testing.T) {
	code, help, _ := runEmotion(t, "train", "--help")
	if code != 0 {
		t.Fatalf("train --help: exit %d", code)
	}
	re := regexp.MustCompile(`(?m)^\s+--([a-z0-9-]+)(\[=true\|false\]| (\w+))`)
	state := filepath.Join(t.TempDir(), "state.safetensors") // refused before it is read
	takes := map[string]bool{"resume": true, "epochs": true, "device": true, "threads": true, "dependent-launch": true,
		"quiet": true, "json": true, "cpuprofile": true, "data": true, "embeddings": true}
	n := 0
	for _, m := range re.FindAllStringSubmatch(help, -1) {
		name, kind := m[1], m[3]
		if takes[name] {
			continue
		}
		value := map[string]string{"": "true", "int": "1", "float": "0.5", "float32": "0.5", "string": "x"}[kind]
		if value == "" {
			t.Errorf("--%s: flag type %q: the test has no value for it", name, kind)
			continue
		}
		n++
		code, _, e := runEmotion(t, "train", "--resume", state, "--"+name+"="+value)
		if code != 2 || !strings.Contains(e, "--resume continues a run with the settings it was started with; --"+name+" cannot change them") {
			t.Errorf("--resume --%s=%s: exit %d, stderr %q", name, value, code, e)
		}
	}
	if n < 30 {
		t.Errorf("only %d flags checked: the help's flags were not found", n)
	}
}

// TestResumeLOSOFlow: a loso run's --json ends with the summary over its
// folds (mean and std of each score, not the folds' reports); resuming
// fold 2 with another --epochs is a usage error (the folds would differ
// in epochs); resuming fold 1 for more epochs removes the top-level
// metrics.json before it trains (stopped early, here by a failing --json
// line, it must not leave the old summary); and the folds that a resumed
// run starts afresh train with the run's settings (--no-class-weights,
// --monitor, --ema), their config.json "train" the same as fold 1's.
func TestResumeLOSOFlow(t *testing.T) {
	data, _ := writeFixture(t)
	out := filepath.Join(t.TempDir(), "run")
	code, o, e := runEmotion(t, append([]string{"train", "--data", data, "--out", out, "--protocol", "loso", "--json", "--epochs", "1",
		"--no-class-weights", "--monitor", "val_loss", "--ema", "0.9"}, tinyResumeRun...)...)
	if code != 0 {
		t.Fatalf("train: exit %d: %s", code, e)
	}
	lines := strings.Split(strings.TrimSpace(o), "\n")
	var last struct {
		Summary *metrics.Summary `json:"summary"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil || last.Summary == nil {
		t.Fatalf("the last --json line %q: %v", lines[len(lines)-1], err)
	}
	s := last.Summary
	var sum float64
	for k := range 5 {
		rep, err := readFoldReport(filepath.Join(out, "fold"+string(rune('1'+k)), "metrics.json"))
		if err != nil {
			t.Fatal(err)
		}
		sum += rep.Accuracy
	}
	if s.Folds != 5 || len(s.Accuracy.Values) != 5 || math.Abs(s.Accuracy.Mean-sum/5) > 1e-9 || s.Accuracy.Std < 0 || len(s.UA.Values) != 5 {
		t.Errorf("the summary %+v: want 5 folds, the mean accuracy %v", s, sum/5)
	}

	fold := func(k int) string { return filepath.Join(out, "fold"+string(rune('0'+k)), "state.safetensors") }
	code, _, e = runEmotion(t, "train", "--resume", fold(2), "--epochs", "3", "--quiet", "--device", "cpu", "--threads", "1")
	if code != 2 || !strings.Contains(e, "a loso run keeps its epochs once a fold is done") {
		t.Errorf("--resume of fold 2 with --epochs 3: exit %d, stderr %q", code, e)
	}

	code, buf := emotionStdoutFull([]string{"train", "--resume", fold(1), "--epochs", "3", "--json", "--device", "cpu", "--threads", "1"})
	if code != 1 || !strings.Contains(buf, "--json line") {
		t.Fatalf("--resume of fold 1 with a failing standard output: exit %d, stderr %q", code, buf)
	}
	if _, err := os.Stat(filepath.Join(out, "metrics.json")); !os.IsNotExist(err) {
		t.Errorf("the summary over the folds is still there, though fold 1 trains on (%v)", err)
	}

	if code, _, e := runEmotion(t, "train", "--resume", fold(1), "--quiet", "--device", "cpu", "--threads", "1"); code != 0 {
		t.Fatalf("--resume of fold 1 to the end: exit %d: %s", code, e)
	}
	var first []byte
	for k := 1; k <= 5; k++ {
		var c struct {
			Train json.RawMessage `json:"train"`
		}
		b, err := os.ReadFile(filepath.Join(out, "fold"+string(rune('0'+k)), "config.json"))
		if err == nil {
			err = json.Unmarshal(b, &c)
		}
		if err != nil {
			t.Fatal(err)
		}
		if k == 1 {
			first = c.Train
			var tc model.TrainConfig
			if err := json.Unmarshal(c.Train, &tc); err != nil || tc.ClassWeights != nil || tc.Monitor != model.MonitorLoss || tc.EMA != 0.9 || tc.Epochs != 3 {
				t.Errorf("fold 1's training config %s (%v)", c.Train, err)
			}
		} else if !bytes.Equal(c.Train, first) {
			t.Errorf("fold %d's training config %s, fold 1's %s", k, c.Train, first)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "metrics.json")); err != nil {
		t.Errorf("the finished run has no summary: %v", err)
	}
}
