// Package kernels holds the CUDA C++ sources of every GPU kernel of emotion,
// one file per family (lstm.cu, softmax.cu, …), which CMakeLists.txt
// compiles into the fatbin that the cuda build embeds.
//
// In the cudaemu build the same sources are compiled by the host C++
// compiler with an emulation header (cudaemu.h) and run on the CPU, one
// fiber per CUDA thread, with bounds-checked device pointers and checked
// barriers; this package then also exports that emulated device (see
// emu.go), on which package cuda builds its emulated Device.
package kernels

import (
	"embed"
	"regexp"
	"sort"
)

// Sources are the kernel sources (.cu, .cuh). Embedding them also makes the
// Go build cache see a change to a kernel, so the cudaemu build recompiles.
//
//go:embed *.cu *.cuh *.h
var Sources embed.FS

var kernelDecl = regexp.MustCompile(`KERNEL\s+void\s+(?:__launch_bounds__\([^)]*\)\s+)?(\w+)\s*\(`)

// Names returns the names of the kernels declared in the .cu sources,
// sorted; with selftest false it leaves out the emulation's self-test
// kernels (selftest.cu), which the fatbin does not contain.
func Names(selftest bool) []string {
	files, err := Sources.ReadDir(".")
	if err != nil {
		panic(err) // embedded: cannot fail
	}
	var names []string
	for _, f := range files {
		if !selftest && f.Name() == "selftest.cu" {
			continue
		}
		b, err := Sources.ReadFile(f.Name())
		if err != nil {
			panic(err)
		}
		for _, m := range kernelDecl.FindAllSubmatch(b, -1) {
			if string(m[1]) == "" {
				continue
			}
			names = append(names, string(m[1]))
		}
	}
	sort.Strings(names)
	return names
}
