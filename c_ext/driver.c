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
#include "plan.h"
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
#define GEMV_PARALLEL_FLOPS (1 << 19) /* the matrix-vector paths: B of about 1 MiB and more */
#define COL_ALIGN 64                  /* multiple of every NR, and whole cache lines of C */

/* How many L2s B may fill and still go unpacked when it is read once per MR rows (plan.h).
 * Up to 2 gains on some machines and loses 3x on others (docs/performance.md): the default is
 * the safe one; `accel calibrate` measures both and sets the faster (the paths give the same
 * bits). */
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

/* The parts of the L1 an A sliver and of the L2 a B panel fill in the packed product
 * (kernels_type.h's gemm). Half of each is the default that held on every machine measured;
 * on some more is faster (docs/performance.md), and `accel calibrate` measures the choices
 * (the blocking never changes the bits: each element is one fma chain over k in order). */
#define BLOCK_PART_DEFAULT 0.5
static _Atomic double block_l1 = BLOCK_PART_DEFAULT, block_l2 = BLOCK_PART_DEFAULT;

static double block_part(double part)
{
    if (!(part >= 0.25)) /* (NaN too) */
        return part < 0 ? BLOCK_PART_DEFAULT : 0.25;
    return part > 1 ? 1 : part;
}

void accel_set_block_parts(double l1, double l2)
{
    atomic_store(&block_l1, block_part(l1));
    atomic_store(&block_l2, block_part(l2));
}

double accel_get_block_l1(void) { return atomic_load(&block_l1); }

double accel_get_block_l2(void) { return atomic_load(&block_l2); }

/* The per-core L1 data (level 1) and L2 (level 2) cache sizes the system reports (glibc's
 * sysconf), 32 KiB / 1 MiB where it says nothing, clamped to what such caches are. Read once,
 * when the library loads, before any thread can ask. */
static double cache_sizes[3];

static double read_cache_bytes(int level)
{
    long v = -1;
#if defined(_SC_LEVEL1_DCACHE_SIZE) && defined(_SC_LEVEL2_CACHE_SIZE)
    v = sysconf(level == 1 ? _SC_LEVEL1_DCACHE_SIZE : _SC_LEVEL2_CACHE_SIZE);
#endif
    double lo = level == 1 ? 16384.0 : 262144.0, hi = level == 1 ? 262144.0 : 8388608.0;
    double b = v > 0 ? (double)v : level == 1 ? 32768.0 : 1048576.0;
    return b < lo ? lo : b > hi ? hi : b;
}

__attribute__((constructor)) static void read_cache_sizes(void)
{
    cache_sizes[1] = read_cache_bytes(1);
    cache_sizes[2] = read_cache_bytes(2);
}

double accel_l1_bytes(void) { return cache_sizes[1]; }

double accel_l2_bytes(void) { return cache_sizes[2]; }

/* The most rows that go to the matrix-vector kernel (plan.h's ROWS path): 2 or 3 rows stream
 * B once for all of them; from 4 rows the unpacked kernel's register blocks are faster. */
#define STREAM_ROWS_MAX 3

static accel_plan_params plan_params(double size, int64_t mr)
{
    accel_plan_params p = {size, mr, accel_l2_bytes(), atomic_load(&direct_reread), 2, 32,
                           STREAM_ROWS_MAX, 0};
    return p;
}

/* the path of a transposed B (beside plan.h's) */
#define PATH_NT 100

