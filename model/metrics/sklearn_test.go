package metrics

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os/exec"
	"testing"
)

// sklearnScript prints, for each case read from stdin, the classification
// reports at digits 2, 3 and 4 and the averaged scores.
const sklearnScript = `
import json, sys
import warnings
from sklearn.metrics import balanced_accuracy_score, classification_report, precision_recall_fscore_support
warnings.simplefilter("ignore")  # balanced accuracy with a class of no samples
out = []
for case in json.load(sys.stdin):
    labels = list(range(len(case["names"])))
    args = (case["y_true"], case["y_pred"])
    texts = {str(d): classification_report(*args, labels=labels, target_names=case["names"],
                                           digits=d, zero_division=0) for d in (2, 3, 4)}
    avg = {a: [float(x) for x in precision_recall_fscore_support(*args, labels=labels,
                                           average=a, zero_division=0)[:3]]
           for a in ("macro", "weighted")}
    f1 = [float(x) for x in precision_recall_fscore_support(*args, labels=labels,
                                           average=None, zero_division=0)[2]]
    out.append({"texts": texts, "avg": avg, "f1": f1, "ua": float(balanced_accuracy_score(*args))})
json.dump(out, sys.stdout)
`

// TestAgainstScikitLearn compares reports of random confusion matrices with
// scikit-learn's, when a Python with scikit-learn is installed.
func TestAgainstScikitLearn(t *testing.T) {
	var py string
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(p, "-c", "import sklearn").Run() == nil {
			py = p
			break
		}
	}
	if py == "" {
		t.Skip("no python3 with scikit-learn")
	}
	type input struct {
		Names  []string `json:"names"`
		YTrue  []int    `json:"y_true"`
		YPred  []int    `json:"y_pred"`
		counts [][]int
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var cases []input
	for i := range 40 {
		names := emotions
		if i%5 == 4 {
			names = []string{"frustration and excitement", "b", "c"}
		}
		in := input{Names: names, YTrue: []int{}, YPred: []int{}}
		k := len(names)
		in.counts = make([][]int, k)
		for tr := range k {
			in.counts[tr] = make([]int, k)
			for pr := range k {
				// Sparse matrices exercise the zero-division cases.
				if rng.IntN(3) == 0 {
					continue
				}
				n := rng.IntN(40)
				if tr == pr {
					n += rng.IntN(60)
				}
				in.counts[tr][pr] = n
				for range n {
					in.YTrue = append(in.YTrue, tr)
					in.YPred = append(in.YPred, pr)
				}
			}
		}
		if len(in.YTrue) == 0 {
			continue
		}
		cases = append(cases, in)
	}
	// Degenerate matrices: a single sample (right, wrong), every sample
	// wrong, a class never predicted, a class without samples, and classes
	// with neither (where scikit-learn prints micro avg, not accuracy).
	for _, counts := range [][][]int{
		{{1, 0, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}},
		{{0, 0, 0, 0}, {0, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 0, 0}},
		{{0, 2, 1, 0}, {3, 0, 0, 1}, {1, 1, 0, 0}, {0, 0, 4, 0}},
		{{3, 1, 0, 0}, {1, 2, 0, 0}, {2, 1, 0, 0}, {0, 1, 0, 0}},
		{{3, 1, 0, 1}, {1, 2, 0, 0}, {0, 0, 0, 0}, {0, 1, 0, 2}},
		{{3, 1, 0, 0}, {1, 2, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}},
		{{0, 0, 0, 0}, {0, 0, 0, 0}, {0, 0, 5, 0}, {0, 0, 0, 0}},
	} {
		in := input{Names: emotions, counts: counts}
		for tr, row := range counts {
			for pr, n := range row {
				for range n {
					in.YTrue = append(in.YTrue, tr)
					in.YPred = append(in.YPred, pr)
				}
			}
		}
		cases = append(cases, in)
	}
	data, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, "-c", sklearnScript)
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scikit-learn: %v", err)
	}
	var want []struct {
		Texts map[string]string     `json:"texts"`
		Avg   map[string][3]float64 `json:"avg"`
		F1    []float64             `json:"f1"`
		UA    float64               `json:"ua"`
	}
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatalf("scikit-learn output: %v", err)
	}
	for i, in := range cases {
		c := NewConfusion(in.Names)
		c.Counts = in.counts
		r := c.Report()
		if math.Abs(want[i].UA-r.UA) > 1e-12 {
			t.Errorf("case %d: UA = %.17g, scikit-learn's balanced accuracy %.17g", i, r.UA, want[i].UA)
		}
		for j, f := range want[i].F1 {
			if math.Abs(f-r.Classes[j].F1) > 1e-12 {
				t.Errorf("case %d class %d F1 = %.17g, scikit-learn %.17g", i, j, r.Classes[j].F1, f)
			}
		}
		// Older scikit-learn (such as Debian's 1.2.1) computes F1 as
		// 2PR/(P+R), which can differ from 2tp/(support+predicted) in the
		// last bit and then round an exact tie such as 0.6875 the other
		// way. To compare the text layout on every case, print scikit-learn's
		// own F1 values through ClassificationReport.
		textReport := r
		textReport.Classes = append([]ClassReport(nil), r.Classes...)
		if math.Abs(want[i].UA-r.UA) > 1e-12 {
			t.Errorf("case %d: UA = %.17g, scikit-learn's balanced accuracy %.17g", i, r.UA, want[i].UA)
		}
		for j, f := range want[i].F1 {
			textReport.Classes[j].F1 = f
		}
		textReport.MacroF1 = want[i].Avg["macro"][2]
		textReport.WeightedF1 = want[i].Avg["weighted"][2]
		for d, wt := range map[int]string{2: want[i].Texts["2"], 3: want[i].Texts["3"], 4: want[i].Texts["4"]} {
			if got := textReport.ClassificationReport(d); got != wt {
				t.Errorf("case %d %v digits %d:\ngot\n%s\nscikit-learn\n%s", i, in.counts, d, got, wt)
			}
		}
		for _, a := range []struct {
			name string
			got  [3]float64
		}{
			{"macro", [3]float64{r.MacroPrecision, r.MacroRecall, r.MacroF1}},
			{"weighted", [3]float64{r.WeightedPrecision, r.WeightedRecall, r.WeightedF1}},
		} {
			for j := range 3 {
				if math.Abs(a.got[j]-want[i].Avg[a.name][j]) > 1e-12 {
					t.Errorf("case %d %s avg %d = %.17g, scikit-learn %.17g", i, a.name, j, a.got[j], want[i].Avg[a.name][j])
				}
			}
		}
	}
	t.Logf("%d random confusion matrices agree with scikit-learn", len(cases))
}
