package model

import (
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
