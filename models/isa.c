/* isa.c — picks the per-instruction-set build of the hot loops for this CPU (see isa.h). */
#include "models/isa.h"

#define ISA_TABLE(isa)                                                                                              \
    {                                                                                                               \
        #isa, rmsnorm_block_##isa, layernorm_block_##isa, rope_block_##isa, act_store_##isa, dot_f32_##isa,        \
            logsumexp_##isa, softmax_row_##isa, attn_scratch_new_##isa, attn_scratch_free_##isa, attn_task_##isa   \
    }

/* constant tables: no state is written, so any thread may read them */
static const isa_kernels isa_avx512 = ISA_TABLE(avx512);
static const isa_kernels isa_avx2 = ISA_TABLE(avx2);
static const isa_kernels isa_base = ISA_TABLE(base);

const isa_kernels *isa_kernels_pick(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma"))
        return &isa_avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return &isa_avx2;
#endif
    return &isa_base;
}
