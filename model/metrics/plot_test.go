package metrics

import (
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gonum.org/v1/plot"
)

// decodePNG opens path, checks it is a PNG of the given size and returns it.
func decodePNG(t *testing.T, path string, w, h int) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Fatalf("%s is %dx%d, want %dx%d", path, b.Dx(), b.Dy(), w, h)
	}
	return img
}

// countColor counts the pixels within tol of (r, g, b) in 8-bit units.
func countColor(img image.Image, r, g, b uint8, tol int) int {
	n := 0
	bd := img.Bounds()
	for y := bd.Min.Y; y < bd.Max.Y; y++ {
		for x := bd.Min.X; x < bd.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			d := func(c uint32, want uint8) int { return abs(int(c>>8) - int(want)) }
			if d(cr, r) <= tol && d(cg, g) <= tol && d(cb, b) <= tol {
				n++
			}
		}
	}
	return n
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func TestPlotConfusion(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cm.png")
	r := fromCounts(emotions, iemocapCounts).Report()
	if err := PlotConfusion(path, r, "fold 1"); err != nil {
		t.Fatal(err)
	}
	img := decodePNG(t, path, ConfusionPlotWidth, ConfusionPlotHeight)
	// The cells are filled from the Blues palette: the colours of the
	// diagonal cells sad (11/15) and angry and neutral (2/3) must each cover
	// a cell's area.
	pal, _ := bluesPalette(256)
	cols := pal.Colors()
	for _, v := range []float64{11.0 / 15, 2.0 / 3} {
		cr, cg, cb, _ := cols[int(v*255+0.5)].RGBA()
		if n := countColor(img, uint8(cr>>8), uint8(cg>>8), uint8(cb>>8), 2); n < 10000 {
			t.Errorf("only %d pixels of the colour for %.2f", n, v)
		}
	}
	// The colour bar: a strip of clearly blue pixels at the right edge.
	blue := 0
	for y := range ConfusionPlotHeight {
		for x := ConfusionPlotWidth - 60; x < ConfusionPlotWidth; x++ {
			r, _, b, _ := img.At(x, y).RGBA()
			if int(b>>8)-int(r>>8) > 40 {
				blue++
			}
		}
	}
	if blue < 5000 {
		t.Errorf("colour bar: %d blue pixels at the right edge", blue)
	}
	if n := countColor(img, 255, 255, 255, 0); n < ConfusionPlotWidth*ConfusionPlotHeight/20 {
		t.Errorf("only %d white pixels", n)
	}

	bad := r
	bad.Normalized = bad.Normalized[:2]
	if err := PlotConfusion(filepath.Join(dir, "bad.png"), bad, ""); err == nil {
		t.Error("PlotConfusion accepted a report with 2 of 4 rows")
	}
	if err := PlotConfusion(filepath.Join(dir, "missing", "cm.png"), r, ""); err == nil {
		t.Error("PlotConfusion into a missing directory succeeded")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("directory has %d entries, want 1", len(entries))
	}
}

func TestPlotCurves(t *testing.T) {
	dir := t.TempDir()
	var c Curve
	for e := 1; e <= 12; e++ {
		c.Epoch = append(c.Epoch, e)
		c.TrainLoss = append(c.TrainLoss, 1/float64(e))
		c.ValLoss = append(c.ValLoss, 1.2/float64(e)+0.1)
		c.TrainAcc = append(c.TrainAcc, 1-0.5/float64(e))
		c.ValAcc = append(c.ValAcc, 0.7-0.3/float64(e))
	}
	c.ValLoss[3] = math.NaN()
	path := filepath.Join(dir, "curves.png")
	if err := PlotCurves(path, c, "run"); err != nil {
		t.Fatal(err)
	}
	img := decodePNG(t, path, CurvesPlotWidth, CurvesPlotHeight)
	blue := countColor(img, 31, 119, 180, 8)
	orange := countColor(img, 255, 127, 14, 8)
	if blue < 300 || orange < 300 {
		t.Errorf("train (blue) %d and validation (orange) %d pixels; want both drawn", blue, orange)
	}

	// Loss only: one panel, still the same image size.
	lossOnly := Curve{Epoch: c.Epoch, TrainLoss: c.TrainLoss}
	if err := PlotCurves(filepath.Join(dir, "loss.png"), lossOnly, ""); err != nil {
		t.Fatal(err)
	}
	img = decodePNG(t, filepath.Join(dir, "loss.png"), CurvesPlotWidth, CurvesPlotHeight)
	if countColor(img, 255, 127, 14, 8) != 0 {
		t.Error("validation colour drawn without validation data")
	}

	for _, tt := range []struct {
		name string
		c    Curve
		want string
	}{
		{"no epochs", Curve{}, "no epochs"},
		{"short series", Curve{Epoch: []int{1, 2}, ValAcc: []float64{0.5}}, "ValAcc has 1 values for 2 epochs"},
		{"all NaN", Curve{Epoch: []int{1}, TrainLoss: []float64{math.NaN()}}, "no finite values"},
	} {
		err := PlotCurves(filepath.Join(dir, "x.png"), tt.c, "")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestTickStep(t *testing.T) {
	for _, tt := range []struct{ span, want float64 }{
		{0, 1}, {math.Inf(1), 1}, {math.NaN(), 1}, {3, 1}, {10, 1}, {11, 2}, {20, 2}, {21, 5}, {50, 5}, {99, 10}, {150, 20}, {1000, 100},
	} {
		if got := tickStep(tt.span); got != tt.want {
			t.Errorf("tickStep(%g) = %g, want %g", tt.span, got, tt.want)
		}
	}
	ts := integerTicks{}.Ticks(0.6, 12.4)
	if len(ts) != 6 || ts[0].Value != 2 || ts[0].Label != "2" || ts[5].Value != 12 {
		t.Errorf("Ticks(0.6, 12.4) = %v", ts)
	}
}

// TestDistinctTicks: over a narrow range every major tick gets its own
// label (DefaultTicks labels 1.3889–1.3893 all "1.389"); over a wide one
// the labels stay DefaultTicks'.
func TestDistinctTicks(t *testing.T) {
	for _, r := range [][2]float64{{1.3889, 1.3893}, {1.38901, 1.38903}, {0.5, 0.9}, {0, 2.5}} {
		var labels []string
		seen := map[string]bool{}
		for _, tk := range (distinctTicks{}).Ticks(r[0], r[1]) {
			if tk.Label == "" {
				continue
			}
			if seen[tk.Label] {
				t.Errorf("Ticks(%g, %g): label %q twice", r[0], r[1], tk.Label)
			}
			seen[tk.Label] = true
			if v, err := strconv.ParseFloat(tk.Label, 64); err != nil || math.Abs(v-tk.Value) > 1e-9*math.Max(1, math.Abs(tk.Value)) {
				t.Errorf("Ticks(%g, %g): tick at %g labelled %q", r[0], r[1], tk.Value, tk.Label)
			}
			labels = append(labels, tk.Label)
		}
		if len(labels) < 2 {
			t.Errorf("Ticks(%g, %g): major ticks %v", r[0], r[1], labels)
		}
	}
	var def []string
	for _, tk := range (plot.DefaultTicks{}).Ticks(0.5, 0.9) {
		def = append(def, tk.Label)
	}
	var got []string
	for _, tk := range (distinctTicks{}).Ticks(0.5, 0.9) {
		got = append(got, tk.Label)
	}
	if !slices.Equal(got, def) {
		t.Errorf("Ticks(0.5, 0.9) = %q, DefaultTicks gives %q", got, def)
	}
}
