package model

import (
	"fmt"
	"slices"

	"github.com/emotionlab/emotion/host"
	"gorgonia.org/tensor"
)

// StateDict copies the parameters of m to host tensors keyed by their
// PyTorch state_dict names, shaped as PyTorch shapes them.
func StateDict(be host.Backend, m Module) (map[string]*tensor.Dense, error) {
	sd := make(map[string]*tensor.Dense)
	for _, p := range m.Params() {
		v := make([]float32, p.Len())
		be.Download(v, p.Value)
		sd[p.Name] = tensor.New(tensor.WithShape(p.Shape...), tensor.WithBacking(v))
	}
	if err := be.Sync(); err != nil {
		return nil, fmt.Errorf("state dict: %w", err)
	}
	return sd, nil
}

// LoadStateDict uploads sd into the parameters of m, as PyTorch's
// load_state_dict(strict=True): every parameter must be there with its
// shape and float32 elements, and sd must hold nothing else.
func LoadStateDict(be host.Backend, m Module, sd map[string]*tensor.Dense) error {
	params := m.Params()
	if len(sd) != len(params) {
		names := make(map[string]bool, len(params))
		for _, p := range params {
			names[p.Name] = true
		}
		for name := range sd {
			if !names[name] {
				return fmt.Errorf("load state dict: unexpected tensor %q", name)
			}
		}
	}
	for _, p := range params {
		d, ok := sd[p.Name]
		if !ok {
			return fmt.Errorf("load state dict: missing tensor %q", p.Name)
		}
		if !slices.Equal([]int(d.Shape()), p.Shape) {
			return fmt.Errorf("load state dict: tensor %q has shape %v, the model needs %v", p.Name, d.Shape(), p.Shape)
		}
		if d.Dtype() != tensor.Float32 {
			return fmt.Errorf("load state dict: tensor %q is %v, want float32", p.Name, d.Dtype())
		}
		if d.RequiresIterator() {
			d = d.Materialize().(*tensor.Dense)
		}
		be.Upload(p.Value, d.Float32s()[:p.Len()])
	}
	if err := be.Sync(); err != nil {
		return fmt.Errorf("load state dict: %w", err)
	}
	return nil
}
