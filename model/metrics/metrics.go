// Package metrics scores classifiers: confusion matrices, the per-class and
// averaged precision, recall and F1 that scikit-learn reports, summaries over
// cross-validation folds, JSON reports and PNG plots.
//
// The numbers follow scikit-learn's precision_recall_fscore_support and
// classification_report called with labels=range(K), target_names=Labels
// and zero_division=0: every class of the confusion matrix is reported and
// averaged, also one that has no true and no predicted sample; a ratio whose
// denominator is zero is 0. For class k with tp = Counts[k][k], support (true
// count) s and predicted count p:
//
//	precision = tp/p    recall = tp/s    F1 = 2·tp/(s+p)
//
// F1 is computed from the counts, as current scikit-learn does; releases up to
// 1.2 computed 2PR/(P+R), which can differ in the last bit and so, rarely,
// round an exact tie (0.6875 at 3 digits) the other way in a report.
//
// Macro averages are plain means over classes, weighted averages are means
// weighted by support. Accuracy is the weighted accuracy (WA) of emotion
// recognition papers, the fraction of all samples classified correctly; UA,
// the unweighted accuracy, is the mean recall over the classes that have
// samples (scikit-learn's balanced_accuracy_score, and the validation UA
// of model.Eval): the macro recall wherever every class has samples, as in
// every IEMOCAP split, and not lowered by a class the split lacks.
package metrics

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Confusion is a confusion matrix over a fixed list of classes.
type Confusion struct {
	// Labels names the classes; class k is Labels[k].
	Labels []string
	// Counts[t][p] counts the samples of true class t predicted as class p.
	Counts [][]int
}

// NewConfusion returns an empty confusion matrix over the named classes.
func NewConfusion(labels []string) *Confusion {
	c := &Confusion{Labels: append([]string(nil), labels...), Counts: make([][]int, len(labels))}
	for i := range c.Counts {
		c.Counts[i] = make([]int, len(labels))
	}
	return c
}

// Add counts one sample of class trueLabel predicted as class pred. Like an
// index expression, it panics when a class is out of range: that is a bug
// in the caller, not a condition to handle.
func (c *Confusion) Add(trueLabel, pred int) {
	if trueLabel < 0 || trueLabel >= len(c.Counts) || pred < 0 || pred >= len(c.Counts) {
		panic(fmt.Sprintf("metrics: Confusion.Add(%d, %d) with %d classes", trueLabel, pred, len(c.Counts)))
	}
	c.Counts[trueLabel][pred]++
}

// AddBatch counts a batch of samples. Samples whose true label is negative
// (unlabelled, such as dataset.NoLabel) are skipped. It returns an error, and
// counts nothing, when the slices differ in length or a label or prediction
// is out of range.
func (c *Confusion) AddBatch(trueLabels, preds []int32) error {
	if len(trueLabels) != len(preds) {
		return fmt.Errorf("confusion: %d labels but %d predictions", len(trueLabels), len(preds))
	}
	k := int32(len(c.Counts))
	for i, t := range trueLabels {
		if t >= k || (t >= 0 && (preds[i] < 0 || preds[i] >= k)) {
			return fmt.Errorf("confusion: sample %d: label %d, prediction %d outside [0, %d)", i, t, preds[i], k)
		}
	}
	for i, t := range trueLabels {
		if t >= 0 {
			c.Counts[t][preds[i]]++
		}
	}
	return nil
}

// Merge adds the counts of o, which must have the same labels, to c; use it
// to pool the folds of a cross-validation.
func (c *Confusion) Merge(o *Confusion) error {
	if len(o.Labels) != len(c.Labels) {
		return fmt.Errorf("confusion: merge %d classes into %d", len(o.Labels), len(c.Labels))
	}
	for i := range c.Labels {
		if c.Labels[i] != o.Labels[i] {
			return fmt.Errorf("confusion: merge class %d %q into %q", i, o.Labels[i], c.Labels[i])
		}
	}
	for i := range c.Counts {
		for j := range c.Counts[i] {
			c.Counts[i][j] += o.Counts[i][j]
		}
	}
	return nil
}

// Total returns the number of samples counted.
func (c *Confusion) Total() int {
	n := 0
	for _, row := range c.Counts {
		for _, v := range row {
			n += v
		}
	}
	return n
}

