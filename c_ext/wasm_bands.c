/* wasm_bands.c: the simd backend's bands on the native thread pool. A large product of the
 * WebAssembly module is split into bands (plan.h), each a call of its linear export on an
 * instance of its own; Python threads would hand them over through locks and condition
 * variables (about 90 us per call on two cores, the run time of a 64 x 256 x 256 product),
 * where this pool's workers spin briefly between jobs. The caller (the simd backend, through
 * cffi, which releases the GIL) lets one caller at a time use the band instances.
 */
#include "accel_cpu.h"
#include "internal.h"
#include "wasm_call.h"

typedef struct {
    accel_wasm_api api;
    accel_wasm_band *bands;
} bands_job;

static void run_band(void *ctx, int64_t i)
{
    bands_job *j = ctx;
    accel_wasm_band *b = j->bands + i;
    b->failed = accel_wasm_invoke(&j->api, b->ctx, b->func, b->args, b->nargs, NULL) != 0;
}

int accel_wasm_bands(uintptr_t call, uintptr_t error_delete, uintptr_t trap_delete,
                     size_t raw_size, accel_wasm_band *bands, int64_t n)
{
    bands_job j = {{(accel_wasm_call_fn)call, (accel_wasm_delete_fn)error_delete,
                    (accel_wasm_delete_fn)trap_delete, raw_size},
                   bands};
    if (!call || !error_delete || !trap_delete || raw_size < 8 || raw_size > 32)
        return (int)n;
    for (int64_t i = 0; i < n; i++)
        if (bands[i].nargs < 0 || bands[i].nargs > ACCEL_WASM_BAND_ARGS)
            return (int)n;
    accel_parallel_for(run_band, &j, n);
    int failed = 0;
    for (int64_t i = 0; i < n; i++)
        failed += bands[i].failed;
    return failed;
}
