/* driver.c: the public entry points of the `cpu` backend. It picks the instruction set once at
 * load (or when told to), splits large work into tasks for the pool and calls the serial
 * kernels of the chosen instruction set on each piece.
 *
 * Determinism: every split is along output elements (rows or columns of C, chunks of y), or,
 * for dot, into chunks whose size depends on n alone, summed in a fixed order. So the bits of
 * a result never depend on how many threads ran or whether the pool was busy.
 */
#include <stdatomic.h>
#include <stdlib.h>
#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

#include "accel_cpu.h"
#include "direct.h"
#include "internal.h"

/* Best first. */
static const accel_kernels *const isas[] = {
#if defined(__x86_64__) || defined(_M_X64)
    &accel_kernels_avx512,
    &accel_kernels_avx2,
#endif
    &accel_kernels_baseline,
};
#define ISA_COUNT ((int)(sizeof isas / sizeof isas[0]))

static _Atomic int current_isa = ISA_COUNT - 1;

int accel_isa_count(void) { return ISA_COUNT; }

const char *accel_isa_name(int index)
{
    return index >= 0 && index < ISA_COUNT ? isas[index]->name : "";
}

int accel_isa_supported(int index)
{
    if (index < 0 || index >= ISA_COUNT)
        return 0;
#if defined(__x86_64__) || defined(_M_X64)
    __builtin_cpu_init();
    if (isas[index] == &accel_kernels_avx512)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
               __builtin_cpu_supports("bmi2");
    if (isas[index] == &accel_kernels_avx2)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
               __builtin_cpu_supports("bmi2");
#endif
    return 1;
}

int accel_isa_current(void) { return atomic_load(&current_isa); }

int accel_isa_select(int index)
{
    if (!accel_isa_supported(index))
        return -1;
    atomic_store(&current_isa, index);
    return 0;
}

__attribute__((constructor)) static void choose_best_isa(void)
{
    for (int i = 0; i < ISA_COUNT; i++)
        if (accel_isa_supported(i)) {
            atomic_store(&current_isa, i);
            return;
        }
}

static const accel_kernels *kernels(void) { return isas[atomic_load(&current_isa)]; }

/* ------------------------------------------------------------------------------------------ */
/* matmul: tasks are (batch item, tile of C); a tile is a band of rows or of columns           */

#define GEMM_PARALLEL_FLOPS (1 << 17) /* below, waking a thread costs more than it saves */
#define GEMV_PARALLEL_BYTES (1 << 20) /* a matrix-vector product this large is split */
#define COL_ALIGN 64                  /* multiple of every NR */

/* How many L2s B may fill and still go unpacked when it is read once per MR rows (direct.h).
 * Measured: Zen 5 (1 MiB L2, a fast L3) gains up to 2 (B up to 2 MiB: 1.1-1.8x the packed
 * path); an Intel Xeon with 2 MiB L2s and a slow mesh L3 loses 3x past 0.5 (1024^3 float32:
 * 0.30x numpy at 2, 0.92x at 0.5). The default is the safe one; `accel calibrate` measures
 * both and sets the faster (the paths give the same bits). */
#define DIRECT_REREAD_DEFAULT 0.5
static _Atomic double direct_reread = DIRECT_REREAD_DEFAULT;

void accel_set_direct_reread(double l2s)
{
    atomic_store(&direct_reread, l2s < 0 ? DIRECT_REREAD_DEFAULT : l2s > 8 ? 8 : l2s);
}

double accel_get_direct_reread(void)
{
    return atomic_load(&direct_reread);
}

/* The per-core L1 data (level 1) or L2 (level 2) cache size the system reports (glibc's
 * sysconf), 32 KiB / 1 MiB where it says nothing, clamped to what such caches are. Read once;
 * threads that race here store the same value. */
