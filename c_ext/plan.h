/* plan.h: how a product C[b] = act(A[b] @ B[b] + bias) is run, decided in one place for the
 * native driver (driver.c) and the WebAssembly module (simd_wasm/accel_simd.c): which kernel of
 * kernels_type.h takes it (the path), and how it is split into tasks for threads (the split).
 * Each caller gives its own parameters (register block, cache size, bounds, thread count):
 * the rules are the same. docs/performance.md has the measurements behind the bounds.
 *
 * Paths:
 * - ROWS: 1 to `stream_rows` rows times a B past half an L2 (or one row of any B): the
 *   matrix-vector kernel (gemv_row) streams B once per three rows, row after row, where the
 *   unpacked kernel would walk down strips of B's columns once per row.
 * - COLUMN: a matrix times one column: dot products (gemv_col).
 * - DIRECT: unpacked (gemm_direct): A and B read where they are. It reads all of B once per MR
 *   rows of A and each block of MR rows of A once per NR columns, so it wins while a block of
 *   MR rows of A stays in L2 and B either stays in L2 (`reread` L2s) or is read only a few
 *   times (at most `passes` passes over a B of at most `far` L2s). Products up to 32^3 always
 *   go direct (they fit in L1 and L2 as they are).
 * - PACKED: B packed in panels that stay in L2 (BLIS), A read in place natively (packed in
 *   the module).
 *
 * Split (every split is along outputs, so the bits never depend on it):
 * - one task below `min_flops` of work, or with one thread;
 * - ITEMS: whole items of a batch per task, where there are enough items to go around;
 * - ROWS or COLS: bands of one item's C, whole register blocks each: rows (multiples of MR) or
 *   columns (multiples of `col_align`), along the side that packs least twice.
 */
#ifndef ACCEL_PLAN_H
#define ACCEL_PLAN_H

#include <stdint.h>

#define ACCEL_SMALL_PRODUCT (32.0 * 32.0 * 32.0) /* M N K up to this: unpacked, one thread */

enum accel_path { ACCEL_PATH_ROWS, ACCEL_PATH_COLUMN, ACCEL_PATH_DIRECT, ACCEL_PATH_PACKED };
enum accel_split_kind { ACCEL_SPLIT_NONE, ACCEL_SPLIT_ITEMS, ACCEL_SPLIT_ROWS, ACCEL_SPLIT_COLS };

typedef struct {
    double size;         /* bytes per element */
    int64_t mr;          /* the register block's rows */
    double l2;           /* bytes of one core's L2 */
    double reread;       /* L2s of B the direct path takes whatever the rows */
    double passes, far;  /* ... or at most `passes` passes over a B of at most `far` L2s */
    int64_t stream_rows; /* the most rows that go to the matrix-vector kernel */
    int pack_a;          /* the packed path packs A too (the module): bands along the longer side */
} accel_plan_params;

/* The unpacked kernel's passes over B: blocks of mr rows, then of 4, then the last one to three
 * rows together (gemm_direct streams B for them where it is large). */
static inline double accel_direct_passes(int64_t m, int64_t mr)
{
    int64_t four = mr < 4 ? mr : 4, rest = m % mr;
    return (double)(m / mr + rest / four + (rest % four > 0));
}

/* The path of an m x n x k product with k >= 1. */
static inline int accel_plan_path(int64_t m, int64_t n, int64_t k, const accel_plan_params *p)
{
    double b_bytes = (double)k * (double)n * p->size;
    if (m == 1 || (m <= p->stream_rows && n > 1 && b_bytes > 0.5 * p->l2))
        return ACCEL_PATH_ROWS;
    if (n == 1)
        return ACCEL_PATH_COLUMN;
    if ((double)m * (double)n * (double)k <= ACCEL_SMALL_PRODUCT)
        return ACCEL_PATH_DIRECT;
    if ((double)p->mr * (double)k * p->size > 0.5 * p->l2)
        return ACCEL_PATH_PACKED;
    if (b_bytes <= p->reread * p->l2 ||
        (accel_direct_passes(m, p->mr) <= p->passes && b_bytes <= p->far * p->l2))
        return ACCEL_PATH_DIRECT;
    return ACCEL_PATH_PACKED;
}

typedef struct {
    int kind;      /* enum accel_split_kind */
    int64_t step;  /* items, rows or columns per task */
    int64_t tasks; /* in all (for ROWS and COLS: per item, times the batch) */
} accel_split;

/* How a batch of m x n x k products on `path` is split for `threads` threads: tasks of at
 * least `min_flops` each where it can, items per task no more than `max_items` (a caller whose
 * tasks are cheap to start takes one item each). col_align: a multiple of every NR. */
static inline accel_split accel_plan_split(int64_t batch, int64_t m, int64_t n, int64_t k,
                                           int path, int threads, double min_flops,
                                           int64_t max_items, int64_t col_align,
                                           const accel_plan_params *p)
{
    accel_split s = {ACCEL_SPLIT_NONE, batch, 1};
    double flops = 2.0 * (double)m * (double)n * (double)k;
    if (threads <= 1 || flops * (double)batch < min_flops)
        return s;
    if (batch >= 2 * threads || (batch >= threads && flops < 8.0 * min_flops)) {
        int64_t per = (batch + threads - 1) / threads;
        s.kind = ACCEL_SPLIT_ITEMS;
        s.step = per < max_items ? per : max_items;
        s.tasks = (batch + s.step - 1) / s.step;
        return s;
    }
    int by_rows;
    if (path == ACCEL_PATH_ROWS)
        by_rows = 0; /* a few rows: bands of B's columns, each streamed once */
    else if (path == ACCEL_PATH_COLUMN)
        by_rows = 1;
    else if (path == ACCEL_PATH_DIRECT) /* rows unless there are few: each band reads its B */
        by_rows = m >= 4 * threads * p->mr || n < 2 * col_align;
    else if (p->pack_a) /* each band packs its part of one operand and all of the other */
        by_rows = m >= n || n < 2 * col_align;
    else /* A read in place: column bands pack only their part of B */
        by_rows = n < 4 * col_align * threads;
    int64_t extent = by_rows ? m : n, align = by_rows ? (path == ACCEL_PATH_COLUMN ? 64 : p->mr)
                                                      : col_align;
    int64_t step = (extent + threads - 1) / threads;
    step = (step + align - 1) / align * align;
    int64_t tiles = (extent + step - 1) / step;
    if (tiles <= 1) {
        if (batch > 1) { /* one tile per item: the items are the tasks */
            s.kind = ACCEL_SPLIT_ITEMS;
            s.step = 1;
            s.tasks = batch;
        }
        return s;
    }
    s.kind = by_rows ? ACCEL_SPLIT_ROWS : ACCEL_SPLIT_COLS;
    s.step = step;
    s.tasks = tiles * batch;
    return s;
}

#endif
