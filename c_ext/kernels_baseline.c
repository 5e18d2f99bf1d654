/* kernels_baseline.c: the kernels every CPU of the platform runs, with the build's default
 * target: SSE2 on x86-64, NEON on arm64 (16-byte vectors; plain scalar code elsewhere). */
#define ISA baseline
#define VBYTES 16
#if defined(__aarch64__)
#define MR_F32 8 /* arm64 has 32 vector registers */
#define MR_F64 8
#else
#define MR_F32 6
#define MR_F64 6
#endif
#define NV_F32 2
#define NV_F64 2
#define KC_F32 256
#define MC_F32 96
#define NC_F32 2048
#define KC_F64 256
#define MC_F64 96
#define NC_F64 1024
#include "kernels_template.h"
