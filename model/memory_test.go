package model

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/emotionlab/emotion/host"
)

// TestModelLargerThanMemory: a network whose parameters cannot fit in the
// machine's memory is an error from New, before any allocation, not Go's
// fatal out-of-memory error (train --hidden 1000000 ended that way).
func TestModelLargerThanMemory(t *testing.T) {
	total, ok := host.PhysicalMemory()
	if !ok {
		t.Skip("this system does not say how much memory it has")
	}
	c := DefaultConfig(KindSentence, 100, 2)
	c.Hidden = 1_000_000 // 4·H·(E+H+2) per direction: 8·10¹² parameters
	if need := c.NumParams() * 8; need <= total {
		t.Fatalf("the test model needs %d bytes, within this machine's %d", need, total)
	}
	_, err := New(host.NewCPU(1), c)
	if err == nil || !strings.Contains(err.Error(), "of memory this process may use") {
		t.Fatalf("New of a model of %d parameters: %v, want an error naming the memory it may use", c.NumParams(), err)
	}
	if err := checkParamMemory(c.NumParams()/1e6, 5, "x"); err != nil {
		t.Errorf("a model of %d parameters: %v", c.NumParams()/1e6, err)
	}
}

// TestPhysicalMemory: the machine's memory is a plausible size.
func TestPhysicalMemory(t *testing.T) {
	total, ok := host.PhysicalMemory()
	if !ok {
		t.Skip("this system does not say how much memory it has")
	}
	if total < 64<<20 || total > 1<<50 {
		t.Errorf("PhysicalMemory = %d bytes", total)
	}
}

// TestCheckParamMemoryBoundary: checkParamMemory refuses one parameter
// more than the copies fit in the memory this process may use and accepts
// exactly as many as fit; a count whose bytes overflow int64 is refused.
func TestCheckParamMemoryBoundary(t *testing.T) {
	total, ok := host.PhysicalMemory()
	if !ok {
		t.Skip("this system does not say how much memory it has")
	}
	for _, copies := range []int{1, 2, 5, 7} {
		fit := total / (4 * int64(copies))
		if err := checkParamMemory(fit, copies, "x"); err != nil {
			t.Errorf("%d parameters × %d copies (fit in %d bytes): %v", fit, copies, total, err)
		}
		if err := checkParamMemory(fit-1, copies, "x"); err != nil {
			t.Errorf("%d parameters × %d copies: %v", fit-1, copies, err)
		}
		if err := checkParamMemory(fit+1, copies, "x"); err == nil {
			t.Errorf("%d parameters × %d copies (over %d bytes): no error", fit+1, copies, total)
		}
	}
	for _, c := range []struct {
		params int64
		copies int
	}{{math.MaxInt64 / 3, 5}, {1 << 61, 2}, {1<<62 + 1, 1}, {1 << 60, 7}} { // the last three wrap to 0, 4 and a negative count
		if err := checkParamMemory(c.params, c.copies, "x"); err == nil {
			t.Errorf("%d parameters × %d copies, whose bytes overflow int64: no error", c.params, c.copies)
		}
	}
}

// hugeNet is a network of n parameters that holds none: enough for the
// memory check that NewTrainer makes before it touches the network.
type hugeNet struct {
	Network
	n int
}

func (h hugeNet) Params() []*Param { return []*Param{{Name: "w", Shape: []int{h.n}}} }

// TestMemoryCheckCopies: New checks room for two copies of the parameters
// (values and gradients), NewTrainer five, or seven with a moving average;
// the error names the memory they need, which says the copies counted.
func TestMemoryCheckCopies(t *testing.T) {
	total, ok := host.PhysicalMemory()
	if !ok {
		t.Skip("this system does not say how much memory it has")
	}
	need := func(params int64, copies int) string {
		return fmt.Sprintf("need %.1f GB,", float64(params)*4*float64(copies)/1e9)
	}
	c := DefaultConfig(KindSentence, 100, 2)
	c.Hidden = 1_000_000
	_, err := New(host.NewCPU(1), c)
	if want := need(c.NumParams(), 2); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("New of %d parameters: %v, want %q", c.NumParams(), err, want)
	}
	n := int(total/4) + 1 // one copy does not fit
	for _, tc := range []struct {
		ema    float32
		copies int
	}{{0, 5}, {0.9, 7}} {
		_, err := NewTrainer(host.NewCPU(1), hugeNet{n: n}, TrainConfig{Epochs: 1, LR: 0.1, EMA: tc.ema})
		if want := need(int64(n), tc.copies); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("NewTrainer, ema %g, %d parameters: %v, want %q", tc.ema, n, err, want)
		}
	}
}
