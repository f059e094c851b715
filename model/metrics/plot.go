package metrics

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/palette/brewer"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Plot sizes. Images are rendered at plotDPI, so a length of one inch is
// plotDPI pixels.
const (
	plotDPI = 96
	// ConfusionPlotWidth and ConfusionPlotHeight are the size in pixels of
	// the image PlotConfusion writes.
	ConfusionPlotWidth, ConfusionPlotHeight = 768, 672
	// CurvesPlotWidth and CurvesPlotHeight are the size in pixels of the
	// image PlotCurves writes.
	CurvesPlotWidth, CurvesPlotHeight = 1152, 480
)

func px(n int) vg.Length { return vg.Length(n) * vg.Inch / plotDPI }

// savePNG renders draw onto a w×h-pixel canvas and writes it to path as a
// PNG, atomically.
func savePNG(path string, w, h int, render func(dc draw.Canvas) error) error {
	c := vgimg.NewWith(vgimg.UseWH(px(w), px(h)), vgimg.UseDPI(plotDPI))
	dc := draw.New(c)
	if err := render(dc); err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return WriteAtomic(path, func(w io.Writer) error {
		_, err := vgimg.PngCanvas{Canvas: c}.WriteTo(w)
		return err
	})
}

// bluesPalette returns n colours interpolated linearly in RGB through the
// ColorBrewer "Blues" sequential scheme, from near white to dark blue.
func bluesPalette(n int) (palette.Palette, error) {
	stops, err := brewer.GetPalette(brewer.TypeSequential, "Blues", 9)
	if err != nil {
		return nil, err
	}
	sc := stops.Colors()
	out := make([]color.Color, n)
	for i := range out {
		pos := float64(i) / float64(n-1) * float64(len(sc)-1)
		j := min(int(pos), len(sc)-2)
		f := pos - float64(j)
		r0, g0, b0, _ := sc[j].RGBA()
		r1, g1, b1, _ := sc[j+1].RGBA()
		mix := func(a, b uint32) uint8 {
			return uint8(math.Round(((1-f)*float64(a) + f*float64(b)) / 257))
		}
		out[i] = color.RGBA{R: mix(r0, r1), G: mix(g0, g1), B: mix(b0, b1), A: 255}
	}
	return paletteColors(out), nil
}

type paletteColors []color.Color

func (p paletteColors) Colors() []color.Color { return p }

// matrixGrid presents a row-normalised confusion matrix as a heat map grid
// with true class t on row k-1-t, so that the first class is at the top.
type matrixGrid [][]float64

func (g matrixGrid) Dims() (c, r int)   { return len(g), len(g) }
func (g matrixGrid) Z(c, r int) float64 { return g[len(g)-1-r][c] }
func (g matrixGrid) X(c int) float64    { return float64(c) }
func (g matrixGrid) Y(r int) float64    { return float64(r) }

// barGrid is a vertical colour bar from 0 to 1 in n steps.
type barGrid int

func (g barGrid) Dims() (c, r int)   { return 1, int(g) }
func (g barGrid) Z(c, r int) float64 { return (float64(r) + 0.5) / float64(g) }
func (g barGrid) X(c int) float64    { return 0 }
func (g barGrid) Y(r int) float64    { return (float64(r) + 0.5) / float64(g) }

