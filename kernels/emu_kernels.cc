//go:build cudaemu

// emu_kernels.cc: the kernel sources compiled for the emulated device, and
// the registry that finds each kernel by name. A kernel missing here fails
// the test that compares this registry with the KERNEL declarations.
#define CUDA_EMU 1

#include "emu_launch.h"

#include "selftest.cu"

namespace emu {

const Kernel kernels[] = {
    EMU_KERNEL(selftest_iota),
    EMU_KERNEL(selftest_warp_softmax),
    EMU_KERNEL(selftest_block_sum),
    EMU_KERNEL(selftest_missing_barrier),
    EMU_KERNEL(selftest_oob),
    EMU_KERNEL(selftest_shfl_exited),
    EMU_KERNEL(selftest_shfl_down),
};

const int num_kernels = sizeof(kernels) / sizeof(kernels[0]);

}  // namespace emu
