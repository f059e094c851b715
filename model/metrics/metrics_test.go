package metrics

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var emotions = []string{"angry", "happy", "neutral", "sad"}

// iemocapCounts is a 4-class confusion matrix with 80 samples:
//
//	true\pred angry happy neutral sad | support
//	angry        10     2       3   0 |  15
//	happy         1    12       5   2 |  20
//	neutral       2     4      20   4 |  30
//	sad           0     1       3  11 |  15
//	predicted    13    19      31  17 |  80
var iemocapCounts = [][]int{{10, 2, 3, 0}, {1, 12, 5, 2}, {2, 4, 20, 4}, {0, 1, 3, 11}}

// zeroCounts has a class (c) with no sample but one prediction and a class
// (d) with samples but no prediction:
//
//	true\pred  a bb  c  d | support
//	a          2  1  0  0 | 3
//	bb         1  0  1  0 | 2
//	c          0  0  0  0 | 0
//	d          1  1  0  0 | 2
//	predicted  4  2  1  0 | 7
var zeroCounts = [][]int{{2, 1, 0, 0}, {1, 0, 1, 0}, {0, 0, 0, 0}, {1, 1, 0, 0}}

func fromCounts(labels []string, counts [][]int) *Confusion {
	c := NewConfusion(labels)
	for t, row := range counts {
		for p, n := range row {
			for range n {
				c.Add(t, p)
			}
		}
	}
	return c
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-12 }

func TestReportByHand(t *testing.T) {
	// Per class: precision tp/predicted, recall tp/support, F1 2tp/(support+predicted).
	type cls struct {
		p, r, f float64
		s       int
	}
	tests := []struct {
		name    string
		labels  []string
		counts  [][]int
		classes []cls
		acc     float64
	}{
		{"iemocap", emotions, iemocapCounts, []cls{
			{10.0 / 13, 10.0 / 15, 20.0 / 28, 15},
			{12.0 / 19, 12.0 / 20, 24.0 / 39, 20},
			{20.0 / 31, 20.0 / 30, 40.0 / 61, 30},
			{11.0 / 17, 11.0 / 15, 22.0 / 32, 15},
		}, 53.0 / 80},
		{"zero division", []string{"a", "bb", "c", "d"}, zeroCounts, []cls{
			{2.0 / 4, 2.0 / 3, 4.0 / 7, 3},
			{0, 0, 0, 2},
			{0, 0, 0, 0}, // no support: recall 0/0 → 0; precision 0/1
			{0, 0, 0, 2}, // never predicted: precision 0/0 → 0
		}, 2.0 / 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := fromCounts(tt.labels, tt.counts).Report()
			var sp, sr, sf, wp, wr, wf, presentRecall float64
			n, present := 0, 0
			for i, want := range tt.classes {
				got := r.Classes[i]
				if got.Label != tt.labels[i] || got.Support != want.s || !near(got.Precision, want.p) || !near(got.Recall, want.r) || !near(got.F1, want.f) {
					t.Errorf("class %d = %+v, want %+v", i, got, want)
				}
				sp, sr, sf = sp+want.p, sr+want.r, sf+want.f
				w := float64(want.s)
				wp, wr, wf = wp+w*want.p, wr+w*want.r, wf+w*want.f
				n += want.s
				if want.s > 0 { // UA: the mean recall over classes with samples
					present++
					presentRecall += want.r
				}
			}
			k := float64(len(tt.classes))
			checks := []struct {
				name      string
				got, want float64
			}{
				{"Accuracy", r.Accuracy, tt.acc},
				{"UA", r.UA, presentRecall / float64(present)},
				{"MacroPrecision", r.MacroPrecision, sp / k},
				{"MacroRecall", r.MacroRecall, sr / k},
				{"MacroF1", r.MacroF1, sf / k},
				{"WeightedPrecision", r.WeightedPrecision, wp / float64(n)},
				{"WeightedRecall", r.WeightedRecall, wr / float64(n)},
				{"WeightedF1", r.WeightedF1, wf / float64(n)},
				// Weighted recall is accuracy.
				{"WeightedRecall=Accuracy", r.WeightedRecall, tt.acc},
			}
			for _, c := range checks {
				if !near(c.got, c.want) {
					t.Errorf("%s = %.15g, want %.15g", c.name, c.got, c.want)
				}
			}
			if r.Support != n {
				t.Errorf("Support = %d, want %d", r.Support, n)
			}
			if !reflect.DeepEqual(r.Confusion, tt.counts) {
				t.Errorf("Confusion = %v", r.Confusion)
			}
			for i, row := range tt.counts {
				for j, v := range row {
					want := 0.0
					if s := tt.classes[i].s; s > 0 {
						want = float64(v) / float64(s)
					}
					if !near(r.Normalized[i][j], want) {
						t.Errorf("Normalized[%d][%d] = %g, want %g", i, j, r.Normalized[i][j], want)
					}
				}
			}
		})
	}
}

