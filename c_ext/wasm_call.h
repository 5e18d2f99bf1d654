/* wasm_call.h: one call of a WebAssembly export through wasmtime's C API
 * (wasmtime_func_call_unchecked), shared by the native pool's bands (wasm_bands.c) and the
 * compiled fast path (fastpath/calls.c). The caller passes the entry points it was given (from
 * wasmtime-py's loaded library, by address): nothing here is a global another thread writes.
 */
#ifndef ACCEL_WASM_CALL_H
#define ACCEL_WASM_CALL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define ACCEL_WASM_MAX_ARGS 16

typedef void *(*accel_wasm_call_fn)(void *ctx, const void *func, void *raw, size_t n,
                                    void **trap);
typedef void (*accel_wasm_delete_fn)(void *);

typedef struct {
    accel_wasm_call_fn call;
    accel_wasm_delete_fn error_delete, trap_delete;
    size_t raw_size; /* sizeof(wasmtime_val_raw_t): a union up to v128 */
} accel_wasm_api;

/* Calls func(args[0..n-1]) (at most ACCEL_WASM_MAX_ARGS integer arguments, an i32 reading the
 * low half of its slot) on the store context ctx: 0, or -1 on a trap or an error (freed here).
 * *result, when not NULL, gets the first raw slot after the call (an export's result). */
static inline int accel_wasm_invoke(const accel_wasm_api *api, void *ctx, const void *func,
                                    const int64_t *args, int n, int64_t *result)
{
    unsigned char raw[ACCEL_WASM_MAX_ARGS * 32];
    if (n > ACCEL_WASM_MAX_ARGS || api->raw_size < 8 || api->raw_size > 32)
        return -1;
    memset(raw, 0, (size_t)(n ? n : 1) * api->raw_size);
    for (int i = 0; i < n; i++)
        memcpy(raw + (size_t)i * api->raw_size, &args[i], 8); /* little-endian, as wasm */
    void *trap = NULL;
    void *error = api->call(ctx, func, raw, (size_t)(n ? n : 1), &trap);
    if (error || trap) {
        if (error)
            api->error_delete(error);
        if (trap)
            api->trap_delete(trap);
        return -1;
    }
    if (result)
        memcpy(result, raw, 8);
    return 0;
}

#endif
