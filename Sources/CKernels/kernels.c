#include "ckernels.h"
#include <math.h>
#include <stdint.h>
#include <string.h>

/* Cephes expf: n = round(x·log2 e), r = x − n·ln 2 (in two parts, exactly), a degree-5 polynomial,
   then the exponent put back by bit arithmetic. Branch-free apart from the clamp, so loops vectorize. */
static inline float exp_poly(float x) {
    float c = x < -87.3f ? -87.3f : (x > 88.3f ? 88.3f : x);
    float n = rintf(c * 1.44269504088896341f);
    float r = c - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float e = p * (r * r) + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    float result = e * scale;
    return x != x ? x : result;
}

float bb_exp(float x) { return exp_poly(x); }

static inline float tanh_poly(float x) { return 1.0f - 2.0f / (exp_poly(2.0f * x) + 1.0f); }

float bb_tanh(float x) { return tanh_poly(x); }

static const float gelu_scale = 0.7978845608028654f;
static const float gelu_cubic = 0.044715f;

void bb_gelu(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        float t = tanh_poly(gelu_scale * (v + gelu_cubic * (v * v * v)));
        y[i] = 0.5f * v * (1.0f + t);
    }
}

void bb_gelu_gradient(const float *x, const float *dy, float *dx, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        float t = tanh_poly(gelu_scale * (v + gelu_cubic * (v * v * v)));
        float half = 0.5f * (1.0f + t);
        float slope = gelu_scale * (1.0f + 3.0f * gelu_cubic * v * v);
        dx[i] = dy[i] * (half + 0.5f * v * (1.0f - t * t) * slope);
    }
}

float bb_exponentials(const float *x, float shift, float *p, size_t n) {
    float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        for (int j = 0; j < 8; j++) {
            float e = exp_poly(x[i + j] - shift);
            p[i + j] = e;
            lanes[j] += e;
        }
    }
    for (int j = 0; i + j < n; j++) {
        float e = exp_poly(x[i + j] - shift);
        p[i + j] = e;
        lanes[j] += e;
    }
    return ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
}

float bb_maximum(const float *x, size_t n) {
    float top = x[0];
    int nan = 0;
    for (size_t i = 0; i < n; i++) {
        nan |= x[i] != x[i];
        top = x[i] > top ? x[i] : top;
    }
    return nan ? NAN : top;
}

int bb_fixed_accumulate(const float *g, long long *acc, size_t n, int shift, int *non_finite) {
    const double scale = ldexp(1.0, shift);
    uint32_t top = 0;  /* the largest exponent field seen */
    for (size_t i = 0; i < n; ++i) {
        uint32_t bits;
        memcpy(&bits, g + i, sizeof bits);
        const uint32_t field = bits & 0x7f800000u;
        top = field > top ? field : top;
        if (field != 0x7f800000u) acc[i] += llrint((double)g[i] * scale);
    }
    if (top == 0x7f800000u) *non_finite = 1;
    /* Biased field f holds values below 2^(f − 126); zeros and subnormals are below 2^−126. */
    return top == 0 ? -126 : (int)(top >> 23) - 126;
}

void bb_fixed_to_float(const long long *acc, float *y, size_t n, int shift) {
    for (size_t i = 0; i < n; ++i) {
        /* One rounding: the integer to float (exact when it fits 24 bits), then an exact power-of-two scale.
           Results below float's normal range round again, deterministically. */
        y[i] = ldexpf((float)acc[i], -shift);
    }
}