// ClassReport holds the scores of one class.
type ClassReport struct {
	Label     string  `json:"label"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	// Support is the number of samples of this class.
	Support int `json:"support"`
}

// Report holds every score of a confusion matrix.
type Report struct {
	Labels []string `json:"labels"`
	// Accuracy is the weighted accuracy (WA): correct samples / all samples.
	Accuracy float64 `json:"accuracy"`
	// UA is the unweighted accuracy: the mean recall over the classes with
	// samples (balanced_accuracy_score).
	UA                float64 `json:"ua"`
	MacroPrecision    float64 `json:"macro_precision"`
	MacroRecall       float64 `json:"macro_recall"`
	MacroF1           float64 `json:"macro_f1"`
	WeightedPrecision float64 `json:"weighted_precision"`
	WeightedRecall    float64 `json:"weighted_recall"`
	WeightedF1        float64 `json:"weighted_f1"`
	// Classes holds the per-class scores, in label order.
	Classes []ClassReport `json:"classes"`
	// Support is the number of samples.
	Support int `json:"support"`
	// Confusion[t][p] counts samples of true class t predicted as p.
	Confusion [][]int `json:"confusion"`
	// Normalized is Confusion with each row divided by its sum (a row of
	// zeros for a class without samples).
	Normalized [][]float64 `json:"normalized"`
}

// ratio returns num/den, or 0 when den is 0 (scikit-learn's zero_division=0).
func ratio(num, den float64) float64 {
	if den == 0 {
		return 0
	}
	return num / den
}

// Report computes the scores of c. It works on a copy: later changes to c do
// not show in the report.
func (c *Confusion) Report() Report {
	k := len(c.Counts)
	r := Report{
		Labels:     append([]string(nil), c.Labels...),
		Classes:    make([]ClassReport, k),
		Confusion:  make([][]int, k),
		Normalized: make([][]float64, k),
	}
	predSum := make([]int, k)
	correct := 0
	for t, row := range c.Counts {
		r.Confusion[t] = append([]int(nil), row...)
		for p, v := range row {
			predSum[p] += v
		}
		correct += row[t]
	}
	for t, row := range c.Counts {
		support := 0
		for _, v := range row {
			support += v
		}
		r.Normalized[t] = make([]float64, k)
		for p, v := range row {
			r.Normalized[t][p] = ratio(float64(v), float64(support))
		}
		tp := float64(row[t])
		r.Classes[t] = ClassReport{
			Label:     c.Labels[t],
			Precision: ratio(tp, float64(predSum[t])),
			Recall:    ratio(tp, float64(support)),
			F1:        ratio(2*tp, float64(support+predSum[t])),
			Support:   support,
		}
		r.Support += support
	}
	r.Accuracy = ratio(float64(correct), float64(r.Support))

	// Sum in class order, then divide, as numpy's mean and average do for
	// so few elements.
	var sp, sr, sf, wp, wr, wf float64
	for _, cl := range r.Classes {
		sp += cl.Precision
		sr += cl.Recall
		sf += cl.F1
		w := float64(cl.Support)
		wp += cl.Precision * w
		wr += cl.Recall * w
		wf += cl.F1 * w
	}
	r.MacroPrecision = ratio(sp, float64(k))
	r.MacroRecall = ratio(sr, float64(k))
	r.MacroF1 = ratio(sf, float64(k))
	var present int
	var presentRecall float64
	for _, cl := range r.Classes {
		if cl.Support > 0 {
			present++
			presentRecall += cl.Recall
		}
	}
	r.UA = ratio(presentRecall, float64(present))
	r.WeightedPrecision = ratio(wp, float64(r.Support))
	r.WeightedRecall = ratio(wr, float64(r.Support))
	r.WeightedF1 = ratio(wf, float64(r.Support))
	return r
}

// check reports whether r's matrices are square over its labels, as Report
// makes them (a hand-built or decoded Report may not be).
func (r Report) check() error {
	k := len(r.Labels)
	if len(r.Confusion) != k || len(r.Normalized) != k {
		return fmt.Errorf("report has %d labels but %d count and %d normalised rows", k, len(r.Confusion), len(r.Normalized))
	}
	for i := range k {
		if len(r.Confusion[i]) != k || len(r.Normalized[i]) != k {
			return fmt.Errorf("report row %d has %d counts and %d fractions for %d labels", i, len(r.Confusion[i]), len(r.Normalized[i]), k)
		}
	}
	return nil
}

// padLeft right-aligns s in a field of width characters, counting runes as
// Python's str.format does.
func padLeft(s string, width int) string {
	if n := utf8.RuneCountInString(s); n < width {
		return strings.Repeat(" ", width-n) + s
	}
	return s
}

// ClassificationReport returns the text that scikit-learn's
// classification_report(y_true, y_pred, labels=range(K), target_names=Labels,
// digits=digits) prints for the same samples: a header line, one row per
// class, a blank line, then the accuracy, macro avg and weighted avg rows.
// The first column is as wide as the longest of the class names and
// "weighted avg" (and at least digits); every other column is 9 wide, one
// more space before each. Like scikit-learn, it prints the supports as
// floats ("49.0") when no sample is classified correctly, and names the row
// after the classes "micro avg", with the micro-averaged precision, recall
// and F1 (all three the accuracy), instead of "accuracy" when some class
// has neither a sample nor a prediction (scikit-learn's labels then differ
// from unique_labels(y_true, y_pred)).
func (r Report) ClassificationReport(digits int) string {
	if digits < 0 {
		digits = 0
	}
	width := len("weighted avg")
	for _, l := range r.Labels {
		width = max(width, utf8.RuneCountInString(l))
	}
	width = max(width, digits)

	// When no sample is classified correctly (or there is none),
	// scikit-learn's supports turn into floats (multilabel_confusion_matrix
	// starts from float zeros in that "pathological case") and print as
	// "49.0"; do the same.
	correct := 0
	for i, row := range r.Confusion {
		if i < len(row) {
			correct += row[i]
		}
	}
	floatSupport := correct == 0
	// A class absent from both the samples and the predictions.
	predicted := make([]int, len(r.Classes))
	for _, row := range r.Confusion {
		for p, v := range row {
			if p < len(predicted) {
				predicted[p] += v
			}
		}
	}
	unseen := false
	for k, c := range r.Classes {
		unseen = unseen || c.Support == 0 && predicted[k] == 0
	}

	var b strings.Builder
	num := func(v float64) string { return " " + padLeft(strconv.FormatFloat(v, 'f', digits, 64), 9) }
	count := func(n int) string {
		s := strconv.Itoa(n)
		if floatSupport {
			s += ".0"
		}
		return " " + padLeft(s, 9)
	}
	row := func(name string, p, rc, f float64, support int) {
		b.WriteString(padLeft(name, width) + " " + num(p) + num(rc) + num(f) + count(support) + "\n")
	}

	b.WriteString(padLeft("", width) + " ")
	for _, h := range []string{"precision", "recall", "f1-score", "support"} {
		b.WriteString(" " + padLeft(h, 9))
	}
	b.WriteString("\n\n")
	for _, c := range r.Classes {
		row(c.Label, c.Precision, c.Recall, c.F1, c.Support)
	}
	b.WriteString("\n")
	blank := " " + strings.Repeat(" ", 9)
	if unseen {
		row("micro avg", r.Accuracy, r.Accuracy, r.Accuracy, r.Support)
	} else {
		b.WriteString(padLeft("accuracy", width) + " " + blank + blank + num(r.Accuracy) + count(r.Support) + "\n")
	}
	row("macro avg", r.MacroPrecision, r.MacroRecall, r.MacroF1, r.Support)
	row("weighted avg", r.WeightedPrecision, r.WeightedRecall, r.WeightedF1, r.Support)
	return b.String()
}

// ConfusionTable returns the confusion matrix as two aligned text tables,
// true classes as rows and predicted classes as columns: the counts, with
// row and column totals, then the row-normalised fractions.
//
// A report whose matrices do not match its labels gives a one-line message
// instead.
func (r Report) ConfusionTable() string {
	if err := r.check(); err != nil {
		return "invalid report: " + err.Error() + "\n"
	}
	const corner = "true \\ pred"
	k := len(r.Labels)
	nameW := utf8.RuneCountInString(corner)
	cellW := len("0.000")
	for _, l := range r.Labels {
		nameW = max(nameW, utf8.RuneCountInString(l))
		cellW = max(cellW, utf8.RuneCountInString(l))
	}
	cellW = max(cellW, len("total"), len(strconv.Itoa(r.Support)))

	var b strings.Builder
	header := func() {
		b.WriteString(padRight(corner, nameW))
		for _, l := range r.Labels {
			b.WriteString("  " + padLeft(l, cellW))
		}
	}

	b.WriteString("counts\n")
	header()
	b.WriteString("  " + padLeft("total", cellW) + "\n")
	colSum := make([]int, k)
	for t := range k {
		b.WriteString(padRight(r.Labels[t], nameW))
		sum := 0
		for p := range k {
			v := r.Confusion[t][p]
			b.WriteString("  " + padLeft(strconv.Itoa(v), cellW))
			sum += v
			colSum[p] += v
		}
		b.WriteString("  " + padLeft(strconv.Itoa(sum), cellW) + "\n")
	}
	b.WriteString(padRight("total", nameW))
	for _, v := range colSum {
		b.WriteString("  " + padLeft(strconv.Itoa(v), cellW))
	}
	b.WriteString("  " + padLeft(strconv.Itoa(r.Support), cellW) + "\n")

	b.WriteString("\nrow-normalised (recall on the diagonal)\n")
	header()
	b.WriteString("\n")
	for t := range k {
		b.WriteString(padRight(r.Labels[t], nameW))
		for p := range k {
			b.WriteString("  " + padLeft(strconv.FormatFloat(r.Normalized[t][p], 'f', 3, 64), cellW))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// padRight left-aligns s in a field of width characters.
func padRight(s string, width int) string {
	if n := utf8.RuneCountInString(s); n < width {
		return s + strings.Repeat(" ", width-n)
	}
	return s
}