func TestReportValuesIemocap(t *testing.T) {
	// The same matrix, against decimal values worked out on paper.
	r := fromCounts(emotions, iemocapCounts).Report()
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"accuracy", r.Accuracy, 0.6625},
		{"UA", r.UA, 0.6666667},
		{"macro precision", r.MacroPrecision, 0.6732574},
		{"macro F1", r.MacroF1, 0.6682270},
		{"weighted precision", r.WeightedPrecision, 0.6653845},
		{"weighted F1", r.WeightedF1, 0.6625826},
	} {
		if math.Abs(c.got-c.want) > 5e-7 {
			t.Errorf("%s = %.7f, want %.7f", c.name, c.got, c.want)
		}
	}
}

func TestEmptyReport(t *testing.T) {
	r := NewConfusion(emotions).Report()
	if r.Accuracy != 0 || r.UA != 0 || r.MacroF1 != 0 || r.WeightedF1 != 0 || r.Support != 0 {
		t.Errorf("empty report = %+v", r)
	}
	// scikit-learn 1.2.1 on y_true = y_pred = [], labels=range(4): no
	// class is seen, so the row is micro avg, and no sample is right, so
	// the supports are floats.
	if s := r.ClassificationReport(2); !strings.Contains(s, "   micro avg       0.00      0.00      0.00       0.0\n") {
		t.Errorf("empty classification report:\n%s", s)
	}
}

// The expected reports below were printed by scikit-learn 1.2.1:
//
//	classification_report(y_true, y_pred, labels=range(K), target_names=labels,
//	                      digits=digits, zero_division=0)
//
// for y_true, y_pred expanded from the confusion matrices above.
func TestClassificationReport(t *testing.T) {
	tests := []struct {
		name   string
		labels []string
		counts [][]int
		digits int
		want   string
	}{
		{"iemocap 2", emotions, iemocapCounts, 2, "" +
			"              precision    recall  f1-score   support\n" +
			"\n" +
			"       angry       0.77      0.67      0.71        15\n" +
			"       happy       0.63      0.60      0.62        20\n" +
			"     neutral       0.65      0.67      0.66        30\n" +
			"         sad       0.65      0.73      0.69        15\n" +
			"\n" +
			"    accuracy                           0.66        80\n" +
			"   macro avg       0.67      0.67      0.67        80\n" +
			"weighted avg       0.67      0.66      0.66        80\n"},
		{"iemocap 4", emotions, iemocapCounts, 4, "" +
			"              precision    recall  f1-score   support\n" +
			"\n" +
			"       angry     0.7692    0.6667    0.7143        15\n" +
			"       happy     0.6316    0.6000    0.6154        20\n" +
			"     neutral     0.6452    0.6667    0.6557        30\n" +
			"         sad     0.6471    0.7333    0.6875        15\n" +
			"\n" +
			"    accuracy                         0.6625        80\n" +
			"   macro avg     0.6733    0.6667    0.6682        80\n" +
			"weighted avg     0.6654    0.6625    0.6626        80\n"},
		{"zero division 4", []string{"a", "bb", "c", "d"}, zeroCounts, 4, "" +
			"              precision    recall  f1-score   support\n" +
			"\n" +
			"           a     0.5000    0.6667    0.5714         3\n" +
			"          bb     0.0000    0.0000    0.0000         2\n" +
			"           c     0.0000    0.0000    0.0000         0\n" +
			"           d     0.0000    0.0000    0.0000         2\n" +
			"\n" +
			"    accuracy                         0.2857         7\n" +
			"   macro avg     0.1250    0.1667    0.1429         7\n" +
			"weighted avg     0.2143    0.2857    0.2449         7\n"},
		// neutral and sad have no sample and no prediction: scikit-learn
		// prints micro avg instead of accuracy.
		{"unseen classes 4", emotions, [][]int{{1, 1, 0, 0}, {0, 1, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}}, 4, "" +
			"              precision    recall  f1-score   support\n" +
			"\n" +
			"       angry     1.0000    0.5000    0.6667         2\n" +
			"       happy     0.5000    1.0000    0.6667         1\n" +
			"     neutral     0.0000    0.0000    0.0000         0\n" +
			"         sad     0.0000    0.0000    0.0000         0\n" +
			"\n" +
			"   micro avg     0.6667    0.6667    0.6667         3\n" +
			"   macro avg     0.3750    0.3750    0.3333         3\n" +
			"weighted avg     0.8333    0.6667    0.6667         3\n"},
		// A single sample, predicted wrong.
		{"single wrong 2", emotions, [][]int{{0, 0, 0, 0}, {0, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 0, 0}}, 2, "" +
			"              precision    recall  f1-score   support\n" +
			"\n" +
			"       angry       0.00      0.00      0.00       0.0\n" +
			"       happy       0.00      0.00      0.00       0.0\n" +
			"     neutral       0.00      0.00      0.00       1.0\n" +
			"         sad       0.00      0.00      0.00       0.0\n" +
			"\n" +
			"   micro avg       0.00      0.00      0.00       1.0\n" +
			"   macro avg       0.00      0.00      0.00       1.0\n" +
			"weighted avg       0.00      0.00      0.00       1.0\n"},
		{"long label 2", []string{"frustrated-excited", "x"}, [][]int{{3, 1}, {2, 5}}, 2, "" +
			"                    precision    recall  f1-score   support\n" +
			"\n" +
			"frustrated-excited       0.60      0.75      0.67         4\n" +
			"                 x       0.83      0.71      0.77         7\n" +
			"\n" +
			"          accuracy                           0.73        11\n" +
			"         macro avg       0.72      0.73      0.72        11\n" +
			"      weighted avg       0.75      0.73      0.73        11\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fromCounts(tt.labels, tt.counts).Report().ClassificationReport(tt.digits)
			if got != tt.want {
				t.Errorf("got\n%s\nwant\n%s\ngot  %q\nwant %q", got, tt.want, got, tt.want)
			}
		})
	}
}

