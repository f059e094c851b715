package kernels

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestSources checks the kernel families and that every kernel carries the
// comment the project asks for: launch shape, what it reads and writes, and
// its memory traffic (in its own comment or its file's header).
func TestSources(t *testing.T) {
	want := []string{"adam_step", "add_bias_f32", "axpy_f32", "bias_grad_f32", "bias_grad_final_f32", "copy2d_f32", "cross_entropy",
		"dropout_f32", "embedding_bwd", "embedding_fwd", "fill_f32", "gemm_split_sum_f32", "gemm_tiled_f32", "lstm_bwd_step", "lstm_bwd_step4", "lstm_fwd_step", "lstm_fwd_step4", "lstm_seq_bwd", "lstm_seq_bwd_deep", "lstm_seq_bwd_regs", "lstm_seq_fwd", "lstm_seq_fwd_deep", "lstm_seq_fwd_regs",
		"mean_pool_bwd", "mean_pool_fwd", "reduce_final_f32", "reduce_partial_f32", "relu_bwd", "relu_fwd",
		"scale_f32", "seq_from_time_major", "seq_to_time_major", "softmax_bwd", "softmax_fwd", "split_heads", "stream_hold", "tanh_bwd", "tanh_fwd", "transpose_f32"}
	if got := Names(false); !slices.Equal(got, want) {
		t.Errorf("kernels %v\nwant %v", got, want)
	}
	if got := Names(true); len(got) <= len(want) {
		t.Errorf("Names(true) has no self-test kernels: %v", got)
	}
	// Every kernel, the self-tests too, opens with GRID_DEPENDENCY_SYNC()
	// or GRID_DEPENDENCY_WAIT() (common.cuh): the device layer launches
	// them with programmatic dependent launch, and a kernel that touched
	// memory before it would race with the kernel before it on the stream.
	opening := regexp.MustCompile(`(?m)^KERNEL\s+void\s+(?:__launch_bounds__\([^)]*\)\s+)?(\w+)\([^{]*\{\s*([^\n]*)`)
	entries, err := Sources.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	opened := 0
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".cu") {
			continue
		}
		src, err := Sources.ReadFile(e.Name())
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range opening.FindAllStringSubmatch(string(src), -1) {
			opened++
			if m[2] != "GRID_DEPENDENCY_SYNC();" && m[2] != "GRID_DEPENDENCY_WAIT();" && m[1] != "selftest_read_before_sync" {
				t.Errorf("%s: kernel %s opens with %q, not GRID_DEPENDENCY_SYNC(); or GRID_DEPENDENCY_WAIT();", e.Name(), m[1], m[2])
			}
		}
	}
	if n := len(Names(true)); opened != n {
		t.Errorf("found the opening of %d kernels in the sources, want all %d", opened, n)
	}
	bytesRe := regexp.MustCompile(`(\d|dim|m)\s*b\b`) // "4 B", "24 B per thread", "4·dim B"
	decl := regexp.MustCompile(`((?://[^\n]*\n)+)KERNEL\s+void\s+(?:__launch_bounds__\([^)]*\)\s+)?(\w+)`)
	for _, file := range []string{"adam.cu", "cross_entropy.cu", "elementwise.cu", "embedding.cu", "gemm.cu", "heads.cu", "hold.cu", "lstm.cu", "pool.cu", "reduce.cu", "sequence.cu", "softmax.cu"} {
		src, err := Sources.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		header, _, _ := strings.Cut(string(src), "#include")
		for _, m := range decl.FindAllStringSubmatch(string(src), -1) {
			doc := strings.ToLower(m[1] + header)
			hasShape := strings.Contains(doc, "block") || strings.Contains(doc, "launch")
			hasTraffic := bytesRe.MatchString(doc) || strings.Contains(doc, "traffic")
			if !hasShape || !hasTraffic {
				t.Errorf("%s: kernel %s lacks a launch-shape or memory-traffic comment", file, m[2])
			}
		}
	}
}