#define GEMM_DRIVER(TS, T)                                                                     \
    typedef struct {                                                                           \
        const accel_kernels *ks;                                                               \
        int path;                                                                              \
        accel_split split;                                                                     \
        int64_t tiles; /* per item, for bands of rows or columns */                            \
        const T *a, *b, *bias;                                                                 \
        T *c;                                                                                  \
        int act;                                                                               \
        int64_t batch, m, n, k, a_stride, b_stride, bias_stride;                               \
        atomic_int failed;                                                                     \
    } gemm_job_##TS;                                                                           \
                                                                                               \
    /* rows [r0, r1) and columns [c0, c1) of one item's C, on the job's path */                \
    static void gemm_block_##TS(gemm_job_##TS *j, int64_t item, int64_t r0, int64_t r1,        \
                                int64_t c0, int64_t c1)                                        \
    {                                                                                          \
        const accel_kernels *ks = j->ks;                                                       \
        int64_t n = j->n, k = j->k;                                                            \
        const T *a = j->a + item * j->a_stride + r0 * k, *b = j->b + item * j->b_stride + c0;  \
        T *c = j->c + item * j->m * n + r0 * n + c0;                                           \
        const T *bias = j->bias ? j->bias + item * j->bias_stride + c0 : NULL;                 \
        if (j->path == PATH_NT) {                                                              \
            ks->gemm_nt_##TS(r1 - r0, c1 - c0, k, a, k, j->b + item * j->b_stride + c0 * k, k, \
                             c, n, bias, j->act);                                              \
        } else if (j->path == ACCEL_PATH_ROWS) {                                               \
            ks->gemv_row_##TS(r1 - r0, c1 - c0, k, a, k, b, n, c, n);                          \
            for (int64_t r = 0; r < r1 - r0 && (bias || j->act != ACT_NONE); r++)              \
                ks->bias_act_##TS(c + r * n, c1 - c0, bias, j->act);                           \
        } else if (j->path == ACCEL_PATH_COLUMN) { /* n == 1 */                                \
            ks->gemv_col_##TS(r1 - r0, k, a, k, b, c, 1);                                      \
            if (bias)                                                                          \
                for (int64_t i = 0; i < r1 - r0; i++)                                          \
                    c[i] = c[i] + bias[0];                                                     \
            if (j->act != ACT_NONE)                                                            \
                ks->elementwise_##TS(j->act, c, c, r1 - r0);                                   \
        } else {                                                                               \
            int (*gemm)(int64_t, int64_t, int64_t, const T *, int64_t, const T *, int64_t,     \
                        T *, int64_t, const T *, int) =                                        \
                j->path == ACCEL_PATH_DIRECT ? ks->gemm_direct_##TS : ks->gemm_##TS;           \
            if (gemm(r1 - r0, c1 - c0, k, a, k, b, n, c, n, bias, j->act) != 0)                \
                atomic_store(&j->failed, 1);                                                   \
        }                                                                                      \
    }                                                                                          \
                                                                                               \
    static void gemm_task_##TS(void *ctx, int64_t task)                                        \
    {                                                                                          \
        gemm_job_##TS *j = ctx;                                                                \
        int64_t step = j->split.step;                                                          \
        switch (j->split.kind) {                                                               \
        case ACCEL_SPLIT_ROWS: {                                                               \
            int64_t r0 = task % j->tiles * step;                                               \
            gemm_block_##TS(j, task / j->tiles, r0, r0 + step < j->m ? r0 + step : j->m, 0,    \
                            j->n);                                                             \
            return;                                                                            \
        }                                                                                      \
        case ACCEL_SPLIT_COLS: {                                                               \
            int64_t c0 = task % j->tiles * step;                                               \
            gemm_block_##TS(j, task / j->tiles, 0, j->m, c0,                                   \
                            c0 + step < j->n ? c0 + step : j->n);                              \
            return;                                                                            \
        }                                                                                      \
        default: { /* whole items */                                                           \
            int64_t i1 = (task + 1) * step < j->batch ? (task + 1) * step : j->batch;          \
            for (int64_t i = task * step; i < i1; i++)                                         \
                gemm_block_##TS(j, i, 0, j->m, 0, j->n);                                       \
        }                                                                                      \
        }                                                                                      \
    }                                                                                          \
                                                                                               \
    int accel_linear_##TS(const T *a, const T *b, T *c, const T *bias, int act, int64_t batch, \
                          int64_t m, int64_t n, int64_t k, int64_t a_batch_stride,             \
                          int64_t b_batch_stride, int64_t bias_batch_stride, int trans_b)      \
    {                                                                                          \
        if (batch <= 0 || m <= 0 || n <= 0)                                                    \
            return 0;                                                                          \
        const accel_kernels *ks = kernels();                                                   \
        accel_plan_params p = plan_params(sizeof(T), ks->mr_##TS);                             \
        /* K = 0: the packed kernel writes act(0 + bias); a transposed B: its own kernel, in   \
         * bands of rows as the unpacked path's */                                             \
        int path = trans_b ? PATH_NT                                                           \
                   : k > 0 ? accel_plan_path(m, n, k, &p)                                      \
                           : ACCEL_PATH_PACKED;                                                \
        double least = path == ACCEL_PATH_ROWS || path == ACCEL_PATH_COLUMN                    \
                           ? GEMV_PARALLEL_FLOPS                                               \
                           : GEMM_PARALLEL_FLOPS;                                              \
        gemm_job_##TS j = {ks, path, {0, batch, 1}, 1, a, b, bias, c, act,                     \
                           batch, m, n, k, a_batch_stride, b_batch_stride, bias_batch_stride,  \
                           0};                                                                 \
        j.split = accel_plan_split(batch, m, n, k, trans_b ? ACCEL_PATH_DIRECT : path,         \
                                   accel_get_num_threads(), least, 1, COL_ALIGN, &p);          \
        if (trans_b && j.split.kind == ACCEL_SPLIT_COLS) /* bands of rows only */              \
            j.split = (accel_split){ACCEL_SPLIT_NONE, batch, 1};                               \
        if (j.split.kind == ACCEL_SPLIT_ROWS || j.split.kind == ACCEL_SPLIT_COLS)              \
            j.tiles = j.split.tasks / batch;                                                   \
        if (j.split.tasks > 1)                                                                 \
            accel_parallel_for(gemm_task_##TS, &j, j.split.tasks);                             \
        else                                                                                   \
            gemm_task_##TS(&j, 0);                                                             \
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
        if (rows <= 0 || cols <= 0)                                                            \
            return;                                                                            \
        int64_t band = cols >= SOFTMAX_BAND_ELEMENTS ? 1 : SOFTMAX_BAND_ELEMENTS / cols;       \
        softmax_job_##TS j = {kernels()->softmax_##TS, x, y, rows, cols, band};                \
        accel_parallel_for(softmax_task_##TS, &j, (rows + band - 1) / band);                   \
    }

SOFTMAX_DRIVER(f32, float)
SOFTMAX_DRIVER(f64, double)

/* ------------------------------------------------------------------------------------------ */
/* maps: tasks of whole rows of y (its outer dimensions), or pieces of one long row            */

#define MAP_CHUNK (1 << 15)

#define MAP_DRIVER(TS, T)                                                                      \
    typedef struct {                                                                           \
        const accel_kernels *ks;                                                               \
        int op, act, ndim;                                                                     \
        const T *a, *b;                                                                        \
        const int64_t *sa, *sb, *shape;                                                        \
        T *y;                                                                                  \
        int64_t rows, per_task;                                                                \
    } map_job_##TS;                                                                            \
                                                                                               \
    static void map_task_##TS(void *ctx, int64_t task)                                         \
    {                                                                                          \
        map_job_##TS *j = ctx;                                                                 \
        if (j->rows == 1) { /* one long row: a piece of it */                                  \
            int64_t n = j->shape[j->ndim - 1], i0 = task * MAP_CHUNK;                          \
            int64_t len = n - i0 < MAP_CHUNK ? n - i0 : MAP_CHUNK;                             \
            int64_t sa = j->sa[j->ndim - 1], sb = j->b ? j->sb[j->ndim - 1] : 0;               \
            j->ks->map_##TS(j->op, j->act, j->a + i0 * sa, &sa, j->b ? j->b + i0 * sb : NULL,  \
                            &sb, j->y + i0, &len, 1, 0, 1);                                    \
            return;                                                                            \
        }                                                                                      \
        int64_t r0 = task * j->per_task;                                                       \
        int64_t r1 = r0 + j->per_task < j->rows ? r0 + j->per_task : j->rows;                  \
        j->ks->map_##TS(j->op, j->act, j->a, j->sa, j->b, j->sb, j->y, j->shape, j->ndim, r0,  \
                        r1);                                                                   \
    }                                                                                          \
                                                                                               \
    void accel_map_##TS(int op, int act, const T *a, const int64_t *a_strides, const T *b,     \
                        const int64_t *b_strides, T *y, const int64_t *shape, int ndim,        \
                        double scalar, int scalar_at)                                          \
    {                                                                                          \
        if (ndim < 1 || ndim > ACCEL_MAP_DIMS)                                                 \
            return;                                                                            \
        int64_t rows = 1, n = shape[ndim - 1];                                                 \
        for (int d = 0; d < ndim - 1; d++)                                                     \
            rows *= shape[d];                                                                  \
        if (rows <= 0 || n <= 0)                                                               \
            return;                                                                            \
        /* a Python float: one value of the dtype, read at stride 0 everywhere */              \
        T value = (T)scalar;                                                                   \
        static const int64_t zeros[ACCEL_MAP_DIMS] = {0};                                      \
        if (scalar_at == 1) {                                                                  \
            a = &value;                                                                        \
            a_strides = zeros;                                                                 \
        } else if (scalar_at == 2) {                                                           \
            b = &value;                                                                        \
            b_strides = zeros;                                                                 \
        }                                                                                      \
        map_job_##TS j = {kernels(), op, act, ndim, a, b, a_strides, b_strides, shape, y,      \
                          rows, rows};                                                         \
        int64_t tasks = 1;                                                                     \
        if (rows * n >= MAP_CHUNK * 2) {                                                       \
            if (rows == 1) {                                                                   \
                tasks = (n + MAP_CHUNK - 1) / MAP_CHUNK;                                       \
            } else {                                                                           \
                j.per_task = MAP_CHUNK / n > 1 ? MAP_CHUNK / n : 1;                            \
                tasks = (rows + j.per_task - 1) / j.per_task;                                  \
            }                                                                                  \
        }                                                                                      \
        if (tasks > 1)                                                                         \
            accel_parallel_for(map_task_##TS, &j, tasks);                                      \
        else                                                                                   \
            j.ks->map_##TS(op, act, a, a_strides, b, b_strides, y, shape, ndim, 0, rows);      \
    }

