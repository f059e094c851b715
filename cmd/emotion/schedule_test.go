package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTrainLRSchedule: --lr-schedule cosine trains each epoch at its
// cosine rate, logged in log.jsonl and recorded in config.json, and a
// resumed run keeps its schedule, refusing a new one.
func TestTrainLRSchedule(t *testing.T) {
	data, _ := writeFixture(t)
	out := filepath.Join(t.TempDir(), "run")
	args := []string{"train", "--data", data, "--out", out, "--quiet", "--device", "cpu", "--threads", "1", "--epochs", "4", "--patience", "0",
		"--embed", "8", "--hidden", "4", "--dense", "4", "--min-count", "1", "--lr", "0.01", "--lr-schedule", "cosine", "--min-lr", "0.001"}
	if code, _, e := runEmotion(t, args...); code != 0 {
		t.Fatalf("train: exit %d: %s", code, e)
	}
	b, err := os.ReadFile(filepath.Join(out, "log.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d log lines, want 4", len(lines))
	}
	for i, l := range lines {
		var e struct{ LR float64 }
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatal(err)
		}
		want := 0.001 + 0.009*(1+math.Cos(math.Pi*float64(i)/4))/2
		if math.Abs(e.LR-want) > 1e-8 {
			t.Errorf("epoch %d: lr %g, want %g", i+1, e.LR, want)
		}
	}
	var cfg struct {
		Train struct {
			Schedule string  `json:"lr_schedule"`
			MinLR    float64 `json:"min_lr"`
		}
	}
	b, _ = os.ReadFile(filepath.Join(out, "config.json"))
	if err := json.Unmarshal(b, &cfg); err != nil || cfg.Train.Schedule != "cosine" || math.Abs(cfg.Train.MinLR-0.001) > 1e-9 {
		t.Errorf("config.json train: %+v (%v), want the cosine schedule to 0.001", cfg.Train, err)
	}
	state := filepath.Join(out, "state.safetensors")
	if code, _, e := runEmotion(t, "train", "--resume", state, "--lr-schedule", "plateau"); code != 2 || !strings.Contains(e, "--lr-schedule") {
		t.Errorf("--resume with --lr-schedule: exit %d, %q", code, e)
	}
}

// TestTrainLRScheduleFlags: schedule flags that cannot apply are usage
// errors, before any data is read.
func TestTrainLRScheduleFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--lr-schedule", "step"}, `--lr-schedule "step": want one of constant, cosine, plateau`},
		{[]string{"--lr-factor", "0.1"}, "--lr-factor drives the plateau schedule"},
		{[]string{"--lr-schedule", "cosine", "--lr-patience", "3"}, "--lr-patience drives the plateau schedule"},
		{[]string{"--min-lr", "1e-5"}, "--min-lr is the least rate of a cosine or plateau schedule"},
		{[]string{"--lr-schedule", "plateau", "--lr-factor", "1"}, "--lr-factor 1, want a number between 0 and 1"},
		{[]string{"--lr-schedule", "cosine", "--min-lr", "0.01"}, "--min-lr 0.01, want less than lr = 0.001"},
		{[]string{"--monitor", "val_f1"}, `--monitor "val_f1": want val_acc, val_ua or val_loss`},
	} {
		code, _, e := runEmotion(t, append([]string{"train", "--data", "/nonexistent"}, tc.args...)...)
		if code != 2 || !strings.Contains(e, tc.want) {
			t.Errorf("train %v: exit %d, %q; want 2 and %q", tc.args, code, e, tc.want)
		}
	}
}

// TestTrainMonitor: with --monitor val_ua the best epoch is the first of
// the highest validation UA in log.jsonl, with val_loss the first of the
// lowest validation loss, and metrics.json gives that epoch's accuracy,
// UA and loss and the score that chose it.
func TestTrainMonitor(t *testing.T) {
	// Rates where the fixture's runs choose otherwise than by val_acc
	// (at 0.1 the validation UA stays 0.25 throughout: its first epoch).
	for _, tc := range []struct{ monitor, lr string }{{"val_ua", "0.1"}, {"val_loss", "0.02"}} {
		t.Run(tc.monitor, func(t *testing.T) { trainMonitor(t, tc.monitor, tc.lr) })
	}
}

func trainMonitor(t *testing.T, monitor, lr string) {
	data, _ := writeFixture(t)
	out := filepath.Join(t.TempDir(), "run")
	if code, _, e := runEmotion(t, "train", "--data", data, "--out", out, "--quiet", "--device", "cpu", "--threads", "1", "--epochs", "8", "--patience", "0",
		"--embed", "8", "--hidden", "4", "--dense", "4", "--min-count", "1", "--lr", lr, "--monitor", monitor); code != 0 {
		t.Fatalf("train: exit %d: %s", code, e)
	}
	b, err := os.ReadFile(filepath.Join(out, "log.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	type epoch struct {
		ValAcc  float64 `json:"val_acc"`
		ValUA   float64 `json:"val_ua"`
		ValLoss float64 `json:"val_loss"`
	}
	better := func(e, best epoch) bool { return e.ValUA > best.ValUA }
	if monitor == "val_loss" {
		better = func(e, best epoch) bool { return e.ValLoss < best.ValLoss }
	}
	var best epoch
	bestEpoch, accEpoch, bestAcc := 0, 0, -1.0
	for i, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var e epoch
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatal(err)
		}
		if i == 0 || better(e, best) {
			bestEpoch, best = i+1, e
		}
		if e.ValAcc > bestAcc {
			accEpoch, bestAcc = i+1, e.ValAcc
		}
	}
	if bestEpoch == accEpoch {
		t.Fatalf("%s and val_acc both choose epoch %d: the run cannot tell whether %s chose", monitor, bestEpoch, monitor)
	}
	var m struct {
		BestEpoch   int     `json:"best_epoch"`
		Monitor     string  `json:"monitor"`
		BestValAcc  float64 `json:"best_val_acc"`
		BestValUA   float64 `json:"best_val_ua"`
		BestValLoss float64 `json:"best_val_loss"`
	}
	b, _ = os.ReadFile(filepath.Join(out, "metrics.json"))
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.BestEpoch != bestEpoch || m.Monitor != monitor || m.BestValUA != best.ValUA || m.BestValAcc != best.ValAcc || m.BestValLoss != best.ValLoss {
		t.Errorf("metrics.json: %+v; want best epoch %d by %s, %+v", m, bestEpoch, monitor, best)
	}
	// A --resume of the finished run, and eval of its state, read its
	// best score (a negated loss, for val_loss) and accept it.
	if code, _, e := runEmotion(t, "train", "--resume", filepath.Join(out, "state.safetensors"), "--quiet", "--device", "cpu"); code != 0 {
		t.Fatalf("--resume: exit %d: %s", code, e)
	}
	// eval takes the state too (its best epoch's weights).
	if code, _, e := runEmotion(t, "eval", "--checkpoint", filepath.Join(out, "state.safetensors"), "--device", "cpu"); code != 0 {
		t.Fatalf("eval of the state: exit %d: %s", code, e)
	}
}
