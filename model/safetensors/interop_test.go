package safetensors

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
)

// python returns a Python 3 interpreter that can import every module in
// mods, or skips the test.
func python(t *testing.T, mods ...string) string {
	t.Helper()
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		args := []string{"-c", "import json, struct"}
		for _, m := range mods {
			args[1] += "; import " + m
		}
		if exec.Command(py, args...).Run() == nil {
			return py
		}
	}
	t.Skipf("no python3 with modules %v", mods)
	return ""
}

type pyTensor struct {
	DType   string    `json:"dtype"`
	Shape   []int     `json:"shape"`
	Offsets []int     `json:"offsets"`
	Values  []float64 `json:"values"`
}

type pyFile struct {
	HeaderSize int                 `json:"header_size"`
	Metadata   map[string]string   `json:"metadata"`
	Tensors    map[string]pyTensor `json:"tensors"`
	Order      []string            `json:"order"`
}

// TestPythonReadsGo has an independent standard-library Python reader
// (testdata/pyref.py) decode a file written by Save.
func TestPythonReadsGo(t *testing.T) {
	py := python(t)
	mk := func(t0 Tensor, err error) Tensor {
		if err != nil {
			t.Fatal(err)
		}
		return t0
	}
	tensors := []Tensor{
		mk(FromFloat32("lstm.weight_ih_l0", []int{2, 2}, []float32{0.1, -0.2, 3.5, 1e-8})),
		mk(FromFloat32("att.w", []int{3}, []float32{1, 2, 3})),
		mk(FromInt64("step", []int{}, []int64{-9007199254740993 + 2})),
		mk(FromFloat64("lr", []int{1}, []float64{0.001})),
		mk(FromInt32("ids", []int{2}, []int32{-5, 2147483647})),
		mk(FromUint8("mask", []int{1, 3}, []uint8{1, 0, 255})),
		{Name: "half", DType: I16, Shape: []int{2}, Data: []byte{0xff, 0xff, 2, 0}},
	}
	path := filepath.Join(t.TempDir(), "go.safetensors")
	md := map[string]string{"format": "pt", "epoch": "12"}
	if err := Save(path, tensors, md, false); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, "testdata/pyref.py", "read", path).Output()
	if err != nil {
		t.Fatalf("pyref read: %v", err)
	}
	var got pyFile
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("pyref output %s: %v", out, err)
	}
	if got.HeaderSize%8 != 0 {
		t.Errorf("header size %d not a multiple of 8", got.HeaderSize)
	}
	if !reflect.DeepEqual(got.Metadata, md) {
		t.Errorf("metadata = %v, want %v", got.Metadata, md)
	}
	wantOrder := []string{"step", "lr", "att.w", "lstm.weight_ih_l0", "ids", "half", "mask"}
	if !reflect.DeepEqual(got.Order, wantOrder) {
		t.Errorf("layout order = %v, want %v", got.Order, wantOrder)
	}
	want := map[string][]float64{
		"lstm.weight_ih_l0": {float64(float32(0.1)), float64(float32(-0.2)), 3.5, float64(float32(1e-8))},
		"att.w":             {1, 2, 3},
		"step":              {-9007199254740991},
		"lr":                {0.001},
		"ids":               {-5, 2147483647},
		"mask":              {1, 0, 255},
		"half":              {-1, 2},
	}
	for _, ts := range tensors {
		g, ok := got.Tensors[ts.Name]
		if !ok {
			t.Errorf("python did not see %q", ts.Name)
			continue
		}
		if g.DType != ts.DType || !reflect.DeepEqual(g.Shape, ts.Shape) || !reflect.DeepEqual(g.Values, want[ts.Name]) {
			t.Errorf("python read %q as %+v, want %s%v %v", ts.Name, g, ts.DType, ts.Shape, want[ts.Name])
		}
	}
}

// TestGoReadsPython loads a file written by the Python reference writer, in
// a layout (reverse name order, metadata last, indented JSON, no padding)
// unlike the one Write produces.
func TestGoReadsPython(t *testing.T) {
	py := python(t)
	path := filepath.Join(t.TempDir(), "py.safetensors")
	if out, err := exec.Command(py, "testdata/pyref.py", "write", path).CombinedOutput(); err != nil {
		t.Fatalf("pyref write: %v\n%s", err, out)
	}
	tensors, md, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"format": "pt", "note": "written by pyref"}; !reflect.DeepEqual(md, want) {
		t.Errorf("metadata = %v, want %v", md, want)
	}
	m := byName(tensors)
	check := func(name string, got, want any, err error) {
		t.Helper()
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %v (%v), want %v", name, got, err, want)
		}
	}
	w, err := m["fc.weight"].Float32s()
	check("fc.weight", w, []float32{0.5, -1, 2, 0.25, 3, -4.5}, err)
	check("fc.weight shape", m["fc.weight"].Shape, []int{2, 3}, nil)
	b, err := m["fc.bias"].Float32s()
	check("fc.bias", b, []float32{1, -1}, err)
	s, err := m["steps"].Int64s()
	check("steps", s, []int64{123456789012}, err)
	check("steps shape", m["steps"].Shape, []int{}, nil)
	ids, err := m["ids"].Int32s()
	check("ids", ids, []int32{-1, 0, 2147483647}, err)
	mask, err := m["mask"].Uint8s()
	check("mask", mask, []uint8{1, 0, 0, 1}, err)
	sc, err := m["scale"].Float64s()
	check("scale", sc, []float64{0.1}, err)
	if len(tensors) != 6 {
		t.Errorf("%d tensors, want 6", len(tensors))
	}
}

// TestHuggingFaceInterop round-trips through the real safetensors Python
// package when it is installed (it is not a dependency of this project).
func TestHuggingFaceInterop(t *testing.T) {
	py := python(t, "numpy", "safetensors.numpy")
	dir := t.TempDir()
	goPath := filepath.Join(dir, "go.safetensors")
	hfPath := filepath.Join(dir, "hf.safetensors")
	w, _ := FromFloat32("w", []int{2, 2}, []float32{1, 2, 3, 4})
	n, _ := FromInt64("n", []int{}, []int64{7})
	if err := Save(goPath, []Tensor{w, n}, map[string]string{"k": "v"}, false); err != nil {
		t.Fatal(err)
	}
	script := `
import sys, numpy as np
from safetensors.numpy import load_file, save_file
d = load_file(sys.argv[1])
assert d["w"].dtype == np.float32 and d["w"].tolist() == [[1, 2], [3, 4]], d
assert d["n"].dtype == np.int64 and d["n"].shape == () and int(d["n"]) == 7, d
save_file({"x": np.arange(6, dtype=np.float64).reshape(2, 3)}, sys.argv[2], metadata={"m": "1"})
`
	if out, err := exec.Command(py, "-c", script, goPath, hfPath).CombinedOutput(); err != nil {
		t.Fatalf("safetensors python: %v\n%s", err, out)
	}
	data, err := os.ReadFile(hfPath)
	if err != nil {
		t.Fatal(err)
	}
	tensors, md, err := Read(data)
	if err != nil {
		t.Fatal(err)
	}
	x, err := tensors[0].Float64s()
	if err != nil || !reflect.DeepEqual(x, []float64{0, 1, 2, 3, 4, 5}) || md["m"] != "1" {
		t.Errorf("read %v %v %v", x, md, err)
	}
	// The reference writer and ours must agree byte for byte.
	ours, err := Marshal(tensors, md)
	if err != nil || string(ours) != string(data) {
		t.Errorf("Marshal of the same content differs from the reference writer:\n%q\n%q", ours, data)
	}
}
