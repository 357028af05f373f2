#ifndef CKERNELS_H
#define CKERNELS_H
#include <stddef.h>

/// Elementwise transcendental kernels, compiled optimized in every build configuration (Package.swift):
/// the tests run debug builds, in which the equivalent Swift SIMD code is fifty times slower.
/// Every element's value depends on that element alone, and every sum adds in eight lanes
/// (element i into lane i mod 8) combined in one fixed order, so results never depend on where a
/// buffer starts or how a batch is split. The hot loops are compiled three times (AVX-512, AVX2, baseline
/// SSE2; `target_clones`, chosen when the library loads) with no fused multiply-add, so every clone gives
/// the same bits: a CPU changes the speed, never the result.

/// y[i] = GELU(x[i]), the tanh form: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
void bb_gelu(const float *x, float *y, size_t n);
/// dx[i] = dy[i] · GELU′(x[i]).
void bb_gelu_gradient(const float *x, const float *dy, float *dx, size_t n);
/// p[i] = exp(x[i] − shift); returns the sum. `p` may be `x`.
float bb_exponentials(const float *x, float shift, float *p, size_t n);
/// The largest of x[0..<n] (n ≥ 1); NaN if any element is NaN.
float bb_maximum(const float *x, size_t n);
/// Each row i of the t×t matrix p becomes softmax over its first i + 1 entries (the causal mask); the rest 0.
void bb_causal_softmax(float *p, size_t t);
/// Softmax backward over bb_causal_softmax's rows: g ← p ⊙ (g − rowsum(p ⊙ g)) on and below the diagonal, 0 above.
void bb_causal_softmax_backward(const float *p, float *g, size_t t);
/// LayerNorm of `rows` rows of n: y = (x − mean)·rstd·gamma + beta (no beta when NULL); statistics gets
/// (mean, rstd) per row, rstd = 1/√(variance + epsilon).
void bb_layer_norm(const float *x, const float *gamma, const float *beta, float *y, float *statistics, size_t rows,
                   size_t n, float epsilon);
/// LayerNorm backward from bb_layer_norm's statistics: adds to gamma_gradient (and beta_gradient unless NULL)
/// and, unless dx is NULL, writes dx = rstd·(dy·gamma − mean(dy·gamma) − x̂·mean(dy·gamma·x̂)).
void bb_layer_norm_backward(const float *x, const float *dy, const float *gamma, const float *statistics,
                            float *gamma_gradient, float *beta_gradient, float *dx, size_t rows, size_t n);
/// exp(x) by Cephes' polynomial (relative error below 2e-7 on [-87, 88]); NaN stays NaN.
float bb_exp(float x);
/// tanh(x) = 1 − 2/(exp(2x) + 1).
float bb_tanh(float x);

/// Fixed-point accumulation for the reproducible mode (`FixedPointGradientSum`): acc[i] += round(g[i] · 2^shift),
/// rounding half to even. The scaling is exact in double for every float and shift in [-300, 300], so
/// each term depends on g[i] and shift alone and integer addition makes the sum independent of order.
/// Returns the smallest e ≥ −126 with |g[i]| < 2^e for every finite element (frexp's exponent of the
/// largest); sets *non_finite (and skips the element) for an infinite or NaN one.
/// Exact while |g[i]| · 2^shift ≤ 2^51; a caller keeps it there and its sums below 2^63 (the exponent
/// check), and recomputes when a value exceeded it (the term is then meaningless, never undefined).
int bb_fixed_accumulate(const float *g, long long *acc, size_t n, int shift, int *non_finite);
/// bb_fixed_accumulate that also zeroes g[i] once read (the next chunk's gradients accumulate into a zero
/// buffer), and with `first` stores the terms instead of adding them (acc need not be zeroed): one pass
/// over each buffer where zeroing them separately would take two more.
int bb_fixed_take(float *g, long long *acc, size_t n, int shift, int first, int *non_finite);
/// y[i] = acc[i] · 2^−shift, rounded once to float (nearest, ties to even).
void bb_fixed_to_float(const long long *acc, float *y, size_t n, int shift);

/// x rounded to bfloat16, its upper 16 bits (nearest, ties to even; NaN stays NaN, overflow becomes infinity):
/// the one rounding of distributed.compress: bf16, shared by the conversion loops and the MPI reduction.
static inline unsigned short bb_bf16_round(float x) {
    unsigned int bits;
    __builtin_memcpy(&bits, &x, sizeof bits);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((bits >> 16) | 0x40u);
    return (unsigned short)((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}
/// The float value of bfloat16 word h (exact).
static inline float bb_bf16_value(unsigned short h) {
    const unsigned int bits = (unsigned int)h << 16;
    float x;
    __builtin_memcpy(&x, &bits, sizeof x);
    return x;
}
/// y[i] = bb_bf16_round(x[i]), for reductions that move half the bytes (distributed.compress: bf16).
void bb_float_to_bf16(const float *x, unsigned short *y, size_t n);
/// y[i] = the float value of bfloat16 x[i] (exact).
void bb_bf16_to_float(const unsigned short *x, float *y, size_t n);

#endif
