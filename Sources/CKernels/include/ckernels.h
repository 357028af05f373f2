#ifndef CKERNELS_H
#define CKERNELS_H
#include <stddef.h>

/// Elementwise transcendental kernels, compiled optimized in every build configuration (Package.swift):
/// the tests run debug builds, in which the equivalent Swift SIMD code is fifty times slower.
/// Every element's value depends on that element alone, and every sum adds in eight lanes
/// (element i into lane i mod 8) combined in one fixed order, so results never depend on where a
/// buffer starts or how a batch is split.

/// y[i] = GELU(x[i]), the tanh form: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
void bb_gelu(const float *x, float *y, size_t n);
/// dx[i] = dy[i] · GELU′(x[i]).
void bb_gelu_gradient(const float *x, const float *dy, float *dx, size_t n);
/// p[i] = exp(x[i] − shift); returns the sum. `p` may be `x`.
float bb_exponentials(const float *x, float shift, float *p, size_t n);
/// The largest of x[0..<n] (n ≥ 1); NaN if any element is NaN.
float bb_maximum(const float *x, size_t n);
/// exp(x) by Cephes' polynomial (relative error below 2e-7 on [-87, 88]); NaN stays NaN.
float bb_exp(float x);
/// tanh(x) = 1 − 2/(exp(2x) + 1).
float bb_tanh(float x);

#endif
