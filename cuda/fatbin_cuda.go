//go:build cuda && !cudaemu

package cuda

import _ "embed"

// fatbin is the kernels of package kernels compiled by CMakeLists.txt (SASS
// for sm_80 and sm_90, PTX for compute_90): run
// `cmake -B build && cmake --build build` before `go build -tags cuda`.
//
//go:embed kernels.fatbin
var fatbin string