static double cache_bytes(int level)
{
    static double memo[3];
    if (memo[level] == 0) {
        long v = -1;
#if defined(_SC_LEVEL1_DCACHE_SIZE) && defined(_SC_LEVEL2_CACHE_SIZE)
        v = sysconf(level == 1 ? _SC_LEVEL1_DCACHE_SIZE : _SC_LEVEL2_CACHE_SIZE);
#endif
        double lo = level == 1 ? 16384.0 : 262144.0, hi = level == 1 ? 262144.0 : 8388608.0;
        double b = v > 0 ? (double)v : level == 1 ? 32768.0 : 1048576.0;
        memo[level] = b < lo ? lo : b > hi ? hi : b;
    }
    return memo[level];
}

double accel_l1_bytes(void) { return cache_bytes(1); }

double accel_l2_bytes(void) { return cache_bytes(2); }

/* The most rows that go to the matrix-vector kernel (direct.h's accel_rows_stream): 2 or 3
 * rows stream B once for all of them (on the Xeon, float32: 2 x 4096 x 4096 12 -> 37-52
 * GFLOP/s, 2 x 1024 x 1024 17 -> 48). From 4 rows the unpacked kernel's register blocks are
 * faster (4 x 4096 x 4096 float32 63 against 46; at 5 to 12 rows, three at a time, the
 * streaming kernel lost as often as it won). */
#define STREAM_ROWS_MAX 3

