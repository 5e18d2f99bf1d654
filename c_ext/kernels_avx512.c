/* kernels_avx512.c: the kernels for x86-64 CPUs with AVX-512 (F, DQ, VL, BW) and FMA.
 * 32 vector registers: a 12 x 2-vector register block leaves room for B and a broadcast. */
#if defined(__x86_64__) || defined(_M_X64)
#pragma GCC target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma,bmi,bmi2")
#define ISA avx512
#define VBYTES 64
#define MR_F32 12
#define NV_F32 2
#define KC_F32 256
#define MC_F32 96
#define NC_F32 2048
#define MR_F64 12
#define NV_F64 2
#define KC_F64 256
#define MC_F64 96
#define NC_F64 1024
#include "kernels_template.h"
#endif
