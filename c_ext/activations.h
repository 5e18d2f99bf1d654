/* activations.h: the ids of the activations, shared by the native kernels, the WebAssembly
 * module and (through cffi) Python, whose op table (accel/_optable.py) holds the same numbers;
 * a test checks that they agree. ACT_NONE is the identity (a linear layer without activation). */
#ifndef ACCEL_ACTIVATIONS_H
#define ACCEL_ACTIVATIONS_H
enum accel_activation {
    ACT_NONE = -1,
    ACT_RELU = 0,
    ACT_SIGMOID = 1,
    ACT_TANH = 2,
    ACT_GELU = 3,
    ACT_SILU = 4
};
#endif