#define GEMM_DRIVER(TS, T)                                                                     \
    typedef struct {                                                                           \
        int (*gemm)(int64_t, int64_t, int64_t, const T *, int64_t, const T *, int64_t, T *,   \
                    int64_t, const T *, int);                                                  \
        const T *a, *b, *bias;                                                                 \
        T *c;                                                                                  \
        int act;                                                                               \
        int64_t m, n, k, a_stride, b_stride, tiles, tile_rows, tile_cols;                      \
        atomic_int failed;                                                                     \
    } gemm_job_##TS;                                                                           \
                                                                                               \
    static void gemm_task_##TS(void *ctx, int64_t task)                                       \
    {                                                                                          \
        gemm_job_##TS *j = ctx;                                                                \
        int64_t item = task / j->tiles, tile = task % j->tiles;                                \
        int64_t r0 = 0, r1 = j->m, c0 = 0, c1 = j->n;                                          \
        if (j->tile_rows) {                                                                    \
            r0 = tile * j->tile_rows;                                                          \
            r1 = r0 + j->tile_rows < j->m ? r0 + j->tile_rows : j->m;                          \
        } else if (j->tile_cols) {                                                             \
            c0 = tile * j->tile_cols;                                                          \
            c1 = c0 + j->tile_cols < j->n ? c0 + j->tile_cols : j->n;                          \
        }                                                                                      \
        const T *a = j->a + item * j->a_stride + r0 * j->k;                                    \
        const T *b = j->b + item * j->b_stride + c0;                                           \
        T *c = j->c + item * j->m * j->n + r0 * j->n + c0;                                     \
        if (j->gemm(r1 - r0, c1 - c0, j->k, a, j->k, b, j->n, c, j->n,                         \
                    j->bias ? j->bias + c0 : NULL, j->act) != 0)                               \
            atomic_store(&j->failed, 1);                                                       \
    }                                                                                          \
                                                                                               \
    /* one row (M = 1) or one column (N = 1): the matrix streamed once, no packing; tasks    \
     * are column ranges (M = 1) or row ranges (N = 1) of one item: outputs, never sums */     \
    typedef struct {                                                                           \
        const accel_kernels *ks;                                                               \
        const T *a, *b, *bias;                                                                 \
        T *c;                                                                                  \
        int act;                                                                               \
        int64_t m, n, k, a_stride, b_stride, parts, step;                                      \
    } gemv_job_##TS;                                                                           \
                                                                                               \
    static void gemv_task_##TS(void *ctx, int64_t task)                                        \
    {                                                                                          \
        gemv_job_##TS *j = ctx;                                                                \
        int64_t item = task / j->parts, part = task % j->parts;                                \
        const T *a = j->a + item * j->a_stride, *b = j->b + item * j->b_stride;                \
        T *c = j->c + item * j->m * j->n;                                                      \
        int64_t lo = part * j->step;                                                           \
        if (j->m == 1 || j->n > 1) { /* 1 to 3 rows: bands of columns */                      \
            int64_t hi = lo + j->step < j->n ? lo + j->step : j->n;                            \
            j->ks->gemv_row_##TS(j->m, hi - lo, j->k, a, j->k, b + lo, j->n, c + lo, j->n);    \
            for (int64_t r = 0; r < j->m && (j->bias || j->act != ACT_NONE); r++)             \
                j->ks->bias_act_##TS(c + r * j->n + lo, hi - lo, j->bias ? j->bias + lo : NULL, \
                                     j->act);                                                  \
        } else {                                                                               \
            int64_t hi = lo + j->step < j->m ? lo + j->step : j->m;                            \
            j->ks->gemv_col_##TS(hi - lo, j->k, a + lo * j->k, j->k, b, c + lo, 1);            \
            if (j->bias)                                                                       \
                for (int64_t i = lo; i < hi; i++)                                              \
                    c[i] = c[i] + j->bias[0];                                                  \
            if (j->act != ACT_NONE)                                                            \
                j->ks->elementwise_##TS(j->act, c + lo, c + lo, hi - lo);                      \
        }                                                                                      \
    }                                                                                          \
                                                                                               \
    static void gemv_##TS(const T *a, const T *b, T *c, const T *bias, int act, int64_t batch, \
                          int64_t m, int64_t n, int64_t k, int64_t a_stride, int64_t b_stride) \
    {                                                                                          \
        gemv_job_##TS j = {kernels(), a, b, bias, c, act, m, n, k, a_stride, b_stride, 1, 0};  \
        int64_t outs = m == 1 || n > 1 ? n : m;                                                \
        int threads = accel_get_num_threads();                                                 \
        double bytes = (double)k * (double)outs * (double)sizeof(T) * (double)batch;           \
        if (threads > 1 && bytes >= GEMV_PARALLEL_BYTES && batch < threads)                    \
            j.parts = threads;                                                                 \
        j.step = (outs + j.parts - 1) / j.parts;                                               \
        j.step = (j.step + 63) / 64 * 64; /* whole cache lines of y */                         \
        j.parts = (outs + j.step - 1) / j.step;                                                \
        if (bytes >= GEMV_PARALLEL_BYTES)                                                      \
            accel_parallel_for(gemv_task_##TS, &j, batch * j.parts);                           \
        else                                                                                   \
            for (int64_t t = 0; t < batch * j.parts; t++)                                      \
                gemv_task_##TS(&j, t);                                                         \
    }                                                                                          \
                                                                                               \
    int accel_linear_##TS(const T *a, const T *b, T *c, const T *bias, int act, int64_t batch, \
                          int64_t m, int64_t n, int64_t k, int64_t a_batch_stride,             \
                          int64_t b_batch_stride)                                              \
    {                                                                                          \
        if (k > 0 && (m == 1 || n == 1 ||                                                   \
                      accel_rows_stream(m, n, k, sizeof(T), accel_l2_bytes(),                  \
                                        STREAM_ROWS_MAX))) {                                   \
            gemv_##TS(a, b, c, bias, act, batch, m, n, k, a_batch_stride, b_batch_stride);     \
            return 0;                                                                          \
        }                                                                                      \
        /* unpacked (gemm_direct) or packed (gemm): the same tasks, bands of C */              \
        const accel_kernels *ks = kernels();                                                   \
        int direct = k > 0 && accel_direct_suits(m, n, k, sizeof(T), ks->mr_##TS,            \
                                                 accel_l2_bytes(),                             \
                                                 atomic_load(&direct_reread), 2, 32);          \
        gemm_job_##TS j = {direct ? ks->gemm_direct_##TS : ks->gemm_##TS, a, b, bias, c, act,  \
                           m, n, k, a_batch_stride, b_batch_stride, 1, 0, 0, 0};               \
        int threads = accel_get_num_threads();                                                 \
        double flops = 2.0 * (double)m * (double)n * (double)k;                                \
        if (threads > 1 && flops * (double)batch >= GEMM_PARALLEL_FLOPS &&                     \
            (batch < 2 * threads || flops >= 8.0 * GEMM_PARALLEL_FLOPS)) {                     \
            /* split each item into bands of rows (whole register blocks, balanced) or of     \
             * columns: along the longer side of C when packed; unpacked, rows unless there   \
             * are few (each band then reads its part of B only) */                           \
            int64_t mr = ks->mr_##TS;                                                          \
            int by_rows = direct ? m >= 4 * threads * mr || n < 2 * COL_ALIGN                  \
                                 : n < 4 * COL_ALIGN * threads;                                \
            if (by_rows) {                                                                     \
                int64_t rows = (m + threads - 1) / threads;                                    \
                j.tile_rows = (rows + mr - 1) / mr * mr;                                       \
                j.tiles = (m + j.tile_rows - 1) / j.tile_rows;                                 \
            } else {                                                                           \
                int64_t cols = (n + threads - 1) / threads;                                    \
                j.tile_cols = (cols + COL_ALIGN - 1) / COL_ALIGN * COL_ALIGN;                  \
                j.tiles = (n + j.tile_cols - 1) / j.tile_cols;                                 \
            }                                                                                  \
            if (j.tiles == 1) {                                                                \
                j.tile_rows = 0;                                                               \
                j.tile_cols = 0;                                                               \
            }                                                                                  \
        }                                                                                      \
        if (flops * (double)batch >= GEMM_PARALLEL_FLOPS)                                      \
            accel_parallel_for(gemm_task_##TS, &j, batch * j.tiles);                           \
        else                                                                                   \
            for (int64_t t = 0; t < batch; t++)                                                \
                gemm_task_##TS(&j, t);                                                         \
        return atomic_load(&j.failed) ? -1 : 0;                                                \
    }

