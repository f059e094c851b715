package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// goldenFile is a file built by hand from the format description: four
// tensors of three dtypes and one metadata entry. Layout order is I64 (rank
// 13), then F32 (rank 11) by name, then U8 (rank 1); the header is 253 bytes
// of JSON padded with 3 spaces to 256 = 0x100.
var goldenFile = concat(
	[]byte{0x00, 0x01, 0, 0, 0, 0, 0, 0},
	[]byte(`{"__metadata__":{"format":"pt"},`+
		`"step":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},`+
		`"a":{"dtype":"F32","shape":[],"data_offsets":[8,12]},`+
		`"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]},`+
		`"mask":{"dtype":"U8","shape":[3],"data_offsets":[20,23]}}`+
		`   `),
	[]byte{7, 0, 0, 0, 0, 0, 0, 0}, // step = int64(7)
	[]byte{0x00, 0x00, 0x00, 0x3f}, // a = float32(0.5)
	[]byte{0x00, 0x00, 0x80, 0x3f}, // b[0] = float32(1)
	[]byte{0x00, 0x00, 0x00, 0xc0}, // b[1] = float32(-2)
	[]byte{1, 0, 1},                // mask
)

func concat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// goldenTensors are the tensors of goldenFile, deliberately not in layout
// order.
var goldenTensors = []Tensor{
	{Name: "mask", DType: U8, Shape: []int{3}, Data: []byte{1, 0, 1}},
	{Name: "b", DType: F32, Shape: []int{2}, Data: []byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0}},
	{Name: "step", DType: I64, Shape: []int{1}, Data: []byte{7, 0, 0, 0, 0, 0, 0, 0}},
	{Name: "a", DType: F32, Shape: []int{}, Data: []byte{0, 0, 0, 0x3f}},
}

func TestWriteGolden(t *testing.T) {
	got, err := Marshal(goldenTensors, map[string]string{"format": "pt"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, goldenFile) {
		t.Fatalf("Marshal:\n got %q\nwant %q", got, goldenFile)
	}
}

func TestReadGolden(t *testing.T) {
	tensors, md, err := Read(goldenFile)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"format": "pt"}; !reflect.DeepEqual(md, want) {
		t.Errorf("metadata = %v, want %v", md, want)
	}
	want := []Tensor{goldenTensors[2], goldenTensors[3], goldenTensors[1], goldenTensors[0]}
	if !reflect.DeepEqual(tensors, want) {
		t.Errorf("tensors = %+v\nwant %+v", tensors, want)
	}
	b, err := tensors[2].Float32s()
	if err != nil || !reflect.DeepEqual(b, []float32{1, -2}) {
		t.Errorf("b = %v, %v; want [1 -2]", b, err)
	}
	step, err := tensors[0].Int64s()
	if err != nil || !reflect.DeepEqual(step, []int64{7}) {
		t.Errorf("step = %v, %v; want [7]", step, err)
	}
}

// TestReferenceVectors checks byte for byte the outputs that the reference
// Rust implementation's own unit tests expect (test_serialization, test_empty,
// test_serialization_forced_alignement in safetensors/src/tensor.rs).
func TestReferenceVectors(t *testing.T) {
	f32 := func(v ...float32) []byte {
		b, _ := binary.Append(nil, binary.LittleEndian, v)
		return b
	}
	data := f32(0, 1, 2, 3, 4, 5)
	tests := []struct {
		name     string
		tensors  []Tensor
		metadata map[string]string
		want     []byte
	}{
		{
			name:    "attn.0",
			tensors: []Tensor{{Name: "attn.0", DType: F32, Shape: []int{1, 2, 3}, Data: data}},
			want: concat([]byte{64, 0, 0, 0, 0, 0, 0, 0},
				[]byte(`{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}`), data),
		},
		{
			name:    "forced alignment",
			tensors: []Tensor{{Name: "attn0", DType: F32, Shape: []int{1, 1, 2, 3}, Data: data}},
			want: concat([]byte{72, 0, 0, 0, 0, 0, 0, 0},
				[]byte(`{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}       `), data),
		},
		{
			name: "empty",
			want: []byte{8, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '},
		},
		{
			name:     "metadata only",
			metadata: map[string]string{"framework": "pt"},
			want: concat([]byte{40, 0, 0, 0, 0, 0, 0, 0},
				[]byte(`{"__metadata__":{"framework":"pt"}}     `)),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Marshal(tt.tensors, tt.metadata)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("got  %q\nwant %q", got, tt.want)
			}
			if _, _, err := Read(got); err != nil {
				t.Fatalf("Read: %v", err)
			}
		})
	}
}