func TestRoundHalfEven(t *testing.T) {
	// Python's format rounds the exact binary value, ties to even, as
	// strconv does: 0.125 → 0.12, 0.375 → 0.38 (both exact in binary).
	c := NewConfusion([]string{"a", "b"})
	c.Counts = [][]int{{1, 7}, {0, 0}} // recall of a = 1/8 = 0.125
	got := c.Report().ClassificationReport(2)
	if !strings.Contains(got, "           a       1.00      0.12      0.22         8\n") {
		t.Errorf("1/8 not rounded half to even:\n%s", got)
	}
	c.Counts = [][]int{{3, 5}, {0, 0}} // recall 3/8 = 0.375
	if got := c.Report().ClassificationReport(2); !strings.Contains(got, "0.38") {
		t.Errorf("3/8 not rounded half to even:\n%s", got)
	}
}

func TestAddBatchAndMerge(t *testing.T) {
	c := NewConfusion(emotions)
	if err := c.AddBatch([]int32{0, 1, -1, 3, 3}, []int32{0, 2, 7, 3, 1}); err != nil {
		t.Fatal(err)
	}
	want := [][]int{{1, 0, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 0}, {0, 1, 0, 1}}
	if !reflect.DeepEqual(c.Counts, want) || c.Total() != 4 {
		t.Errorf("Counts = %v (total %d), want %v", c.Counts, c.Total(), want)
	}
	for _, bad := range []struct{ l, p []int32 }{
		{[]int32{0}, []int32{0, 1}},
		{[]int32{4}, []int32{0}},
		{[]int32{0, 1}, []int32{0, -1}},
		{[]int32{0, 2}, []int32{0, 4}},
	} {
		if err := c.AddBatch(bad.l, bad.p); err == nil {
			t.Errorf("AddBatch(%v, %v) succeeded", bad.l, bad.p)
		}
	}
	if c.Total() != 4 {
		t.Errorf("failed AddBatch changed the counts: total %d", c.Total())
	}
	d := fromCounts(emotions, iemocapCounts)
	if err := d.Merge(c); err != nil {
		t.Fatal(err)
	}
	if d.Total() != 84 || d.Counts[3][1] != 2 {
		t.Errorf("merged total %d, counts %v", d.Total(), d.Counts)
	}
	if err := d.Merge(NewConfusion([]string{"a", "b", "c", "d"})); err == nil {
		t.Error("Merge of different labels succeeded")
	}
	defer func() {
		if recover() == nil {
			t.Error("Add(4, 0) did not panic")
		}
	}()
	c.Add(4, 0)
}

