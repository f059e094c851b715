package metrics

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Stat is the mean and standard deviation of one score over folds.
type Stat struct {
	Mean float64 `json:"mean"`
	// Std is the population standard deviation (ddof=0, numpy's np.std
	// default): sqrt(Σ(v-mean)²/n).
	Std float64 `json:"std"`
	// Values holds the score of each fold, in fold order.
	Values []float64 `json:"values"`
}

func newStat(values []float64) Stat {
	s := Stat{Values: values}
	if len(values) == 0 {
		return s
	}
	for _, v := range values {
		s.Mean += v
	}
	s.Mean /= float64(len(values))
	var ss float64
	for _, v := range values {
		d := v - s.Mean
		ss += d * d
	}
	s.Std = math.Sqrt(ss / float64(len(values)))
	return s
}

// Summary summarises the reports of the folds of a cross-validation (such as
// leave-one-session-out).
type Summary struct {
	Folds      int  `json:"folds"`
	Accuracy   Stat `json:"accuracy"`
	UA         Stat `json:"ua"`
	MacroF1    Stat `json:"macro_f1"`
	WeightedF1 Stat `json:"weighted_f1"`
	// Pooled is the report of the sum of the folds' confusion matrices, or
	// nil when the folds do not share the same labels (or there are none).
	Pooled *Report `json:"pooled,omitempty"`
}

// Summarize returns the mean and population standard deviation (ddof=0) over
// reports of the accuracy (WA), UA, macro F1 and weighted F1, and the report
// of the pooled confusion matrix.
func Summarize(reports []Report) Summary {
	s := Summary{Folds: len(reports)}
	var acc, ua, mf1, wf1 []float64
	for _, r := range reports {
		acc = append(acc, r.Accuracy)
		ua = append(ua, r.UA)
		mf1 = append(mf1, r.MacroF1)
		wf1 = append(wf1, r.WeightedF1)
	}
	s.Accuracy, s.UA, s.MacroF1, s.WeightedF1 = newStat(acc), newStat(ua), newStat(mf1), newStat(wf1)
	if len(reports) > 0 {
		pooled := NewConfusion(reports[0].Labels)
		ok := true
		for _, r := range reports {
			if !slices.Equal(r.Labels, pooled.Labels) || r.check() != nil {
				ok = false
				break
			}
			if err := pooled.Merge(&Confusion{Labels: r.Labels, Counts: r.Confusion}); err != nil {
				ok = false
				break
			}
		}
		if ok {
			rep := pooled.Report()
			s.Pooled = &rep
		}
	}
	return s
}

// String returns the summary as a table: one row per score with its mean ±
// std and the value of each fold, then the pooled accuracy and UA.
func (s Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d folds, mean ± std (population std, ddof=0)\n", s.Folds)
	fmt.Fprintf(&b, "%-11s  %-15s", "score", "mean ± std")
	for i := range s.Folds {
		fmt.Fprintf(&b, "  %6s", fmt.Sprintf("fold%d", i+1))
	}
	b.WriteString("\n")
	for _, row := range []struct {
		name string
		st   Stat
	}{{"accuracy", s.Accuracy}, {"UA", s.UA}, {"macro F1", s.MacroF1}, {"weighted F1", s.WeightedF1}} {
		fmt.Fprintf(&b, "%-11s  %-15s", row.name, fmt.Sprintf("%.4f ± %.4f", row.st.Mean, row.st.Std))
		for _, v := range row.st.Values {
			fmt.Fprintf(&b, "  %6.4f", v)
		}
		b.WriteString("\n")
	}
	if s.Pooled != nil {
		fmt.Fprintf(&b, "pooled over %d samples: accuracy %.4f, UA %.4f, macro F1 %.4f, weighted F1 %.4f\n",
			s.Pooled.Support, s.Pooled.Accuracy, s.Pooled.UA, s.Pooled.MacroF1, s.Pooled.WeightedF1)
	}
	return b.String()
}
