/* kernels_avx512.c: the kernels for x86-64 CPUs with AVX-512 (F, DQ, VL, BW) and FMA.
 * 32 vector registers: 24 accumulators leave room for B and a broadcast. Measured at n = 1024
 * on one Zen 5 core against OpenBLAS: 6 x 4 vectors 1.02x (float32) and 0.97x (float64; 8 x 3
 * the same, 12 x 2 0.89x), where 12 x 2 gave 0.93x for float32; on an Intel Xeon (48 KiB L1,
 * 2 MiB L2) 6 x 4 ahead of 8 x 3, 12 x 2 and 14 x 2 as well. KC 1024 (float32) / 512
 * (float64) with MC 48, B's panels half an L2 wide (kernels_type.h's gemm), A read in place:
 * on that Xeon 1.06x / 1.01x numpy at 2048^3 on two cores, where KC 512 with 2048-wide panels
 * and A packed gave 0.87x. MC 96 lost 4096 x 64 x 4096 float64 (0.61x against 1.16x: a
 * block's C stores then span 96 rows 32 KiB apart). NC only caps the panel width. */
#if defined(__x86_64__) || defined(_M_X64)
#pragma GCC target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma,bmi,bmi2")
#define ISA avx512
#define VBYTES 64
#define MR_F32 6
#define NV_F32 4
#define KC_F32 1024
#define MC_F32 48
#define NC_F32 2048
#define MR_F64 6
#define NV_F64 4
#define KC_F64 512
#define MC_F64 48
#define NC_F64 2048
#include "kernels_template.h"
#endif
