//go:build cudaemu

// emu_kernels.cc: the kernel sources compiled for the emulated device, and
// the registry that finds each kernel by name. A kernel missing here fails
// the test that compares this registry with the KERNEL declarations.
#define CUDA_EMU 1

#include "emu_launch.h"

#include "adam.cu"
#include "cross_entropy.cu"
#include "elementwise.cu"
#include "embedding.cu"
#include "gemm.cu"
#include "heads.cu"
#include "hold.cu"
#include "lstm.cu"
#include "pool.cu"
#include "reduce.cu"
#include "selftest.cu"
#include "sequence.cu"
#include "softmax.cu"

namespace emu {

const Kernel kernels[] = {
    EMU_KERNEL(adam_step),
    EMU_KERNEL(cross_entropy),
    EMU_KERNEL(fill_f32),
    EMU_KERNEL(copy2d_f32),
    EMU_KERNEL(axpy_f32),
    EMU_KERNEL(scale_f32),
    EMU_KERNEL(add_bias_f32),
    EMU_KERNEL(relu_fwd),
    EMU_KERNEL(relu_bwd),
    EMU_KERNEL(tanh_fwd),
    EMU_KERNEL(tanh_bwd),
    EMU_KERNEL(dropout_f32),
    EMU_KERNEL(embedding_fwd),
    EMU_KERNEL(embedding_bwd),
    EMU_KERNEL(lstm_fwd_step),
    EMU_KERNEL(lstm_bwd_step),
    EMU_KERNEL(lstm_fwd_step4),
    EMU_KERNEL(lstm_bwd_step4),
    EMU_KERNEL(mean_pool_fwd),
    EMU_KERNEL(mean_pool_bwd),
    EMU_KERNEL(reduce_partial_f32),
    EMU_KERNEL(reduce_final_f32),
    EMU_KERNEL(bias_grad_f32),
    EMU_KERNEL(bias_grad_final_f32),
    EMU_KERNEL(gemm_split_sum_f32),
    EMU_KERNEL(gemm_tiled_f32),
    EMU_KERNEL(transpose_f32),
    EMU_KERNEL(split_heads),
    EMU_KERNEL(lstm_seq_fwd),
    EMU_KERNEL(lstm_seq_bwd),
    EMU_KERNEL(lstm_seq_fwd_regs),
    EMU_KERNEL(lstm_seq_bwd_regs),
    EMU_KERNEL(lstm_seq_fwd_deep),
    EMU_KERNEL(lstm_seq_bwd_deep),
    EMU_KERNEL(seq_to_time_major),
    EMU_KERNEL(seq_from_time_major),
    EMU_KERNEL(softmax_fwd),
    EMU_KERNEL(softmax_bwd),
    EMU_KERNEL(stream_hold),
    EMU_KERNEL(selftest_iota),
    EMU_KERNEL(selftest_warp_softmax),
    EMU_KERNEL(selftest_block_sum),
    EMU_KERNEL(selftest_missing_barrier),
    EMU_KERNEL(selftest_oob),
    EMU_KERNEL(selftest_shfl_exited),
    EMU_KERNEL(selftest_shared_race),
    EMU_KERNEL(selftest_shfl_down),
    EMU_KERNEL(selftest_read_before_sync),
};

const int num_kernels = sizeof(kernels) / sizeof(kernels[0]);

}  // namespace emu