MAP_DRIVER(f32, float)
MAP_DRIVER(f64, double)

/* ------------------------------------------------------------------------------------------ */
/* reductions and norms: tasks of whole outputs (rows), each computed by one thread            */

#define ROWS_PER_TASK(n) ((1 << 15) / ((n) > 0 ? (n) : 1) > 1 ? (1 << 15) / (n) : 1)

#define REDUCE_DRIVER(TS, T)                                                                   \
    typedef struct {                                                                           \
        const accel_kernels *ks;                                                               \
        int op;                                                                                \
        const T *x;                                                                            \
        int64_t outer, n, inner, per_task;                                                     \
        T *y;                                                                                  \
    } reduce_job_##TS;                                                                         \
                                                                                               \
    static void reduce_task_##TS(void *ctx, int64_t task)                                      \
    {                                                                                          \
        reduce_job_##TS *j = ctx;                                                              \
        int64_t o0 = task * j->per_task;                                                       \
        int64_t o1 = o0 + j->per_task < j->outer ? o0 + j->per_task : j->outer;                \
        j->ks->reduce_##TS(j->op, j->x + o0 * j->n * j->inner, o1 - o0, j->n, j->inner,        \
                           j->y + o0 * j->inner);                                              \
    }                                                                                          \
                                                                                               \
    void accel_reduce_##TS(int op, const T *x, int64_t outer, int64_t n, int64_t inner, T *y)  \
    {                                                                                          \
        if (outer <= 0 || inner <= 0)                                                          \
            return;                                                                            \
        reduce_job_##TS j = {kernels(), op, x, outer, n, inner, 0, y};                         \
        j.per_task = ROWS_PER_TASK(n * inner);                                                 \
        int64_t tasks = (outer + j.per_task - 1) / j.per_task;                                 \
        if (tasks > 1)                                                                         \
            accel_parallel_for(reduce_task_##TS, &j, tasks);                                   \
        else                                                                                   \
            j.ks->reduce_##TS(op, x, outer, n, inner, y);                                      \
    }                                                                                          \
                                                                                               \
    typedef struct {                                                                           \
        const accel_kernels *ks;                                                               \
        int kind;                                                                              \
        const T *x, *w, *b;                                                                    \
        T *y;                                                                                  \
        int64_t rows, cols, per_task;                                                          \
        T eps;                                                                                 \
    } norm_job_##TS;                                                                           \
                                                                                               \
    static void norm_task_##TS(void *ctx, int64_t task)                                        \
    {                                                                                          \
        norm_job_##TS *j = ctx;                                                                \
        int64_t r0 = task * j->per_task;                                                       \
        int64_t r1 = r0 + j->per_task < j->rows ? r0 + j->per_task : j->rows;                  \
        j->ks->norm_##TS(j->kind, j->x + r0 * j->cols, j->y + r0 * j->cols, r1 - r0, j->cols,  \
                         j->w, j->b, j->eps);                                                  \
    }                                                                                          \
                                                                                               \
    void accel_norm_##TS(int kind, const T *x, T *y, int64_t rows, int64_t cols,               \
                         const T *weight, const T *bias, double eps)                           \
    {                                                                                          \
        if (rows <= 0 || cols <= 0)                                                            \
            return;                                                                            \
        norm_job_##TS j = {kernels(), kind, x, weight, bias, y, rows, cols,                    \
                           ROWS_PER_TASK(cols), (T)eps};                                       \
        int64_t tasks = (rows + j.per_task - 1) / j.per_task;                                  \
        if (tasks > 1)                                                                         \
            accel_parallel_for(norm_task_##TS, &j, tasks);                                     \
        else                                                                                   \
            j.ks->norm_##TS(kind, x, y, rows, cols, weight, bias, (T)eps);                     \
    }

REDUCE_DRIVER(f32, float)
REDUCE_DRIVER(f64, double)