// allDTypes returns one small tensor of every supported dtype, including an
// empty one and a scalar.
func allDTypes() []Tensor {
	var out []Tensor
	for i, d := range dtypes {
		shape := []int{2, 3}
		switch i % 3 {
		case 1:
			shape = []int{}
		case 2:
			shape = []int{4, 0, 2}
		}
		n := 1
		for _, s := range shape {
			n *= s
		}
		data := make([]byte, n*d.size)
		for j := range data {
			data[j] = byte(17*i + j)
		}
		out = append(out, Tensor{Name: "t_" + d.name, DType: d.name, Shape: shape, Data: data})
	}
	return out
}

func byName(ts []Tensor) map[string]Tensor {
	m := make(map[string]Tensor, len(ts))
	for _, t := range ts {
		m[t.Name] = t
	}
	return m
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		tensors  []Tensor
		metadata map[string]string
	}{
		{"all dtypes", allDTypes(), map[string]string{"epoch": "3", "quote\"back\\slash\n<&>": "ünïcødé\x01"}},
		{"no metadata", goldenTensors, nil},
		{"nothing", nil, nil},
		{"odd names", []Tensor{
			{Name: "", DType: U8, Shape: []int{1}, Data: []byte{9}},
			{Name: "lstm.weight_ih_l0", DType: F32, Shape: []int{4, 1}, Data: make([]byte, 16)},
			{Name: "tab\tname \u2028", DType: F32, Shape: []int{1}, Data: make([]byte, 4)},
		}, map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file, err := Marshal(tt.tensors, tt.metadata)
			if err != nil {
				t.Fatal(err)
			}
			n := binary.LittleEndian.Uint64(file)
			if n%8 != 0 {
				t.Errorf("header size %d is not a multiple of 8", n)
			}
			got, md, err := Read(file)
			if err != nil {
				t.Fatal(err)
			}
			if len(tt.metadata) == 0 {
				if md != nil {
					t.Errorf("metadata = %v, want nil", md)
				}
			} else if !reflect.DeepEqual(md, tt.metadata) {
				t.Errorf("metadata = %v, want %v", md, tt.metadata)
			}
			if len(got) != len(tt.tensors) {
				t.Fatalf("%d tensors, want %d", len(got), len(tt.tensors))
			}
			gm := byName(got)
			for _, want := range tt.tensors {
				g, ok := gm[want.Name]
				if !ok {
					t.Errorf("tensor %q missing", want.Name)
					continue
				}
				if g.DType != want.DType || !reflect.DeepEqual(g.Shape, want.Shape) || !bytes.Equal(g.Data, want.Data) {
					t.Errorf("tensor %q = %+v, want %+v", want.Name, g, want)
				}
			}
			// Layout order: non-increasing dtype rank, names ascending
			// within a dtype.
			for i := 1; i < len(got); i++ {
				ra, _, _ := dtypeInfo(got[i-1].DType)
				rb, _, _ := dtypeInfo(got[i].DType)
				if ra < rb || (ra == rb && got[i-1].Name > got[i].Name) {
					t.Errorf("tensor %q stored before %q", got[i-1].Name, got[i].Name)
				}
			}
		})
	}
}

