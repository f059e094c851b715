package bench

import (
	"strings"
	"testing"

	"github.com/emotionlab/emotion/host"
	"github.com/emotionlab/emotion/model"
)

// TestProfileTrainNeedsAGPU checks that profiling on a backend without a
// profiler is an error naming it.
func TestProfileTrainNeedsAGPU(t *testing.T) {
	b, err := Synthetic(model.KindSentence, 3, 1, 4, SynthOptions{Vocab: 60, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	_, err = ProfileTrain(host.NewCPU(1), b, tinyConfig(model.KindSentence, 60), 1)
	if err == nil || !strings.Contains(err.Error(), "needs a GPU backend, not cpu") {
		t.Errorf("ProfileTrain on the CPU: %v", err)
	}
}
