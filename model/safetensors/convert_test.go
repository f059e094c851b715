package safetensors

import (
	"bytes"
	"math"
	"reflect"
	"strings"
	"testing"

	"gorgonia.org/tensor"
)

func TestTypedHelpers(t *testing.T) {
	f32, err := FromFloat32("w", []int{2, 2}, []float32{1, -2, 0.5, float32(math.Inf(1))})
	if err != nil {
		t.Fatal(err)
	}
	// 1 = 3f800000, -2 = c0000000, 0.5 = 3f000000, +Inf = 7f800000, little-endian.
	want := []byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0, 0, 0, 0, 0x3f, 0, 0, 0x80, 0x7f}
	if f32.DType != F32 || !bytes.Equal(f32.Data, want) {
		t.Errorf("FromFloat32 = %v %x, want F32 %x", f32.DType, f32.Data, want)
	}
	i64, err := FromInt64("step", []int{2}, []int64{-1, 1 << 40})
	if err != nil {
		t.Fatal(err)
	}
	wantI := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 1, 0, 0}
	if !bytes.Equal(i64.Data, wantI) {
		t.Errorf("FromInt64 = %x, want %x", i64.Data, wantI)
	}
	if got, err := i64.Int64s(); err != nil || !reflect.DeepEqual(got, []int64{-1, 1 << 40}) {
		t.Errorf("Int64s = %v, %v", got, err)
	}
	f64, _ := FromFloat64("d", nil, []float64{math.Pi})
	if got, err := f64.Float64s(); err != nil || got[0] != math.Pi || len(f64.Shape) != 0 || f64.Shape == nil {
		t.Errorf("scalar F64 = %v (shape %#v), %v", got, f64.Shape, err)
	}
	i32, _ := FromInt32("i", []int{3}, []int32{-7, 0, 7})
	if got, err := i32.Int32s(); err != nil || !reflect.DeepEqual(got, []int32{-7, 0, 7}) {
		t.Errorf("Int32s = %v, %v", got, err)
	}
	u8, _ := FromUint8("m", []int{0}, nil)
	if got, err := u8.Uint8s(); err != nil || len(got) != 0 {
		t.Errorf("empty Uint8s = %v, %v", got, err)
	}

	if _, err := FromFloat32("w", []int{3}, []float32{1, 2}); err == nil {
		t.Error("FromFloat32 accepted 2 values for shape [3]")
	}
	if _, err := f32.Int32s(); err == nil || !strings.Contains(err.Error(), "not I32") {
		t.Errorf("Int32s of an F32 tensor: %v", err)
	}
	short := f32
	short.Data = short.Data[:15]
	if _, err := short.Float32s(); err == nil {
		t.Error("Float32s of a tensor with short data succeeded")
	}
}

func TestDense(t *testing.T) {
	tests := []struct {
		name  string
		dense *tensor.Dense
		dtype string
		shape []int
		want  any // row-major elements
	}{
		{"f32 matrix", tensor.New(tensor.WithShape(2, 3), tensor.WithBacking([]float32{1, 2, 3, 4, 5, 6})),
			F32, []int{2, 3}, []float32{1, 2, 3, 4, 5, 6}},
		{"f64 vector", tensor.New(tensor.WithShape(3), tensor.WithBacking([]float64{-1, 0, 1e300})),
			F64, []int{3}, []float64{-1, 0, 1e300}},
		{"i32 3d", tensor.New(tensor.WithShape(1, 2, 2), tensor.WithBacking([]int32{1, -2, 3, -4})),
			I32, []int{1, 2, 2}, []int32{1, -2, 3, -4}},
		{"i64 scalar", tensor.New(tensor.FromScalar(int64(42))), I64, []int{}, []int64{42}},
		{"u8", tensor.New(tensor.WithShape(2), tensor.WithBacking([]uint8{0, 255})), U8, []int{2}, []uint8{0, 255}},
		{"empty", tensor.New(tensor.WithShape(0, 3), tensor.WithBacking([]float32{})), F32, []int{0, 3}, []float32{}},
	}
	transposed := tensor.New(tensor.WithShape(2, 3), tensor.WithBacking([]float32{1, 2, 3, 4, 5, 6}))
	if err := transposed.T(); err != nil {
		t.Fatal(err)
	}
	tests = append(tests, struct {
		name  string
		dense *tensor.Dense
		dtype string
		shape []int
		want  any
	}{"transposed view", transposed, F32, []int{3, 2}, []float32{1, 4, 2, 5, 3, 6}})

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := FromDense("x", tt.dense)
			if err != nil {
				t.Fatal(err)
			}
			if st.DType != tt.dtype || !reflect.DeepEqual(st.Shape, tt.shape) {
				t.Errorf("FromDense = %s%v, want %s%v", st.DType, st.Shape, tt.dtype, tt.shape)
			}
			if err := st.Validate(); err != nil {
				t.Fatal(err)
			}
			// Through a file and back.
			file, err := Marshal([]Tensor{st}, nil)
			if err != nil {
				t.Fatal(err)
			}
			read, _, err := Read(file)
			if err != nil {
				t.Fatal(err)
			}
			d, err := read[0].Dense()
			if err != nil {
				t.Fatal(err)
			}
			if d.Dtype() != tt.dense.Dtype() {
				t.Errorf("Dense dtype = %v, want %v", d.Dtype(), tt.dense.Dtype())
			}
			gotShape := []int(d.Shape())
			if len(tt.shape) == 0 {
				if !d.IsScalar() {
					t.Errorf("Dense of a scalar has shape %v", d.Shape())
				}
			} else if !reflect.DeepEqual(gotShape, tt.shape) {
				t.Errorf("Dense shape = %v, want %v", gotShape, tt.shape)
			}
			// Data returns the element itself for a scalar and may be nil
			// for an empty tensor; make both a slice like want.
			got := reflect.MakeSlice(reflect.TypeOf(tt.want), 0, d.Size())
			switch {
			case d.IsScalar():
				got = reflect.Append(got, reflect.ValueOf(d.Data()))
			case d.Size() > 0:
				got = reflect.AppendSlice(got, reflect.ValueOf(d.Data()))
			}
			if !reflect.DeepEqual(got.Interface(), tt.want) {
				t.Errorf("Dense data = %v, want %v", got, tt.want)
			}
		})
	}

	if _, err := (Tensor{Name: "h", DType: F16, Shape: []int{1}, Data: []byte{0, 0}}).Dense(); err == nil {
		t.Error("Dense of an F16 tensor succeeded")
	}
	if _, err := FromDense("b", tensor.New(tensor.WithShape(1), tensor.WithBacking([]bool{true}))); err == nil {
		t.Error("FromDense of a bool tensor succeeded")
	}
	if _, err := FromDense("nil", nil); err == nil {
		t.Error("FromDense(nil) succeeded")
	}
}