func TestSaveLoad(t *testing.T) {
	dir := t.TempDir()
	tensors := allDTypes()
	big := make([]float32, 10000)
	for i := range big {
		big[i] = float32(i % 7)
	}
	bt, err := FromFloat32("big", []int{100, 100}, big)
	if err != nil {
		t.Fatal(err)
	}
	tensors = append(tensors, bt)
	md := map[string]string{"model": "bilstm"}
	plain, err := Marshal(tensors, md)
	if err != nil {
		t.Fatal(err)
	}
	for _, compress := range []bool{false, true} {
		path := filepath.Join(dir, "m.safetensors")
		if compress {
			path += ".zst"
		}
		if err := Save(path, tensors, md, compress); err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := bytes.HasPrefix(raw, zstdMagic); got != compress {
			t.Errorf("compress=%v: file starts with zstd magic = %v", compress, got)
		}
		if !compress && !bytes.Equal(raw, plain) {
			t.Errorf("plain file differs from Marshal output")
		}
		if compress && len(raw) >= len(plain) {
			t.Errorf("compressed file is %d bytes, plain %d", len(raw), len(plain))
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
			t.Errorf("mode = %v, %v; want 0644", fi.Mode(), err)
		}
		got, gmd, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		again, err := Marshal(got, gmd)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, plain) {
			t.Errorf("compress=%v: Load then Marshal differs from the original", compress)
		}
	}
	// Overwriting replaces the file, and no temporary file is left behind.
	path := filepath.Join(dir, "m.safetensors")
	if err := Save(path, goldenTensors, nil, false); err != nil {
		t.Fatal(err)
	}
	if got, _, err := Load(path); err != nil || len(got) != len(goldenTensors) {
		t.Errorf("after overwrite: %d tensors, %v", len(got), err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want only the two saved files", names)
	}
}

func TestSaveErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.safetensors")
	bad := []Tensor{{Name: "w", DType: F32, Shape: []int{2}, Data: make([]byte, 4)}}
	if err := Save(path, bad, nil, false); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("Save of invalid tensor: %v", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("Save of invalid tensor created the file: %v", err)
	}
	if err := Save(filepath.Join(dir, "missing", "x.safetensors"), goldenTensors, nil, false); err == nil {
		t.Error("Save into a missing directory succeeded")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("failed saves left %d files behind", len(entries))
	}
}

func TestWriteErrors(t *testing.T) {
	tests := []struct {
		name    string
		tensors []Tensor
		md      map[string]string
		want    string
	}{
		{"unknown dtype", []Tensor{{Name: "x", DType: "F128", Shape: []int{1}, Data: make([]byte, 16)}}, nil, "unknown dtype"},
		{"short data", []Tensor{{Name: "x", DType: F32, Shape: []int{2, 2}, Data: make([]byte, 15)}}, nil, "needs 4×4 bytes, has 15"},
		{"long data", []Tensor{{Name: "x", DType: F32, Shape: []int{2}, Data: make([]byte, 12)}}, nil, "needs 2×4 bytes, has 12"},
		{"negative dim", []Tensor{{Name: "x", DType: F32, Shape: []int{-1}, Data: nil}}, nil, "negative dimension"},
		{"overflow", []Tensor{{Name: "x", DType: U8, Shape: []int{1 << 40, 1 << 40}, Data: nil}}, nil, "overflows"},
		{"duplicate", []Tensor{goldenTensors[0], goldenTensors[0]}, nil, `duplicate tensor name "mask"`},
		{"reserved", []Tensor{{Name: MetadataKey, DType: U8, Shape: []int{}, Data: []byte{1}}}, nil, "reserved"},
		{"bad utf8 name", []Tensor{{Name: "\xff", DType: U8, Shape: []int{}, Data: []byte{1}}}, nil, "UTF-8"},
		{"bad utf8 metadata", nil, map[string]string{"k": "\xfe"}, "UTF-8"},
		// Control characters take six bytes each in the header's JSON: this
		// header would be over the limit that Read enforces.
		{"header too large", nil, map[string]string{"k": strings.Repeat("\x01", MaxHeaderSize/6+1)}, "exceeds the limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			err := Write(&b, tt.tensors, tt.md)
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
			if b.Len() != 0 {
				t.Errorf("wrote %d bytes before failing", b.Len())
			}
		})
	}
}

