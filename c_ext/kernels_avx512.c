/* kernels_avx512.c: the kernels for x86-64 CPUs with AVX-512 (F, DQ, VL, BW) and FMA.
 * 32 vector registers: 24 accumulators leave room for B and a broadcast. Measured at n = 1024
 * on one Zen 5 core against OpenBLAS: 6 x 4 vectors 1.02x (float32) and 0.97x (float64; 8 x 3
 * the same, 12 x 2 0.89x), where 12 x 2 gave 0.93x for float32; KC 512 with MC 48 ahead of 256
 * with 96 (fewer reloads of C per element; Zen 5's L2 feeds a B sliver larger than L1 fast
 * enough); NC 2048 ahead of 1024 and 512 for float64 on two cores. */
#if defined(__x86_64__) || defined(_M_X64)
#pragma GCC target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma,bmi,bmi2")
#define ISA avx512
#define VBYTES 64
#define MR_F32 6
#define NV_F32 4
#define KC_F32 512
#define MC_F32 48
#define NC_F32 2048
#define MR_F64 6
#define NV_F64 4
#define KC_F64 512
#define MC_F64 48
#define NC_F64 2048
#include "kernels_template.h"
#endif