GEMM_DRIVER(f32, float)
GEMM_DRIVER(f64, double)

/* ------------------------------------------------------------------------------------------ */
/* dot: chunks whose size depends on n alone, partial sums added in order                      */

#define DOT_CHUNK (1 << 16)
#define DOT_MAX_CHUNKS 4096

#define DOT_DRIVER(TS, T)                                                                      \
    typedef struct {                                                                           \
        const T *a, *b;                                                                        \
        int64_t n, chunk;                                                                      \
        double *partial;                                                                       \
        T (*dot)(const T *, const T *, int64_t);                                               \
    } dot_job_##TS;                                                                            \
                                                                                               \
    static void dot_task_##TS(void *ctx, int64_t task)                                         \
    {                                                                                          \
        dot_job_##TS *j = ctx;                                                                 \
        int64_t i0 = task * j->chunk;                                                          \
        int64_t len = j->n - i0 < j->chunk ? j->n - i0 : j->chunk;                             \
        j->partial[task] = (double)j->dot(j->a + i0, j->b + i0, len);                          \
    }                                                                                          \
                                                                                               \
    double accel_dot_##TS(const T *a, const T *b, int64_t n)                                   \
    {                                                                                          \
        if (n <= DOT_CHUNK)                                                                    \
            return (double)kernels()->dot_##TS(a, b, n);                                       \
        int64_t chunk = DOT_CHUNK;                                                             \
        while ((n + chunk - 1) / chunk > DOT_MAX_CHUNKS)                                       \
            chunk *= 2;                                                                        \
        double partial[DOT_MAX_CHUNKS];                                                        \
        dot_job_##TS j = {a, b, n, chunk, partial, kernels()->dot_##TS};                       \
        int64_t tasks = (n + chunk - 1) / chunk;                                               \
        accel_parallel_for(dot_task_##TS, &j, tasks);                                          \
        double s = 0;                                                                          \
        for (int64_t t = 0; t < tasks; t++)                                                    \
            s += partial[t];                                                                   \
        return s;                                                                              \
    }

DOT_DRIVER(f32, float)
DOT_DRIVER(f64, double)

/* ------------------------------------------------------------------------------------------ */
/* elementwise: chunks of y                                                                     */

#define ELEMENTWISE_CHUNK (1 << 15)

/* relu moves memory and little else: threads pay off only on arrays past the L2 cache; the
 * exp-based activations compute enough that smaller arrays are worth splitting */
static int64_t parallel_from(int act, int64_t itemsize)
{
    int64_t bytes = act == ACT_RELU ? (1 << 20) : (1 << 17);
    return bytes / itemsize;
}

#define ELEMENTWISE_DRIVER(TS, T)                                                              \
    typedef struct {                                                                           \
        void (*fn)(int, const T *, T *, int64_t);                                              \
        int act;                                                                               \
        const T *x;                                                                            \
        T *y;                                                                                  \
        int64_t n;                                                                             \
    } elementwise_job_##TS;                                                                    \
                                                                                               \
    static void elementwise_task_##TS(void *ctx, int64_t task)                                 \
    {                                                                                          \
        elementwise_job_##TS *j = ctx;                                                         \
        int64_t i0 = task * ELEMENTWISE_CHUNK;                                                 \
        int64_t len = j->n - i0 < ELEMENTWISE_CHUNK ? j->n - i0 : ELEMENTWISE_CHUNK;           \
        j->fn(j->act, j->x + i0, j->y + i0, len);                                              \
    }                                                                                          \
                                                                                               \
    void accel_elementwise_##TS(int act, const T *x, T *y, int64_t n)                          \
    {                                                                                          \
        elementwise_job_##TS j = {kernels()->elementwise_##TS, act, x, y, n};                  \
        if (n < parallel_from(act, (int64_t)sizeof(T)))                                        \
            j.fn(act, x, y, n);                                                                \
        else                                                                                   \
            accel_parallel_for(elementwise_task_##TS, &j,                                      \
                               (n + ELEMENTWISE_CHUNK - 1) / ELEMENTWISE_CHUNK);               \
    }

ELEMENTWISE_DRIVER(f32, float)
ELEMENTWISE_DRIVER(f64, double)

/* ------------------------------------------------------------------------------------------ */
/* softmax: bands of rows                                                                       */

#define SOFTMAX_BAND_ELEMENTS (1 << 14)

#define SOFTMAX_DRIVER(TS, T)                                                                  \
    typedef struct {                                                                           \
        void (*fn)(const T *, T *, int64_t, int64_t);                                          \
        const T *x;                                                                            \
        T *y;                                                                                  \
        int64_t rows, cols, band;                                                              \
    } softmax_job_##TS;                                                                        \
                                                                                               \
    static void softmax_task_##TS(void *ctx, int64_t task)                                     \
    {                                                                                          \
        softmax_job_##TS *j = ctx;                                                             \
        int64_t r0 = task * j->band;                                                           \
        int64_t rows = j->rows - r0 < j->band ? j->rows - r0 : j->band;                        \
        j->fn(j->x + r0 * j->cols, j->y + r0 * j->cols, rows, j->cols);                        \
    }                                                                                          \
                                                                                               \
    void accel_softmax_##TS(const T *x, T *y, int64_t rows, int64_t cols)                      \
    {                                                                                          \
        int64_t band = cols >= SOFTMAX_BAND_ELEMENTS ? 1 : SOFTMAX_BAND_ELEMENTS / cols;       \
        softmax_job_##TS j = {kernels()->softmax_##TS, x, y, rows, cols, band};                \
        accel_parallel_for(softmax_task_##TS, &j, (rows + band - 1) / band);                   \
    }

SOFTMAX_DRIVER(f32, float)
SOFTMAX_DRIVER(f64, double)
