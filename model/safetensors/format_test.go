package safetensors

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestDTypeSize checks the element size of every dtype of the safetensors
// specification against the specification itself, not against the
// package's table: a wrong size there (BF16 as 4 bytes) would make Write
// produce, and Read demand, files no other reader agrees with, and a
// round trip through this package alone would not notice.
func TestDTypeSize(t *testing.T) {
	tests := []struct {
		dtype string
		size  int
		ok    bool
	}{
		{"BOOL", 1, true},
		{"U8", 1, true},
		{"I8", 1, true},
		{"F8_E5M2", 1, true},
		{"F8_E4M3", 1, true},
		{"I16", 2, true},
		{"U16", 2, true},
		{"F16", 2, true},
		{"BF16", 2, true},
		{"I32", 4, true},
		{"U32", 4, true},
		{"F32", 4, true},
		{"I64", 8, true},
		{"U64", 8, true},
		{"F64", 8, true},
		{"F128", 0, false},
		{"f32", 0, false},
		{"bf16", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.dtype, func(t *testing.T) {
			size, ok := DTypeSize(tt.dtype)
			if size != tt.size || ok != tt.ok {
				t.Errorf("DTypeSize(%q) = %d, %v; want %d, %v", tt.dtype, size, ok, tt.size, tt.ok)
			}
		})
	}
	if len(dtypes) != 15 {
		t.Errorf("the package supports %d dtypes, the table above the 15 of the specification", len(dtypes))
	}
}

// TestReadHalfPrecision reads a file built by hand holding a BF16 and an
// F16 tensor, the two 2-byte float formats a checkpoint from PyTorch most
// often has: each tensor's span is its element count times 2, and Read
// returns its bytes as they are.
func TestReadHalfPrecision(t *testing.T) {
	bf16 := []byte{0x80, 0x3f, 0x00, 0xc0}            // 1, −2 (the top halves of the float32s)
	f16 := []byte{0x00, 0x3c, 0x00, 0x38, 0x00, 0xc0} // 1, 0.5, −2
	data := file(`{"h":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]},`+
		`"f":{"dtype":"F16","shape":[1,3],"data_offsets":[4,10]}}`, concat(bf16, f16))
	got, md, err := Read(data)
	if err != nil {
		t.Fatal(err)
	}
	if md != nil {
		t.Errorf("metadata = %v, want nil", md)
	}
	want := []Tensor{
		{Name: "h", DType: BF16, Shape: []int{2}, Data: bf16},
		{Name: "f", DType: F16, Shape: []int{1, 3}, Data: f16},
	}
	if len(got) != len(want) {
		t.Fatalf("tensors = %+v, want %+v", got, want)
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Name != w.Name || g.DType != w.DType || !reflect.DeepEqual(g.Shape, w.Shape) || !bytes.Equal(g.Data, w.Data) {
			t.Errorf("tensor %d = %+v, want %+v", i, g, w)
		}
	}
}

// TestValidateExactBytes: a tensor must hold exactly the bytes its shape
// and dtype call for, no fewer and no more. Extra bytes are not harmless:
// the writer takes its data_offsets from len(Data), so a file written
// with them has a span its own header's shape does not fit, which Read
// (and the reference reader) refuse. Validate, Marshal and Save must all
// refuse such a tensor, and Save must leave no file behind.
func TestValidateExactBytes(t *testing.T) {
	tests := []struct {
		name  string
		bytes int
		want  string // "" when valid
	}{
		{"exact", 8, ""},
		{"short", 4, "needs 2×4 bytes, has 4"},
		{"one extra", 9, "needs 2×4 bytes, has 9"},
		{"an element extra", 12, "needs 2×4 bytes, has 12"},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := Tensor{Name: "w", DType: F32, Shape: []int{2}, Data: make([]byte, tt.bytes)}
			check := func(what string, err error) {
				t.Helper()
				switch {
				case tt.want == "" && err != nil:
					t.Errorf("%s: %v", what, err)
				case tt.want != "" && (err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want)):
					t.Errorf("%s: err = %v, want one wrapping ErrInvalid containing %q", what, err, tt.want)
				}
			}
			check("Validate", x.Validate())
			data, err := Marshal([]Tensor{x}, nil)
			check("Marshal", err)
			if err == nil {
				// What was written must read back.
				if _, _, err := Read(data); err != nil {
					t.Errorf("Read of what Marshal wrote: %v", err)
				}
			}
			path := filepath.Join(dir, tt.name+".safetensors")
			check("Save", Save(path, []Tensor{x}, nil, false))
			if _, err := os.Stat(path); tt.want != "" && !os.IsNotExist(err) {
				t.Errorf("Save of an invalid tensor left a file: %v", err)
			}
		})
	}
}

// TestReadDataCapped: each tensor Read returns has a Data whose capacity
// ends where its bytes end. Data is a sub-slice of the file, the next
// tensor's bytes right after it; with room left, an append to one tensor
// (a caller growing a slice it was given) would write over the next one
// in place, silently.
func TestReadDataCapped(t *testing.T) {
	data := bytes.Clone(goldenFile) // an overwrite must not reach the shared golden bytes
	got, _, err := Read(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) < 2 {
		t.Fatalf("%d tensors, want several", len(got))
	}
	for _, x := range got {
		if cap(x.Data) != len(x.Data) {
			t.Errorf("tensor %q: cap(Data) = %d, len %d", x.Name, cap(x.Data), len(x.Data))
		}
	}
	next := bytes.Clone(got[1].Data)
	_ = append(got[0].Data, 0xee, 0xee, 0xee, 0xee)
	if !bytes.Equal(got[1].Data, next) {
		t.Errorf("appending to %q changed %q from % x to % x", got[0].Name, got[1].Name, next, got[1].Data)
	}
}
