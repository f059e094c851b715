package safetensors

import (
	"encoding/binary"
	"fmt"
	"slices"

	"gorgonia.org/tensor"
)

// element is the set of Go element types with a safetensors dtype that the
// typed helpers convert.
type element interface {
	float32 | float64 | int32 | int64 | uint8
}

// dtypeOf returns the safetensors dtype name of T.
func dtypeOf[T element]() string {
	var z T
	switch any(z).(type) {
	case float32:
		return F32
	case float64:
		return F64
	case int32:
		return I32
	case int64:
		return I64
	default:
		return U8
	}
}

// fromSlice builds a tensor of dtype T from row-major values.
func fromSlice[T element](name string, shape []int, v []T) (Tensor, error) {
	t := Tensor{Name: name, DType: dtypeOf[T](), Shape: slices.Clone(shape)}
	n, err := t.NumElements()
	if err != nil {
		return Tensor{}, err
	}
	if n != len(v) {
		return Tensor{}, fmt.Errorf("tensor %q: shape %v holds %d elements, got %d values: %w", name, shape, n, len(v), ErrInvalid)
	}
	if t.Shape == nil {
		t.Shape = []int{}
	}
	t.Data, err = binary.Append(make([]byte, 0, binary.Size(v)), binary.LittleEndian, v)
	if err != nil {
		return Tensor{}, fmt.Errorf("tensor %q: encode: %w", name, err)
	}
	return t, nil
}

// toSlice decodes t's data as a new []T, checking that t's dtype is T's.
func toSlice[T element](t Tensor) ([]T, error) {
	if want := dtypeOf[T](); t.DType != want {
		return nil, fmt.Errorf("tensor %q: dtype is %s, not %s", t.Name, t.DType, want)
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	n, _ := t.NumElements()
	v := make([]T, n)
	if _, err := binary.Decode(t.Data, binary.LittleEndian, v); err != nil {
		return nil, fmt.Errorf("tensor %q: decode: %w", t.Name, err)
	}
	return v, nil
}

// FromFloat32 returns an F32 tensor of the given shape holding v (row-major);
// len(v) must equal the product of shape.
func FromFloat32(name string, shape []int, v []float32) (Tensor, error) {
	return fromSlice(name, shape, v)
}

// FromFloat64 returns an F64 tensor; see FromFloat32.
func FromFloat64(name string, shape []int, v []float64) (Tensor, error) {
	return fromSlice(name, shape, v)
}

// FromInt32 returns an I32 tensor; see FromFloat32.
func FromInt32(name string, shape []int, v []int32) (Tensor, error) {
	return fromSlice(name, shape, v)
}

// FromInt64 returns an I64 tensor; see FromFloat32.
func FromInt64(name string, shape []int, v []int64) (Tensor, error) {
	return fromSlice(name, shape, v)
}

// FromUint8 returns a U8 tensor; see FromFloat32.
func FromUint8(name string, shape []int, v []uint8) (Tensor, error) {
	return fromSlice(name, shape, v)
}

// Float32s returns the elements of an F32 tensor as a new slice.
func (t Tensor) Float32s() ([]float32, error) { return toSlice[float32](t) }

// Float64s returns the elements of an F64 tensor as a new slice.
func (t Tensor) Float64s() ([]float64, error) { return toSlice[float64](t) }

// Int32s returns the elements of an I32 tensor as a new slice.
func (t Tensor) Int32s() ([]int32, error) { return toSlice[int32](t) }

// Int64s returns the elements of an I64 tensor as a new slice.
func (t Tensor) Int64s() ([]int64, error) { return toSlice[int64](t) }

// Uint8s returns the elements of a U8 tensor as a new slice.
func (t Tensor) Uint8s() ([]uint8, error) { return toSlice[uint8](t) }

// FromDense returns the tensor named name holding d's elements in row-major
// order. d may be a view (a transpose or a slice): it is materialised first.
// Supported element types are float32, float64, int32, int64 and uint8.
func FromDense(name string, d *tensor.Dense) (Tensor, error) {
	if d == nil {
		return Tensor{}, fmt.Errorf("tensor %q: nil *tensor.Dense", name)
	}
	if d.DataOrder().IsColMajor() {
		return Tensor{}, fmt.Errorf("tensor %q: column-major dense tensors are not supported", name)
	}
	if d.RequiresIterator() {
		m, ok := d.Materialize().(*tensor.Dense)
		if !ok {
			return Tensor{}, fmt.Errorf("tensor %q: cannot materialise view", name)
		}
		d = m
	}
	shape := []int(d.Shape().Clone())
	if d.IsScalar() {
		shape = []int{}
	}
	// An empty tensor may have no backing array at all.
	if d.Size() == 0 {
		switch d.Dtype() {
		case tensor.Float32:
			return FromFloat32(name, shape, nil)
		case tensor.Float64:
			return FromFloat64(name, shape, nil)
		case tensor.Int32:
			return FromInt32(name, shape, nil)
		case tensor.Int64:
			return FromInt64(name, shape, nil)
		case tensor.Uint8:
			return FromUint8(name, shape, nil)
		}
	}
	switch d.Dtype() {
	case tensor.Float32:
		return FromFloat32(name, shape, d.Float32s()[:d.Size()])
	case tensor.Float64:
		return FromFloat64(name, shape, d.Float64s()[:d.Size()])
	case tensor.Int32:
		return FromInt32(name, shape, d.Int32s()[:d.Size()])
	case tensor.Int64:
		return FromInt64(name, shape, d.Int64s()[:d.Size()])
	case tensor.Uint8:
		return FromUint8(name, shape, d.Uint8s()[:d.Size()])
	}
	return Tensor{}, fmt.Errorf("tensor %q: unsupported dense dtype %v", name, d.Dtype())
}

// Dense returns t as a new row-major *tensor.Dense (a scalar for an empty
// shape). Supported dtypes are F32, F64, I32, I64 and U8.
func (t Tensor) Dense() (*tensor.Dense, error) {
	switch t.DType {
	case F32:
		return toDense[float32](t)
	case F64:
		return toDense[float64](t)
	case I32:
		return toDense[int32](t)
	case I64:
		return toDense[int64](t)
	case U8:
		return toDense[uint8](t)
	}
	return nil, fmt.Errorf("tensor %q: dtype %s has no *tensor.Dense conversion", t.Name, t.DType)
}

func toDense[T element](t Tensor) (*tensor.Dense, error) {
	v, err := toSlice[T](t)
	if err != nil {
		return nil, err
	}
	if len(t.Shape) == 0 {
		return tensor.New(tensor.FromScalar(v[0])), nil
	}
	return tensor.New(tensor.WithShape(slices.Clone(t.Shape)...), tensor.WithBacking(v)), nil
}
