//go:build cuda || cudaemu

package host

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/emotionlab/emotion/cuda"
)

// profiler is the GPU's record of launches between StartProfile and
// StopProfile: each launch between two timing events on the compute
// stream.
type profiler struct {
	spare   []*cuda.Event
	pending []profiledLaunch
	totals  map[string]*OpTime
}

// profiledLaunch is one recorded launch whose events may not have been
// reached yet.
type profiledLaunch struct {
	op         string
	start, end *cuda.Event
}

// profileSettleAt is how many launches the profiler keeps in flight before
// it waits for them and recycles their events.
const profileSettleAt = 2048

// StartProfile begins timing every launch on the device (Profiler).
func (g *GPU) StartProfile() error {
	if g.prof != nil {
		return errors.New("host: StartProfile: already profiling")
	}
	if err := g.Sync(); err != nil {
		return err
	}
	g.prof = &profiler{totals: map[string]*OpTime{}}
	return nil
}

// StopProfile waits for the device and returns the device time of each
// kind of launch since StartProfile, the longest first (Profiler).
func (g *GPU) StopProfile() ([]OpTime, error) {
	p := g.prof
	if p == nil {
		return nil, errors.New("host: StopProfile: not profiling")
	}
	g.prof = nil
	err := errors.Join(g.settleProfile(p), g.destroyProfileEvents(p))
	if err != nil {
		return nil, fmt.Errorf("host: StopProfile: %w", err)
	}
	if err := g.Sync(); err != nil {
		return nil, err
	}
	out := make([]OpTime, 0, len(p.totals))
	for _, t := range p.totals {
		out = append(out, *t)
	}
	slices.SortFunc(out, func(a, b OpTime) int {
		return cmp.Or(cmp.Compare(b.Device, a.Device), cmp.Compare(a.Op, b.Op))
	})
	return out, nil
}

// destroyProfileEvents destroys every event p holds, spare or pending
// (when a settle failed, or the profile is still running at Close).
func (g *GPU) destroyProfileEvents(p *profiler) error {
	var err error
	for _, e := range p.spare {
		err = errors.Join(err, g.dev.DestroyEvent(e))
	}
	for _, l := range p.pending {
		err = errors.Join(err, g.dev.DestroyEvent(l.start), g.dev.DestroyEvent(l.end))
	}
	p.spare, p.pending = nil, nil
	return err
}

// profileStart records the event before a launch; nil when not profiling.
func (g *GPU) profileStart() *cuda.Event {
	p := g.prof
	if p == nil {
		return nil
	}
	e, err := g.profileEvent(p)
	if err == nil {
		if err = g.dev.Record(e, cuda.Compute); err != nil {
			p.spare = append(p.spare, e) // destroyed with the others
		}
	}
	if !g.check("profile", err) {
		return nil
	}
	return e
}

// profileEnd records the event after a launch that profileStart began and
// files the pair under label (called only when profiling, label built
// then).
func (g *GPU) profileEnd(start *cuda.Event, label func() string) {
	p := g.prof
	if p == nil || start == nil {
		return
	}
	end, err := g.profileEvent(p)
	if err == nil {
		if err = g.dev.Record(end, cuda.Compute); err != nil {
			p.spare = append(p.spare, end)
		}
	}
	if err != nil {
		p.spare = append(p.spare, start)
	}
	if !g.check("profile", err) {
		return
	}
	p.pending = append(p.pending, profiledLaunch{label(), start, end})
	if len(p.pending) >= profileSettleAt {
		g.check("profile", g.settleProfile(p))
	}
}

// profileEvent is a spare timing event, or a new one.
func (g *GPU) profileEvent(p *profiler) (*cuda.Event, error) {
	if n := len(p.spare); n > 0 {
		e := p.spare[n-1]
		p.spare = p.spare[:n-1]
		return e, nil
	}
	return g.dev.NewTimingEvent()
}

// settleProfile waits for the pending launches, adds their times to the
// totals and keeps their events for reuse.
func (g *GPU) settleProfile(p *profiler) error {
	if len(p.pending) == 0 {
		return nil
	}
	g.hostWait()
	if err := g.dev.EventSynchronize(p.pending[len(p.pending)-1].end); err != nil {
		return err
	}
	for i, l := range p.pending {
		d, err := g.dev.Elapsed(l.start, l.end)
		if err != nil {
			p.pending = append(p.pending[:0], p.pending[i:]...) // the settled ones are spare now
			return err
		}
		t := p.totals[l.op]
		if t == nil {
			t = &OpTime{Op: l.op}
			p.totals[l.op] = t
		}
		t.Calls++
		t.Device += d
		p.spare = append(p.spare, l.start, l.end)
	}
	p.pending = p.pending[:0]
	return nil
}

// gemmLabel names a GEMM in a profile by its shape and, when it did not go
// to cuBLAS whole, by how it ran: "k in N" (gemmSplitK) or "tiled"
// (gemm_tiled_f32).
func gemmLabel(op string, transA, transB bool, m, n, k, batch int, route string) string {
	t := func(b bool) string {
		if b {
			return "ᵀ"
		}
		return ""
	}
	s := fmt.Sprintf("%s A%s·B%s m=%d n=%d k=%d", op, t(transA), t(transB), m, n, k)
	if batch > 1 {
		s += fmt.Sprintf(" ×%d", batch)
	}
	if route != "" {
		s += ", " + route
	}
	return s
}