// PlotConfusion writes to path a PNG heat map of r's row-normalised confusion
// matrix (ConfusionPlotWidth × ConfusionPlotHeight pixels): true classes as
// rows from the top, predicted classes as columns, each cell showing its count
// and its percentage of the row, with a colour bar from 0 to 100%.
func PlotConfusion(path string, r Report, title string) error {
	k := len(r.Labels)
	if k == 0 {
		return fmt.Errorf("plot %s: report has no classes", path)
	}
	if err := r.check(); err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	pal, err := bluesPalette(256)
	if err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return savePNG(path, ConfusionPlotWidth, ConfusionPlotHeight, func(dc draw.Canvas) error {
		p := plot.New()
		p.Title.Text = title
		p.Title.TextStyle.Font.Size = vg.Points(14)
		p.X.Label.Text = "predicted"
		p.Y.Label.Text = "true"
		hm := plotter.NewHeatMap(matrixGrid(r.Normalized), pal)
		hm.Min, hm.Max = 0, 1
		hm.NaN = color.White
		p.Add(hm)

		var xt, yt []plot.Tick
		for i, l := range r.Labels {
			xt = append(xt, plot.Tick{Value: float64(i), Label: l})
			yt = append(yt, plot.Tick{Value: float64(k - 1 - i), Label: l})
		}
		p.X.Tick.Marker = plot.ConstantTicks(xt)
		p.Y.Tick.Marker = plot.ConstantTicks(yt)
		p.X.Tick.Label.Font.Size = vg.Points(11)
		p.Y.Tick.Label.Font.Size = vg.Points(11)

		var cells plotter.XYLabels
		for t := range k {
			for q := range k {
				cells.XYs = append(cells.XYs, plotter.XY{X: float64(q), Y: float64(k - 1 - t)})
				cells.Labels = append(cells.Labels, fmt.Sprintf("%d\n%.1f%%", r.Confusion[t][q], 100*r.Normalized[t][q]))
			}
		}
		labels, err := plotter.NewLabels(cells)
		if err != nil {
			return err
		}
		for i := range labels.TextStyle {
			st := &labels.TextStyle[i]
			st.XAlign, st.YAlign = draw.XCenter, draw.YCenter
			st.Font.Size = vg.Points(12)
			if r.Normalized[i/k][i%k] > 0.5 {
				st.Color = color.White
			} else {
				st.Color = color.Black
			}
		}
		p.Add(labels)

		dc = draw.Crop(dc, px(8), -px(8), px(8), -px(8))
		barW := px(110)
		main := draw.Crop(dc, 0, -barW, 0, 0)
		p.Draw(main)

		bar := plot.New()
		bh := plotter.NewHeatMap(barGrid(200), pal)
		bh.Min, bh.Max = 0, 1
		bh.Rasterized = true
		bar.Add(bh)
		bar.HideX()
		bar.Y.Min, bar.Y.Max = 0, 1
		var bt []plot.Tick
		for v := 0; v <= 100; v += 25 {
			bt = append(bt, plot.Tick{Value: float64(v) / 100, Label: strconv.Itoa(v) + "%"})
		}
		bar.Y.Tick.Marker = plot.ConstantTicks(bt)
		da := p.DataCanvas(main)
		bc := dc
		bc.Min = vg.Point{X: dc.Max.X - barW + px(20), Y: da.Min.Y}
		bc.Max = vg.Point{X: dc.Max.X - px(10), Y: da.Max.Y}
		bar.Draw(bc)
		return nil
	})
}

// Curve is the history of a training run, one entry per epoch. A series may
// be empty (not recorded); otherwise it must be as long as Epoch. NaN values
// are left out of the plot.
type Curve struct {
	Epoch     []int
	TrainLoss []float64
	ValLoss   []float64
	// TrainAcc and ValAcc are fractions in [0, 1].
	TrainAcc []float64
	ValAcc   []float64
}

