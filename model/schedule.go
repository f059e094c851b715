package model

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
)

// Learning-rate schedules (TrainConfig.Schedule).
const (
	// ScheduleConstant keeps TrainConfig.LR throughout.
	ScheduleConstant = "constant"
	// ScheduleCosine anneals the rate from LR at the first epoch towards
	// MinLR over Epochs epochs, as torch.optim.lr_scheduler.CosineAnnealingLR
	// with T_max = Epochs stepped once an epoch.
	ScheduleCosine = "cosine"
	// SchedulePlateau multiplies the rate by LRFactor (not below MinLR)
	// after more than LRPatience epochs without a better validation
	// score (TrainConfig.Monitor), as torch.optim.lr_scheduler.ReduceLROnPlateau in mode
	// "max" ("min" of the loss for MonitorLoss) with threshold 0 and no cooldown (and its eps: a reduction
	// of less than plateauEps leaves the rate as it is).
	SchedulePlateau = "plateau"
)

// Schedules lists the learning-rate schedules.
var Schedules = []string{ScheduleConstant, ScheduleCosine, SchedulePlateau}

// MarshalJSON writes c (config.json, a training checkpoint) with the
// schedule and the monitored score by name, also where they are the
// defaults left empty, and the fields of its schedule, also where they
// are 0: a plateau run's lr_patience 0 and min_lr 0 are not the flags'
// defaults, and omitted they read as those.
func (c TrainConfig) MarshalJSON() ([]byte, error) {
	type fields TrainConfig // the fields, without this method
	v := struct {
		fields
		Schedule   string   `json:"lr_schedule"`
		Monitor    string   `json:"monitor"`
		MinLR      *float32 `json:"min_lr,omitempty"`
		LRFactor   *float32 `json:"lr_factor,omitempty"`
		LRPatience *int     `json:"lr_patience,omitempty"`
	}{fields: fields(c), Schedule: cmp.Or(c.Schedule, ScheduleConstant), Monitor: cmp.Or(c.Monitor, MonitorAccuracy)}
	if v.Schedule != ScheduleConstant {
		v.MinLR = &c.MinLR
	}
	if v.Schedule == SchedulePlateau {
		v.LRFactor, v.LRPatience = &c.LRFactor, &c.LRPatience
	}
	return json.Marshal(v)
}

// validateSchedule reports a schedule field of c no run can have.
func (c TrainConfig) validateSchedule() error {
	switch c.Schedule {
	case "", ScheduleConstant, ScheduleCosine, SchedulePlateau:
	default:
		return fmt.Errorf("lr_schedule = %q, want one of %q", c.Schedule, Schedules)
	}
	switch {
	case !(c.MinLR >= 0) || !finite(float64(c.MinLR)):
		return fmt.Errorf("min_lr = %g, want a non-negative number", c.MinLR)
	case c.MinLR > 0 && c.MinLR >= c.LR:
		return fmt.Errorf("min_lr = %g, want less than lr = %g", c.MinLR, c.LR)
	case c.Schedule == SchedulePlateau && !(c.LRFactor > 0 && c.LRFactor < 1):
		return fmt.Errorf("lr_factor = %g, want a number between 0 and 1 (the plateau schedule multiplies the rate by it)", c.LRFactor)
	case c.LRPatience < 0:
		return fmt.Errorf("lr_patience = %d, want a non-negative number of epochs", c.LRPatience)
	}
	return nil
}

// epochLR is the learning rate of epoch (1-based) under the schedule: for
// the plateau schedule the rate it has reached (State.LR; LR before any
// reduction).
func (t *Trainer) epochLR(epoch int) float32 {
	switch t.Cfg.Schedule {
	case ScheduleCosine:
		return cosineLR(t.Cfg.LR, t.Cfg.MinLR, epoch, t.Cfg.Epochs)
	case SchedulePlateau:
		if t.State.LR > 0 {
			return t.State.LR
		}
	}
	return t.Cfg.LR
}

// cosineLR is CosineAnnealingLR's closed form at epoch (1-based) of
// epochs: min + (lr − min)·(1 + cos(π·(epoch−1)/epochs))/2, so lr at the
// first epoch, halfway between at the middle, just above min at the last.
func cosineLR(lr, minLR float32, epoch, epochs int) float32 {
	if epochs < 1 {
		return lr
	}
	e := float64(min(max(epoch-1, 0), epochs))
	return float32(float64(minLR) + (float64(lr)-float64(minLR))*(1+math.Cos(math.Pi*e/float64(epochs)))/2)
}

// plateauEps is ReduceLROnPlateau's eps: the least reduction of the rate
// it makes.
const plateauEps = 1e-8

// afterValidation updates the plateau schedule after an epoch whose
// validation score was (best) or was not the best so far.
func (t *Trainer) afterValidation(best bool, lr float32) {
	st := &t.State
	if t.Cfg.Schedule != SchedulePlateau {
		return
	}
	if best {
		st.LRBadEpochs = 0
		return
	}
	st.LRBadEpochs++
	if st.LRBadEpochs > t.Cfg.LRPatience {
		// A smaller step is not made: nor could the rate ever underflow
		// to 0, which State.LR reads as never reduced.
		if next := max(lr*t.Cfg.LRFactor, t.Cfg.MinLR); float64(lr)-float64(next) > plateauEps {
			st.LR = next
		}
		st.LRBadEpochs = 0
	}
}
