/* hostcache.c: the buffers of the cpu backend's result Arrays, recycled.
 *
 * A cpu Array's buffer is an ndarray of its shape. The fast path makes a result Array's
 * ndarray here: it keeps a reference to each one it made (up to CACHED, each at most
 * MAX_BYTES, all together at most BUDGET), and one that no one else holds any more (its
 * reference count is 1: no Array, no view, no buffer export) is used again for the next
 * result of its dtype and shape, unchanged since (still C-contiguous, aligned and writeable).
 * An allocator's cache of freed blocks, as the simd backend's BlockPool: a network's layers
 * make the same shapes step after step, and a result past the C library's mmap threshold
 * (128 KiB) made anew would be new pages, each faulted in when first written.
 */
#include "fastpath.h"

#define CACHED 32
#define MAX_BYTES (16 << 20)
#define BUDGET (64 << 20)

static PyObject *cached[CACHED];
static int64_t cached_bytes[CACHED], total_bytes;
static unsigned next_slot;

static int reusable(PyObject *x, int dt, int nd, const npy_intp *dims)
{
    PyArrayObject *a = (PyArrayObject *)x;
    if (Py_REFCNT(x) != 1 || PyArray_DESCR(a) != fp_descr[dt] || PyArray_NDIM(a) != nd ||
        !PyArray_IS_C_CONTIGUOUS(a) || !PyArray_ISALIGNED(a) || !PyArray_ISWRITEABLE(a))
        return 0;
    for (int i = 0; i < nd; i++)
        if (PyArray_DIM(a, i) != dims[i])
            return 0;
    return 1;
}

PyObject *fp_host_buffer(int dt, int nd, const npy_intp *dims)
{
    int64_t nbytes = dt ? 8 : 4;
    for (int i = 0; i < nd; i++)
        nbytes *= dims[i];
    if (nbytes <= MAX_BYTES)
        for (int i = 0; i < CACHED; i++)
            if (cached[i] && reusable(cached[i], dt, nd, dims)) {
                Py_INCREF(cached[i]);
                return cached[i];
            }
    Py_INCREF(fp_descr[dt]);
    PyObject *arr = PyArray_NewFromDescr(&PyArray_Type, fp_descr[dt], nd, (npy_intp *)dims,
                                         NULL, NULL, 0, NULL);
    if (arr && nbytes <= MAX_BYTES) { /* kept in place of the next slot's (which its holders
                                       * keep, if any), within the budget */
        unsigned slot = next_slot++ % CACHED;
        if (total_bytes - cached_bytes[slot] + nbytes <= BUDGET) {
            Py_INCREF(arr);
            FP_SET(cached[slot], arr);
            total_bytes += nbytes - cached_bytes[slot];
            cached_bytes[slot] = nbytes;
        }
    }
    return arr;
}

void fp_host_cache_clear(void)
{
    for (int i = 0; i < CACHED; i++) {
        Py_CLEAR(cached[i]);
        cached_bytes[i] = 0;
    }
    total_bytes = 0;
}
