/* fma_peak.c: the 128-bit FMA peak of this machine's cores, measured (the yardstick of the
 * simd module's matmul, benchmarks/simd_speed.py). Each thread runs 12 independent chains of
 * 128-bit float32 FMAs (vfmadd on xmm registers: more chains than an FMA's latency times its
 * throughput, so the pipes never wait); the printed rate is all threads' flops over the wall
 * time. float64's 128-bit peak is half of it (two lanes per vector, not four).
 *
 *     cc -O2 -mfma -pthread benchmarks/fma_peak.c -o fma_peak && ./fma_peak THREADS
 */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CHAINS 12

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void *work(void *arg)
{
    long n = *(long *)arg;
    /* read through volatile: the compiler may not merge the chains or fold them */
    volatile float init[CHAINS] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    __m128 acc[CHAINS];
    for (int c = 0; c < CHAINS; c++)
        acc[c] = _mm_set1_ps(init[c]);
    __m128 x = _mm_set1_ps(0.999999f), y = _mm_set1_ps(1e-7f);
    for (long i = 0; i < n; i++)
#pragma GCC unroll 12
        for (int c = 0; c < CHAINS; c++)
            acc[c] = _mm_fmadd_ps(acc[c], x, y);
    __m128 s = acc[0];
    for (int c = 1; c < CHAINS; c++)
        s = _mm_add_ps(s, acc[c]);
    float out[4];
    _mm_storeu_ps(out, s);
    *(long *)arg = (long)out[0]; /* kept: the chains are live */
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    long n = argc > 2 ? atol(argv[2]) : 50000000L;
    if (threads < 1 || threads > 256)
        return 2;
    pthread_t th[256];
    long args[256];
    double t0 = now();
    for (int i = 0; i < threads; i++) {
        args[i] = n;
        pthread_create(&th[i], NULL, work, &args[i]);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    double dt = now() - t0;
    printf("%.2f\n", threads * (double)n * CHAINS * 8.0 / dt / 1e9);
    return 0;
}