// file assembles a file from a header string (unpadded) and a buffer.
func file(hdr string, buf []byte) []byte {
	var size [8]byte
	binary.LittleEndian.PutUint64(size[:], uint64(len(hdr)))
	return concat(size[:], []byte(hdr), buf)
}

func withSize(n uint64, rest []byte) []byte {
	var size [8]byte
	binary.LittleEndian.PutUint64(size[:], n)
	return concat(size[:], rest)
}

func TestReadErrors(t *testing.T) {
	f32x2 := `{"dtype":"F32","shape":[2],"data_offsets":[`
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty file", nil, "shorter than the 8-byte header size"},
		{"7 bytes", []byte{2, 0, 0, 0, 0, 0, 0}, "shorter than the 8-byte header size"},
		{"header too large", withSize(MaxHeaderSize+1, []byte("{}")), "exceeds the limit"},
		{"header beyond file", withSize(100, []byte("{}")), "exceeds the 2 bytes after the size field"},
		{"huge header size", withSize(math.MaxUint64, nil), "exceeds the limit"},
		{"a JSON file", []byte("{\n  \"run\": {\"data\": 1}\n}\n"), `not a safetensors file: it begins with the text "{\n  \"run\": {\"dat"`},
		{"text, short", []byte("hello, world"), `it begins with the text "hello, world"`},
		{"not utf8", file("{\"\xff\":1}", nil), "not valid UTF-8"},
		{"not json", file(`{"a":`, nil), "not JSON"},
		{"garbage", file(`hello`, nil), "not JSON"},
		{"array", file(`[1,2]`, nil), "not a JSON object"},
		{"string", file(`"x"`, nil), "not a JSON object"},
		{"trailing data", file(`{} {}`, nil), "data after its JSON object"},
		{"entry not object", file(`{"a":[1]}`, nil), "not a JSON object"},
		{"entry null", file(`{"a":null}`, nil), "not a JSON object"},
		{"unknown field", file(`{"a":{"dtype":"U8","shape":[],"offsets":[0,1]}}`, []byte{1}), "unknown field"},
		{"no dtype", file(`{"a":{"shape":[],"data_offsets":[0,1]}}`, []byte{1}), "no dtype"},
		{"no shape", file(`{"a":{"dtype":"U8","data_offsets":[0,1]}}`, []byte{1}), "no shape"},
		{"no offsets", file(`{"a":{"dtype":"U8","shape":[]}}`, []byte{1}), "data_offsets must be two numbers, got 0"},
		{"three offsets", file(`{"a":{"dtype":"U8","shape":[],"data_offsets":[0,1,1]}}`, []byte{1}), "got 3"},
		{"unknown dtype", file(`{"a":{"dtype":"F128","shape":[],"data_offsets":[0,16]}}`, make([]byte, 16)), `unknown dtype "F128"`},
		{"lower-case dtype", file(`{"a":{"dtype":"f32","shape":[],"data_offsets":[0,4]}}`, make([]byte, 4)), `unknown dtype "f32"`},
		{"negative dim", file(`{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}}`, nil), "not a non-negative integer"},
		{"float dim", file(`{"a":{"dtype":"U8","shape":[1.0],"data_offsets":[0,1]}}`, []byte{1}), "not a non-negative integer"},
		{"string dim", file(`{"a":{"dtype":"U8","shape":["1"],"data_offsets":[0,1]}}`, []byte{1}), "not a non-negative integer"},
		{"string offset", file(`{"a":{"dtype":"U8","shape":[1],"data_offsets":["0",1]}}`, []byte{1}), "not a non-negative integer"},
		{"shape overflow", file(`{"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`, nil), "overflows"},
		// A zero dimension keeps the byte count at 0 whatever follows it, so
		// only the parse bounds a dimension to what an int holds: one of
		// 2⁶³ or more would come back negative from an empty tensor.
		{"dim beyond int after 0", file(`{"a":{"dtype":"U8","shape":[0,18446744073709551615],"data_offsets":[0,0]}}`, nil), "dimension 18446744073709551615 is not"},
		{"dim 2^63 after 0", file(`{"a":{"dtype":"F32","shape":[0,9223372036854775808],"data_offsets":[0,0]}}`, nil), "dimension 9223372036854775808 is not"},
		{"span mismatch", file(`{"a":`+f32x2+`0,4]}}`, make([]byte, 4)), "needs 8 bytes but data_offsets [0, 4] span 4"},
		{"end before begin", file(`{"a":`+f32x2+`8,0]}}`, make([]byte, 8)), "end before they begin"},
		{"out of range", file(`{"a":`+f32x2+`0,8]}}`, make([]byte, 4)), "out of range of the 4-byte buffer"},
		{"hole at start", file(`{"a":`+f32x2+`4,12]}}`, make([]byte, 12)), "hole of 4 bytes in the buffer before tensor \"a\""},
		{"hole between", file(`{"a":`+f32x2+`0,8]},"b":`+f32x2+`9,17]}}`, make([]byte, 17)), "hole of 1 bytes"},
		{"overlap", file(`{"a":`+f32x2+`0,8]},"b":`+f32x2+`4,12]}}`, make([]byte, 12)), `"b" at [4, 12] overlaps tensor "a"`},
		{"same span", file(`{"a":`+f32x2+`0,8]},"b":`+f32x2+`0,8]}}`, make([]byte, 8)), "overlaps"},
		{"buffer too long", file(`{"a":`+f32x2+`0,8]}}`, make([]byte, 9)), "1 bytes after the last tensor"},
		{"buffer without tensors", file(`{}`, []byte{0}), "1 bytes after the last tensor"},
		{"duplicate names", file(`{"a":`+f32x2+`0,8]},"a":`+f32x2+`8,16]}}`, make([]byte, 16)), `name "a" twice`},
		{"duplicate escaped", file(`{"a":`+f32x2+`0,8]},"\u0061":`+f32x2+`8,16]}}`, make([]byte, 16)), `name "a" twice`},
		{"duplicate metadata", file(`{"__metadata__":{},"__metadata__":{}}`, nil), "twice"},
		{"metadata number", file(`{"__metadata__":{"epoch":3}}`, nil), `value of "epoch" is 3, not a string`},
		{"metadata nested", file(`{"__metadata__":{"k":{"a":"b"}}}`, nil), "not a string"},
		{"metadata array", file(`{"__metadata__":["a"]}`, nil), "not a JSON object"},
		{"metadata string", file(`{"__metadata__":"a"}`, nil), "not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Read(tt.data)
			if err == nil {
				t.Fatalf("Read succeeded, want error containing %q", tt.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestReadAccepts(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want []Tensor
		md   map[string]string
	}{
		{"any key order, white space, null metadata",
			file(" { \"b\" : {\"data_offsets\":[1,2],\"shape\":[1],\"dtype\":\"U8\"},\n\t\"__metadata__\":null, \"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]} }  ", []byte{5, 6}),
			[]Tensor{{Name: "a", DType: U8, Shape: []int{1}, Data: []byte{5}}, {Name: "b", DType: U8, Shape: []int{1}, Data: []byte{6}}},
			nil},
		{"zero-size tensors share an offset",
			file(`{"z":{"dtype":"F32","shape":[0,3],"data_offsets":[1,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"y":{"dtype":"I64","shape":[0],"data_offsets":[1,1]}}`, []byte{5}),
			[]Tensor{{Name: "a", DType: U8, Shape: []int{1}, Data: []byte{5}}, {Name: "y", DType: I64, Shape: []int{0}, Data: []byte{}}, {Name: "z", DType: F32, Shape: []int{0, 3}, Data: []byte{}}},
			nil},
		{"empty metadata",
			file(`{"__metadata__":{}}`, nil), nil, map[string]string{}},
		{"escaped strings",
			file(`{"__metadata__":{"k\n":"\u00e9\"\\"},"\u00e9":{"dtype":"U8","shape":[],"data_offsets":[0,1]}}`, []byte{1}),
			[]Tensor{{Name: "é", DType: U8, Shape: []int{}, Data: []byte{1}}}, map[string]string{"k\n": "é\"\\"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, md, err := Read(tt.data)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(md, tt.md) {
				t.Errorf("metadata = %#v, want %#v", md, tt.md)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("tensors = %+v, want %+v", got, tt.want)
			}
			for i := range got {
				g, w := got[i], tt.want[i]
				if g.Name != w.Name || g.DType != w.DType || !reflect.DeepEqual(g.Shape, w.Shape) || !bytes.Equal(g.Data, w.Data) {
					t.Errorf("tensor %d = %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

// TestTruncated cuts a valid file at every length: no prefix is a valid file,
// since the tensors must end exactly at the end of the file.
func TestTruncated(t *testing.T) {
	for n := 0; n < len(goldenFile); n++ {
		if _, _, err := Read(goldenFile[:n]); err == nil || !errors.Is(err, ErrInvalid) {
			t.Errorf("Read of the first %d of %d bytes: err = %v", n, len(goldenFile), err)
		}
	}
}

// TestFlippedHeader flips bits of every byte of the size field and header.
// Read must never panic; where it still succeeds, the result must be a
// consistent file, and most flips must be caught.
func TestFlippedHeader(t *testing.T) {
	hdrEnd := 8 + int(binary.LittleEndian.Uint64(goldenFile))
	failed, total := 0, 0
	for i := 0; i < hdrEnd; i++ {
		for _, mask := range []byte{0x01, 0x20, 0x80} {
			data := bytes.Clone(goldenFile)
			data[i] ^= mask
			total++
			if checkConsistent(t, data) != nil {
				failed++
			}
		}
	}
	// Flips inside names and the metadata value can survive; everything
	// structural must not.
	if failed < total*3/4 {
		t.Errorf("only %d of %d header bit flips were rejected", failed, total)
	}
	t.Logf("%d of %d header bit flips rejected", failed, total)
}

// checkConsistent reads data; on success it checks that writing the result
// and reading it again gives the same tensors and metadata.
func checkConsistent(t testing.TB, data []byte) error {
	tensors, md, err := Read(data)
	if err != nil {
		if !errors.Is(err, ErrInvalid) {
			t.Fatalf("error %v does not wrap ErrInvalid", err)
		}
		return err
	}
	again, err := Marshal(tensors, md)
	if err != nil {
		t.Fatalf("Read accepted %q but Marshal rejects the result: %v", data, err)
	}
	t2, md2, err := Read(again)
	if err != nil {
		t.Fatalf("cannot read back %q: %v", again, err)
	}
	if len(md) == 0 {
		md = nil
	}
	if !reflect.DeepEqual(md, md2) || !reflect.DeepEqual(byName(tensors), byName(t2)) {
		t.Fatalf("round trip of %q changed it", data)
	}
	return nil
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.safetensors.zst")
	if err := Save(path, allDTypes(), map[string]string{"a": "b"}, true); err != nil {
		t.Fatal(err)
	}
	full, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{4, 5, 10, len(full) / 2, len(full) - 1} {
		cut := filepath.Join(dir, "cut.safetensors.zst")
		if err := os.WriteFile(cut, full[:n], 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := Load(cut)
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), cut) || !strings.Contains(err.Error(), "zstd") {
			t.Errorf("Load of %d of %d compressed bytes: err = %v", n, len(full), err)
		}
	}
	plain := filepath.Join(dir, "bad.safetensors")
	if err := os.WriteFile(plain, goldenFile[:len(goldenFile)-1], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(plain); err == nil || !strings.Contains(err.Error(), plain) || !errors.Is(err, ErrInvalid) {
		t.Errorf("Load of a truncated plain file: err = %v", err)
	}
	missing := filepath.Join(dir, "missing.safetensors")
	if _, _, err := Load(missing); err == nil || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("Load of a missing file: err = %v", err)
	}
}

func FuzzRead(f *testing.F) {
	f.Add(goldenFile)
	f.Add(file(`{}`, nil))
	f.Add(file(`{"__metadata__":{"a":"b"}}`, nil))
	f.Add(file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, make([]byte, 12)))
	f.Add(file(`{"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`, nil))
	f.Add(file(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,18446744073709551615]}}`, []byte{1}))
	f.Add(withSize(math.MaxUint64, nil))
	f.Add([]byte{1, 2, 3})
	if all, err := Marshal(allDTypes(), map[string]string{"k": "v"}); err == nil {
		f.Add(all)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkConsistent(t, data)
	})
}

// TestLoadZstdClaims loads zstd frames whose headers claim far more than
// they hold: a content size of 3 GiB over one byte (DecodeAll allocated
// the 3 GiB before it found the frame short), and windows of 480 MiB and
// 4 TiB. Each is refused without allocating what it claims.
func TestLoadZstdClaims(t *testing.T) {
	dir := t.TempDir()
	// Magic, a descriptor with a 4-byte content size, a window descriptor
	// (exponent·8 + mantissa: window 2^(10+exponent)·(1 + mantissa/8)),
	// the content size 0xc0000000, and one raw last block of one byte.
	frame := func(window byte) []byte {
		return []byte{0x28, 0xb5, 0x2f, 0xfd, 0x90, window, 0x00, 0x00, 0x00, 0xc0, 0x09, 0x00, 0x00, 'x'}
	}
	for _, tc := range []struct {
		name   string
		window byte
	}{{"2 MiB window", 11 << 3}, {"480 MiB window", 18<<3 | 7}, {"4 TiB window", 31 << 3}} {
		path := filepath.Join(dir, "claim.safetensors.zst")
		if err := os.WriteFile(path, frame(tc.window), 0o644); err != nil {
			t.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, _, err := Load(path)
		runtime.ReadMemStats(&after)
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: err = %v", tc.name, err)
		}
		if mb := (after.TotalAlloc - before.TotalAlloc) >> 20; mb > 64 {
			t.Errorf("%s: Load allocated %d MiB for a 14-byte file", tc.name, mb)
		}
	}
}

// TestMetadataSize: MetadataSize is the bytes the metadata takes in the
// header Write writes: the header without its tensors, braces and padding.
func TestMetadataSize(t *testing.T) {
	for _, md := range []map[string]string{
		{"k": "v"},
		{"format": "pt", "vocab": `["<pad>","<unk>","a\"b","c\\d"]`, "ctl": "\x01\t\n\x1f\b\f\r\x7f", "é": "ü€𝄞"},
		{"a": "", "b": "", "c": strings.Repeat("\x02", 1000)},
	} {
		b, err := Marshal(nil, md)
		if err != nil {
			t.Fatal(err)
		}
		hdr := strings.TrimRight(string(b[8:]), " ")
		if got, want := MetadataSize(md), len(hdr)-2; got != want {
			t.Errorf("MetadataSize = %d, header %s holds %d", got, hdr, want)
		}
	}
}

// TestSaveThroughLink: saving to a symbolic link replaces the file it
// points to and keeps the link (as metrics.WriteAtomic does), rather than
// putting a file where the link was and leaving the target as it was.
func TestSaveThroughLink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "shared", "model.safetensors")
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(target, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "model.safetensors")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := Save(link, goldenTensors, nil, false); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced (%v)", err)
	}
	if ts, _, err := Load(target); err != nil || len(ts) != len(goldenTensors) {
		t.Errorf("the link's target holds %d tensors (%v), want the %d saved", len(ts), err, len(goldenTensors))
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("the link's folder holds %d entries, want the link and the target's folder", len(entries))
	}
}