func TestConfusionTable(t *testing.T) {
	got := fromCounts(emotions, iemocapCounts).Report().ConfusionTable()
	want := "" +
		"counts\n" +
		"true \\ pred    angry    happy  neutral      sad    total\n" +
		"angry             10        2        3        0       15\n" +
		"happy              1       12        5        2       20\n" +
		"neutral            2        4       20        4       30\n" +
		"sad                0        1        3       11       15\n" +
		"total             13       19       31       17       80\n" +
		"\n" +
		"row-normalised (recall on the diagonal)\n" +
		"true \\ pred    angry    happy  neutral      sad\n" +
		"angry          0.667    0.133    0.200    0.000\n" +
		"happy          0.050    0.600    0.250    0.100\n" +
		"neutral        0.067    0.133    0.667    0.133\n" +
		"sad            0.000    0.067    0.200    0.733\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestSummarize(t *testing.T) {
	a := fromCounts(emotions, iemocapCounts)
	b := NewConfusion(emotions)
	b.Counts = [][]int{{5, 0, 0, 0}, {0, 5, 0, 0}, {0, 0, 5, 0}, {0, 0, 0, 5}} // perfect
	c := NewConfusion(emotions)
	c.Counts = [][]int{{1, 1, 0, 0}, {1, 1, 0, 0}, {0, 0, 1, 1}, {0, 0, 1, 1}} // half right
	reports := []Report{a.Report(), b.Report(), c.Report()}
	s := Summarize(reports)

	// Accuracies 0.6625, 1, 0.5: mean 2.1625/3; population std from the
	// squared deviations.
	mean := (0.6625 + 1 + 0.5) / 3
	std := math.Sqrt((math.Pow(0.6625-mean, 2) + math.Pow(1-mean, 2) + math.Pow(0.5-mean, 2)) / 3)
	if s.Folds != 3 || !near(s.Accuracy.Mean, mean) || !near(s.Accuracy.Std, std) {
		t.Errorf("accuracy = %+v, want mean %g std %g", s.Accuracy, mean, std)
	}
	if math.Abs(s.Accuracy.Std-0.2082500) > 1e-7 {
		t.Errorf("accuracy std = %.7f, want 0.2082500", s.Accuracy.Std)
	}
	uaMean := (reports[0].UA + 1 + 0.5) / 3
	if !near(s.UA.Mean, uaMean) || !reflect.DeepEqual(s.MacroF1.Values, []float64{reports[0].MacroF1, 1, 0.5}) {
		t.Errorf("UA = %+v, macro F1 = %+v", s.UA, s.MacroF1)
	}
	if s.Pooled == nil || s.Pooled.Support != 80+20+8 || s.Pooled.Confusion[0][0] != 16 {
		t.Fatalf("pooled = %+v", s.Pooled)
	}
	if !near(s.Pooled.Accuracy, float64(53+20+4)/108) {
		t.Errorf("pooled accuracy = %g", s.Pooled.Accuracy)
	}
	str := s.String()
	for _, want := range []string{
		"3 folds, mean ± std (population std, ddof=0)",
		"accuracy     0.7208 ± 0.2082  0.6625  1.0000  0.5000",
		"fold1   fold2   fold3",
		"pooled over 108 samples: accuracy 0.7130",
	} {
		if !strings.Contains(str, want) {
			t.Errorf("String() lacks %q:\n%s", want, str)
		}
	}

	if one := Summarize(reports[:1]); one.Accuracy.Std != 0 || one.Accuracy.Mean != 0.6625 {
		t.Errorf("one fold: %+v", one.Accuracy)
	}
	other := NewConfusion([]string{"a", "b"}).Report()
	if mixed := Summarize([]Report{reports[0], other}); mixed.Pooled != nil {
		t.Error("pooled report over different labels")
	}
	ragged := reports[0]
	ragged.Confusion = [][]int{{1}, {2}, {3}, {4}}
	if got := Summarize([]Report{reports[0], ragged}); got.Pooled != nil || got.Folds != 2 {
		t.Errorf("pooled report over a ragged matrix: %+v", got.Pooled)
	}
	if got := ragged.ConfusionTable(); !strings.HasPrefix(got, "invalid report: ") {
		t.Errorf("ConfusionTable of a ragged report = %q", got)
	}
	if none := Summarize(nil); none.Folds != 0 || none.Pooled != nil || none.Accuracy.Mean != 0 {
		t.Errorf("no folds: %+v", none)
	}
}

func TestWriteJSON(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "report.json")
	r := fromCounts(emotions, iemocapCounts).Report()
	if err := WriteJSON(path, r); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), "{\n  \"labels\": [\n") || !strings.HasSuffix(string(data), "}\n") {
		t.Errorf("not indented JSON:\n%s", data)
	}
	var back Report
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, r) {
		t.Errorf("JSON round trip differs:\n%+v\n%+v", back, r)
	}
	if err := WriteJSON(path, math.NaN()); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("WriteJSON(NaN) = %v", err)
	}
	if err := WriteJSON(filepath.Join(dir, "no", "x.json"), 1); err == nil {
		t.Error("WriteJSON into a missing directory succeeded")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory has %d entries, want only report.json", len(entries))
	}
	// The failed write left the earlier file intact.
	if again, _ := os.ReadFile(path); string(again) != string(data) {
		t.Error("failed WriteJSON changed the existing file")
	}
}
