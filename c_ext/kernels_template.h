/* kernels_template.h: one instruction set's kernel table. A kernels_<isa>.c file sets the target
 * and the blocking, then includes this, which instantiates kernels_type.h for float32 and
 * float64 and exports `accel_kernels_<ISA>`.
 *
 * Expected macros: ISA (a bare name), VBYTES (vector width in bytes), and for each dtype the
 * register block MR_F32/NV_F32, MR_F64/NV_F64 (MR rows by NV vectors) and the cache blocks
 * KC_*, MC_*, NC_* in elements.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define STR_(a) #a
#define STR(a) STR_(a)

#define T float
#define TS f32
#define UT uint32_t
#define IS_F32 1
#define MR MR_F32
#define NV NV_F32
#define KC KC_F32
#define MC MC_F32
#define NC NC_F32
#include "kernels_type.h"

#define T double
#define TS f64
#define UT uint64_t
#define IS_F32 0
#define MR MR_F64
#define NV NV_F64
#define KC KC_F64
#define MC MC_F64
#define NC NC_F64
#include "kernels_type.h"

const accel_kernels CAT(accel_kernels_, ISA) = {
    .name = STR(ISA),
    .mr_f32 = MR_F32,
    .mr_f64 = MR_F64,
    .gemm_f32 = gemm_f32,
    .gemm_f64 = gemm_f64,
    .dot_f32 = dot_f32,
    .dot_f64 = dot_f64,
    .elementwise_f32 = elementwise_f32,
    .elementwise_f64 = elementwise_f64,
    .softmax_f32 = softmax_rows_f32,
    .softmax_f64 = softmax_rows_f64,
    .gemv_row_f32 = gemv_row_f32,
    .gemv_row_f64 = gemv_row_f64,
    .gemm_direct_f32 = gemm_direct_linear_f32,
    .gemm_direct_f64 = gemm_direct_linear_f64,
    .gemv_col_f32 = gemv_col_f32,
    .gemv_col_f64 = gemv_col_f64,
    .map_f32 = map_f32,
    .map_f64 = map_f64,
    .gemm_nt_f32 = gemm_nt_f32,
    .gemm_nt_f64 = gemm_nt_f64,
    .reduce_f32 = reduce_f32,
    .reduce_f64 = reduce_f64,
    .norm_f32 = norm_rows_f32,
    .norm_f64 = norm_rows_f64,
    .bias_act_f32 = bias_act_row_f32,
    .bias_act_f64 = bias_act_row_f64,
};
