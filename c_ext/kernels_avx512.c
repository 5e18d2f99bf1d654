/* kernels_avx512.c: the kernels for x86-64 CPUs with AVX-512 (F, DQ, VL, BW) and FMA.
 * 32 vector registers: 24 accumulators (6 x 4 vectors) leave room for B and a broadcast; the
 * block that measured best among 6 x 4, 8 x 3, 12 x 2 and 14 x 2 on every machine tried. KC
 * 1024 (float32) / 512 (float64) caps the k blocks (kernels_type.h's gemm sizes them from the
 * L1 the system reports), MC 48 keeps a block's C stores within few pages (96 lost on tall
 * products), NC only caps the panel width. docs/performance.md has the measurements. */
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
