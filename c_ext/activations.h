/* activations.h: the ids of the activations.
 * generated from accel/_optable.py by `python -m accel._codegen`: do not edit.
 * The native kernels, the WebAssembly module and (through cffi) Python share them;
 * ACT_NONE is the identity (a linear layer without activation). ACCEL_ACTIVATIONS(X) expands
 * X(ID, name) once per activation, in id order. */
#ifndef ACCEL_ACTIVATIONS_H
#define ACCEL_ACTIVATIONS_H
enum accel_activation {
    ACT_NONE = -1,
    ACT_RELU = 0,
    ACT_SIGMOID = 1,
    ACT_TANH = 2,
    ACT_GELU = 3,
    ACT_SILU = 4,
    ACT_SOFTPLUS = 5,
    ACT_GELU_TANH = 6
};
#define ACCEL_ACTIVATIONS(X) \
    X(RELU, relu) \
    X(SIGMOID, sigmoid) \
    X(TANH, tanh) \
    X(GELU, gelu) \
    X(SILU, silu) \
    X(SOFTPLUS, softplus) \
    X(GELU_TANH, gelu_tanh)
#endif
