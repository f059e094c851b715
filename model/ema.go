package model

import (
	"fmt"

	"github.com/emotionlab/emotion/host"
)

// EMA keeps an exponential moving average of parameters' values, as
// torch.optim.swa_utils.AveragedModel with get_ema_multi_avg_fn(decay) and
// Keras's use_ema with ema_momentum: the first update copies the values,
// every later one sets average = decay·average + (1−decay)·value. Frozen
// parameters never change, so they are not averaged.
//
// Runs of adjacent parameters are averaged with one op each, as Adam
// updates them. Swap exchanges the values with the averages, so that the
// network validates (and the trainer keeps) the averaged weights and then
// trains on from its own.
type EMA struct {
	Decay float32
	// Updates counts the updates done; the next one copies when it is 0.
	Updates int

	be     host.Backend
	params []*Param
	avg    []*host.F32 // per parameter: a view of its run's average; nil when frozen
	runs   []emaRun
	tmp    *host.F32 // Swap's scratch: as long as the longest run
}

// emaRun is the unfrozen parameters params[lo:hi], whose values lie one
// after another in value; avg is their average.
type emaRun struct {
	lo, hi     int
	value, avg *host.F32
}

// NewEMA returns the moving average of params' values with decay, which
// must be in [0, 1); it holds nothing until the first Update.
func NewEMA(be host.Backend, params []*Param, decay float32) (*EMA, error) {
	if !(decay >= 0 && decay < 1) {
		return nil, fmt.Errorf("ema: decay = %g, want a number in [0, 1)", decay)
	}
	e := &EMA{Decay: decay, be: be, params: params, avg: make([]*host.F32, len(params))}
	longest := 0
	for lo := 0; lo < len(params); {
		if params[lo].Frozen {
			lo++
			continue
		}
		hi := lo + 1
		for hi < len(params) && !params[hi].Frozen && host.Adjacent(params[hi-1].Value, params[hi].Value) {
			hi++
		}
		r := emaRun{lo: lo, hi: hi, value: host.Join(params[lo].Value, params[hi-1].Value)}
		r.avg = be.Alloc(r.value.Len())
		off := 0
		for i, p := range params[lo:hi] {
			e.avg[lo+i] = r.avg.Slice(off, p.Len())
			off += p.Len()
		}
		longest = max(longest, r.value.Len())
		e.runs = append(e.runs, r)
		lo = hi
	}
	e.tmp = be.Alloc(max(longest, 1))
	return e, nil
}

// Update folds the parameters' current values into the average.
func (e *EMA) Update() {
	for _, r := range e.runs {
		if e.Updates == 0 {
			e.be.Copy(r.avg, r.value)
			continue
		}
		e.be.Scale(e.Decay, r.avg)
		e.be.Axpy(1-e.Decay, r.value, r.avg)
	}
	e.Updates++
}

// Swap exchanges the parameters' values with their averages; a second Swap
// undoes it. Before the first Update it does nothing.
func (e *EMA) Swap() {
	if e.Updates == 0 {
		return
	}
	for _, r := range e.runs {
		t := e.tmp.Slice(0, r.value.Len())
		e.be.Copy(t, r.value)
		e.be.Copy(r.value, r.avg)
		e.be.Copy(r.avg, t)
	}
}

// Average returns the buffer of parameter i's average, nil for a frozen
// parameter, for checkpoints.
func (e *EMA) Average(i int) *host.F32 { return e.avg[i] }

// SetAverage uploads a saved average of parameter i.
func (e *EMA) SetAverage(i int, v []float32) error {
	switch {
	case e.avg[i] == nil:
		return fmt.Errorf("ema: %s is frozen and has no average", e.params[i].Name)
	case len(v) != e.avg[i].Len():
		return fmt.Errorf("ema: average of %s has %d elements, want %d", e.params[i].Name, len(v), e.avg[i].Len())
	}
	e.be.Upload(e.avg[i], v)
	return nil
}

// Release frees the averages.
func (e *EMA) Release() {
	for _, r := range e.runs {
		e.be.Free(r.avg)
	}
	e.be.Free(e.tmp)
	e.avg, e.runs, e.tmp = nil, nil, nil
}
