/* direct.h: when a product goes without packing (kernels_type.h's gemm_direct), shared by the
 * native driver (driver.c) and the WebAssembly module (simd_wasm/accel_simd.c).
 *
 * Packing pays where a block of A or a panel of B would otherwise come from far away, again
 * and again. The direct kernel reads all of B once per MR rows of A, and each block of MR rows
 * of A once per NR columns; so it wins while a block of MR rows of A stays in L2 and B either
 * stays in L2 or is read only a few times (few rows). Measured on Zen 5 (1 MiB L2):
 * 1.1-1.8x the packed path from 64 x 256 x 32 to 512^3, 4096 x 4096 x 64 and 16 x 1024 x 1024;
 * the packed path ahead from 1024^3 and 256 x 1024 x 1024 float64 on. Since the packed path
 * reads A in place and packs B row by row, it wins from three passes over a large B on an
 * Intel Xeon (2 MiB L2): 16 x 1024 x 1024 float64 0.77x numpy direct, 0.95x packed; 24 rows
 * 0.69x -> 1.10x; 12 rows (two passes) stays direct, 1.3x; 8 rows (6, then 2 streamed)
 * direct 0.99-1.15x, packed 0.91-0.98x. Products up to 32^3 always go direct (they fit in L1
 * and L2 as they are).
 */
#ifndef ACCEL_DIRECT_H
#define ACCEL_DIRECT_H

#include <stdint.h>

#define SMALL_PRODUCT (32.0 * 32.0 * 32.0) /* M N K up to this: unpacked, one thread */

/* B may be read once per MR rows where it fits in `reread` L2s, or where that is at most
 * `passes` times and B fits in `far` L2s. Native code: 0.5 (2 where `accel calibrate` finds
 * it faster: driver.c), 2 and 32 (it prefetches B's rows, which lie pages apart). WebAssembly
 * under Cranelift broadcasts from memory slowly and cannot prefetch: 0, 1 and 2 (since the
 * packed path packs B row by row, on the Xeon, resident float32: 16 x 1024 x 1024 in 16-row
 * bands 15.2 GFLOP/s direct, 24.8 packed; 8 x 4096 x 1024 4.7 and 16.0; 2 x 1024 x 1024 2.0
 * and 3.7; but 4 x 256 x 256 16.8 direct, 7.2 packed). */
static inline int accel_direct_suits(int64_t m, int64_t n, int64_t k, double size, int mr,
                                     double l2, double reread, double passes, double far)
{
    if ((double)m * (double)n * (double)k <= SMALL_PRODUCT)
        return 1;
    double b_bytes = (double)k * (double)n * size;
    if ((double)mr * (double)k * size > 0.5 * l2)
        return 0;
    /* the unpacked kernel's passes over B: blocks of mr rows, then of 4, then the last one to
     * three rows together (kernels_type.h's gemm_direct streams B for them where it is large) */
    int64_t four = mr < 4 ? mr : 4, rest = m % mr;
    double reads = (double)(m / mr + rest / four + (rest % four > 0));
    return b_bytes <= reread * l2 || (reads <= passes && b_bytes <= far * l2);
}

/* 2 to `rows` rows times a B past half an L2 go to the matrix-vector kernel (kernels_type.h's
 * gemv_row), which streams B once per three rows, row after row, where the unpacked kernel
 * would walk down strips of B's columns once per row. Native code: 3 (driver.c says why);
 * WebAssembly: 12 (accel_simd.c). */
static inline int accel_rows_stream(int64_t m, int64_t n, int64_t k, double size, double l2,
                                    int64_t rows)
{
    return m <= rows && n > 1 && (double)k * (double)n * size > 0.5 * l2;
}

#endif
