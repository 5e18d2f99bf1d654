/* maps.h: the ids of the map, reduction and norm kernels.
 * generated from accel/_optable.py by `python -m accel._codegen`: do not edit.
 * ACCEL_MAPS(X) expands X(ID, name) once per map op (the copy of a view, negative, and the
 * binary ops), in id order. */
#ifndef ACCEL_MAPS_H
#define ACCEL_MAPS_H
enum accel_map {
    MAP_COPY = 0,
    MAP_NEGATIVE = 1,
    MAP_ADD = 2,
    MAP_SUBTRACT = 3,
    MAP_MULTIPLY = 4,
    MAP_DIVIDE = 5,
    MAP_MAXIMUM = 6,
    MAP_MINIMUM = 7
};
#define ACCEL_MAPS(X) \
    X(COPY, copy) \
    X(NEGATIVE, negative) \
    X(ADD, add) \
    X(SUBTRACT, subtract) \
    X(MULTIPLY, multiply) \
    X(DIVIDE, divide) \
    X(MAXIMUM, maximum) \
    X(MINIMUM, minimum)
enum accel_reduce { REDUCE_SUM = 0, REDUCE_MEAN = 1, REDUCE_MAX = 2 };
enum accel_norm { NORM_LAYER = 0, NORM_RMS = 1 };
#endif