// PlotCurves writes to path one PNG (CurvesPlotWidth × CurvesPlotHeight
// pixels) with two panels side by side: the training and validation loss per
// epoch on the left, the training and validation accuracy on the right. A
// panel whose series are all empty is left out.
func PlotCurves(path string, c Curve, title string) error {
	n := len(c.Epoch)
	if n == 0 {
		return fmt.Errorf("plot %s: no epochs", path)
	}
	for _, s := range []struct {
		name string
		v    []float64
	}{{"TrainLoss", c.TrainLoss}, {"ValLoss", c.ValLoss}, {"TrainAcc", c.TrainAcc}, {"ValAcc", c.ValAcc}} {
		if len(s.v) != 0 && len(s.v) != n {
			return fmt.Errorf("plot %s: %s has %d values for %d epochs", path, s.name, len(s.v), n)
		}
	}
	type series struct {
		name string
		v    []float64
	}
	panels := []struct {
		name   string
		series []series
	}{
		{"loss", []series{{"train", c.TrainLoss}, {"validation", c.ValLoss}}},
		{"accuracy", []series{{"train", c.TrainAcc}, {"validation", c.ValAcc}}},
	}
	var plots []*plot.Plot
	for _, pn := range panels {
		p := plot.New()
		if title != "" {
			p.Title.Text = title + ": " + pn.name
		} else {
			p.Title.Text = pn.name
		}
		p.X.Label.Text = "epoch"
		p.Y.Label.Text = pn.name
		p.X.Tick.Marker = integerTicks{}
		p.Y.Tick.Marker = distinctTicks{}
		p.Add(plotter.NewGrid())
		p.Legend.Top = pn.name == "loss"
		inUnit := true
		added := 0
		for i, s := range pn.series {
			var xys plotter.XYs
			for j, v := range s.v {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					continue
				}
				xys = append(xys, plotter.XY{X: float64(c.Epoch[j]), Y: v})
				inUnit = inUnit && v >= 0 && v <= 1
			}
			if len(xys) == 0 {
				continue
			}
			line, points, err := plotter.NewLinePoints(xys)
			if err != nil {
				return fmt.Errorf("plot %s: %w", path, err)
			}
			col := []color.Color{color.RGBA{R: 31, G: 119, B: 180, A: 255}, color.RGBA{R: 255, G: 127, B: 14, A: 255}}[i]
			line.Color, points.Color = col, col
			line.Width = vg.Points(1.5)
			points.Shape = draw.CircleGlyph{}
			points.Radius = vg.Points(2)
			if i == 1 {
				line.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
			}
			p.Add(line, points)
			p.Legend.Add(s.name, line, points)
			added++
		}
		if added == 0 {
			continue
		}
		if pn.name == "accuracy" && inUnit {
			p.Y.Min, p.Y.Max = 0, 1
		}
		plots = append(plots, p)
	}
	if len(plots) == 0 {
		return fmt.Errorf("plot %s: %w", path, errors.New("no finite values to plot"))
	}
	return savePNG(path, CurvesPlotWidth, CurvesPlotHeight, func(dc draw.Canvas) error {
		tiles := draw.Tiles{Rows: 1, Cols: len(plots), PadX: px(30), PadY: px(10), PadTop: px(10), PadBottom: px(10), PadLeft: px(10), PadRight: px(20)}
		canvases := plot.Align([][]*plot.Plot{plots}, tiles, dc)
		for i, p := range plots {
			p.Draw(canvases[0][i])
		}
		return nil
	})
}

// distinctTicks is plot.DefaultTicks with as many significant digits as
// its labels need to differ: over a narrow range (a few epochs of nearly
// the same loss, 1.3889 to 1.3893) DefaultTicks labels every tick 1.389.
type distinctTicks struct{}

func (distinctTicks) Ticks(lo, hi float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(lo, hi)
	for digits := 0; digits <= 17; digits++ { // 0: DefaultTicks' own labels
		seen := map[string]bool{}
		distinct := true
		labels := make([]string, len(ts))
		for i, t := range ts {
			if t.Label == "" {
				continue // a minor tick
			}
			labels[i] = t.Label
			if digits > 0 {
				labels[i] = strconv.FormatFloat(t.Value, 'g', digits, 64)
			}
			distinct = distinct && !seen[labels[i]]
			seen[labels[i]] = true
		}
		if distinct {
			for i := range ts {
				ts[i].Label = labels[i]
			}
			return ts
		}
	}
	return ts
}

// integerTicks places major ticks on whole numbers only (epochs).
type integerTicks struct{}

func (integerTicks) Ticks(lo, hi float64) []plot.Tick {
	step := tickStep(hi - lo)
	var ts []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi+1e-9; v += step {
		ts = append(ts, plot.Tick{Value: v, Label: strconv.Itoa(int(v))})
	}
	return ts
}

// tickStep returns the smallest of 1, 2, 5, 10, 20, 50, … that divides span
// into at most 10 steps.
func tickStep(span float64) float64 {
	if !(span > 0) || math.IsInf(span, 0) {
		return 1
	}
	for mult := 1.0; ; mult *= 10 {
		for _, s := range []float64{1, 2, 5} {
			if span/(s*mult) <= 10 {
				return s * mult
			}
		}
	}
}
