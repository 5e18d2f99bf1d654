/* kernels_avx2.c: the kernels for x86-64 CPUs with AVX2 and FMA (Haswell, Zen 1 and later).
 * 16 vector registers: the classic 6 x 2-vector register block. KC 512: with B's panels half
 * an L2 (kernels_type.h's gemm), deeper k blocks amortise C's loads and stores better than
 * 256 (docs/performance.md has the measurements behind every choice here). */
#if defined(__x86_64__) || defined(_M_X64)
#pragma GCC target("avx2,fma,bmi,bmi2")
#define ISA avx2
#define VBYTES 32
#define MR_F32 6
#define NV_F32 2
#define KC_F32 512
#define MC_F32 96
#define NC_F32 2048
#define MR_F64 6
#define NV_F64 2
#define KC_F64 512
#define MC_F64 96
#define NC_F64 1024
#include "kernels_template.h"
#endif