// TestSharedDeclarations checks that kernels declare shared memory only
// with SHARED_ARRAY or SHARED_MATRIX, which the emulation bounds-checks and
// race-checks: a plain __shared__ array would escape both.
func TestSharedDeclarations(t *testing.T) {
	plain := regexp.MustCompile(`(?m)^[^/\n]*__shared__`)
	entries, err := Sources.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".cu") && !strings.HasSuffix(name, ".cuh") {
			continue
		}
		src, err := Sources.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, line := range plain.FindAllString(string(src), -1) {
			if !strings.HasPrefix(line, "#define SHARED_") {
				t.Errorf("%s: %q declares shared memory without SHARED_ARRAY or SHARED_MATRIX", name, line)
			}
		}
	}
	if checked < 10 {
		t.Errorf("checked %d kernel sources, want every one", checked)
	}
}

// TestFatbinResources checks the built fatbin (cuda/kernels.fatbin, with
// cuobjdump from the CUDA toolkit; skipped without either) against what the
// emulation cannot see: every kernel is there for each architecture, its
// registers fit a block of the most threads host/gpu.go launches it with
// (a launch that asks for more registers than a multiprocessor has fails
// on the GPU with CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES, and runs under
// emulation), and its static shared memory stays within the 48 KiB a block
// gets without opting in.
func TestFatbinResources(t *testing.T) {
	tool, err := exec.LookPath("cuobjdump")
	if err != nil {
		t.Skip("no cuobjdump")
	}
	fatbin := filepath.Join("..", "cuda", "kernels.fatbin")
	if _, err := os.Stat(fatbin); err != nil {
		t.Skipf("no fatbin: %v", err)
	}
	out, err := exec.Command(tool, "-res-usage", fatbin).CombinedOutput()
	if err != nil {
		t.Fatalf("cuobjdump: %v\n%s", err, out)
	}
	// The most threads a block of each kernel has (host/gpu.go); 256 for
	// the rest (gpuBlock, 32×8, or fewer).
	threads := map[string]int{
		"reduce_final_f32": 1024,                                                    // reduce
		"cross_entropy":    512,                                                     // CrossEntropy
		"lstm_seq_fwd":     512, "lstm_seq_fwd_deep": 512, "lstm_seq_fwd_regs": 512, // lstmSeqMaxThreads
		"lstm_seq_bwd": 512, "lstm_seq_bwd_deep": 512, "lstm_seq_bwd_regs": 512,
	}
	const regsPerSM, sharedPerBlock = 65536, 48 << 10
	usage := regexp.MustCompile(`Function (\w+):\s*\n\s*REG:(\d+) STACK:\d+ SHARED:(\d+)`)
	seen := map[string]map[string]bool{}
	archs := regexp.MustCompile(`arch = (sm_\d+)`).FindAllStringSubmatchIndex(string(out), -1)
	for i, a := range archs {
		end := len(out)
		if i+1 < len(archs) {
			end = archs[i+1][0]
		}
		arch := string(out[a[2]:a[3]])
		if seen[arch] == nil {
			seen[arch] = map[string]bool{}
		}
		for _, m := range usage.FindAllStringSubmatch(string(out[a[1]:end]), -1) {
			name := m[1]
			regs, _ := strconv.Atoi(m[2])
			shared, _ := strconv.Atoi(m[3])
			seen[arch][name] = true
			n := threads[name]
			if n == 0 {
				n = 256
			}
			// Registers are allocated per warp, in units of 256.
			perWarp := (regs*32 + 255) / 256 * 256
			if need := perWarp * ((n + 31) / 32); need > regsPerSM {
				t.Errorf("%s %s: %d registers a thread, %d for a block of %d threads: more than the %d of a multiprocessor", arch, name, regs, need, n, regsPerSM)
			}
			if shared > sharedPerBlock {
				t.Errorf("%s %s: %d bytes of static shared memory, more than %d", arch, name, shared, sharedPerBlock)
			}
		}
	}
	for _, a := range []string{"sm_80", "sm_90"} {
		for _, name := range Names(false) {
			if !seen[a][name] {
				t.Errorf("the fatbin has no %s code for kernel %s (stale? cmake --build build)", a, name)
			}
		}
	}
}
