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

__attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
void bb_gelu(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        float t = tanh_poly(gelu_scale * (v + gelu_cubic * (v * v * v)));
        y[i] = 0.5f * v * (1.0f + t);
    }
}

__attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
void bb_gelu_gradient(const float *x, const float *dy, float *dx, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        float t = tanh_poly(gelu_scale * (v + gelu_cubic * (v * v * v)));
        float half = 0.5f * (1.0f + t);
        float slope = gelu_scale * (1.0f + 3.0f * gelu_cubic * v * v);
        dx[i] = dy[i] * (half + 0.5f * v * (1.0f - t * t) * slope);
    }
}

/* Eight float lanes. Lane arithmetic is IEEE per lane on every target (two SSE registers on the
   baseline, one AVX register otherwise), so sums kept in lanes round identically on every CPU. */
typedef float lanes8 __attribute__((vector_size(32)));

/* Macros rather than functions: a function taking or returning lanes8 would have a different ABI in
   the AVX clones than in the baseline one. */
/* The eight floats at x. */
#define LOAD8(x) ({ lanes8 v_; memcpy(&v_, (x), sizeof v_); v_; })
/* The elements of x[0..<n] past its last whole group of eight, in lanes 0 ..< n mod 8; zeros elsewhere. */
#define LOAD_TAIL(x, n) ({ lanes8 t_ = {0, 0, 0, 0, 0, 0, 0, 0}; \
    for (size_t j_ = 0; j_ < (n) % 8; j_++) t_[j_] = (x)[(n) - (n) % 8 + j_]; t_; })
/* The lanes combined in one fixed order. */
#define LANE_TOTAL(v) ({ lanes8 s_ = (v); ((s_[0] + s_[1]) + (s_[2] + s_[3])) + ((s_[4] + s_[5]) + (s_[6] + s_[7])); })
#define ZERO8 ((lanes8){0, 0, 0, 0, 0, 0, 0, 0})

/* Σ x[i], element i added into lane i mod 8. */
static inline float lane_sum(const float *x, size_t n) {
    lanes8 acc = ZERO8;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) acc += LOAD8(x + i);
    return LANE_TOTAL(acc + LOAD_TAIL(x, n));
}

/* Σ x[i]·y[i] in lanes, each product rounded before it is added (no contraction). */
static inline float lane_dot(const float *x, const float *y, size_t n) {
    lanes8 acc = ZERO8;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) acc += LOAD8(x + i) * LOAD8(y + i);
    return LANE_TOTAL(acc + LOAD_TAIL(x, n) * LOAD_TAIL(y, n));
}

static inline float row_maximum(const float *x, size_t n) {
    float top = x[0];
    int nan = 0;
    for (size_t i = 0; i < n; i++) {
        nan |= x[i] != x[i];
        top = x[i] > top ? x[i] : top;
    }
    return nan ? NAN : top;
}

static inline float row_exponentials(const float *x, float shift, float *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = exp_poly(x[i] - shift);
    return lane_sum(p, n);
}

__attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
float bb_exponentials(const float *x, float shift, float *p, size_t n) { return row_exponentials(x, shift, p, n); }

__attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
float bb_maximum(const float *x, size_t n) { return row_maximum(x, n); }

__attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
void bb_causal_softmax(float *p, size_t t) {
    for (size_t i = 0; i < t; i++) {
        float *r = p + i * t;
        const size_t n = i + 1;
        const float inverse = 1.0f / row_exponentials(r, row_maximum(r, n), r, n);
        for (size_t j = 0; j < n; j++) r[j] *= inverse;
        for (size_t j = n; j < t; j++) r[j] = 0;
    }
}

__attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
void bb_causal_softmax_backward(const float *restrict p, float *restrict g, size_t t) {
    for (size_t i = 0; i < t; i++) {
        const float *pr = p + i * t;
        float *gr = g + i * t;
        const size_t n = i + 1;
        const float dot = lane_dot(pr, gr, n);
        for (size_t j = 0; j < n; j++) gr[j] = pr[j] * (gr[j] - dot);
        for (size_t j = n; j < t; j++) gr[j] = 0;
    }
}

__attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
void bb_layer_norm(const float *restrict x, const float *restrict gamma, const float *restrict beta, float *restrict y,
                   float *restrict statistics, size_t rows, size_t n, float epsilon) {
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * n;
        float *yr = y + r * n;
        const float mean = lane_sum(xr, n) / (float)n;
        lanes8 acc = ZERO8;
        size_t i = 0;
        for (; i + 8 <= n; i += 8) {
            const lanes8 centred = LOAD8(xr + i) - mean;
            acc += centred * centred;
        }
        const lanes8 tail = LOAD_TAIL(xr, n) - mean;
        for (size_t j = 0; j < n % 8; j++) acc[j] += tail[j] * tail[j];
        const float rstd = 1.0f / sqrtf(LANE_TOTAL(acc) / (float)n + epsilon);
        statistics[2 * r] = mean;
        statistics[2 * r + 1] = rstd;
        if (beta) {
            for (size_t j = 0; j < n; j++) yr[j] = (xr[j] - mean) * rstd * gamma[j] + beta[j];
        } else {
            for (size_t j = 0; j < n; j++) yr[j] = (xr[j] - mean) * rstd * gamma[j];
        }
    }
}

__attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
void bb_layer_norm_backward(const float *restrict x, const float *restrict dy, const float *restrict gamma,
                            const float *restrict statistics, float *restrict gamma_gradient,
                            float *restrict beta_gradient, float *restrict dx, size_t rows, size_t n) {
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * n, *dyr = dy + r * n;
        const float mean = statistics[2 * r], rstd = statistics[2 * r + 1];
        for (size_t j = 0; j < n; j++) gamma_gradient[j] += dyr[j] * ((xr[j] - mean) * rstd);
        if (beta_gradient) {
            for (size_t j = 0; j < n; j++) beta_gradient[j] += dyr[j];
        }
        if (!dx) continue;
        lanes8 sum_g = ZERO8, sum_gx = ZERO8;
        size_t i = 0;
        for (; i + 8 <= n; i += 8) {
            const lanes8 g = LOAD8(dyr + i) * LOAD8(gamma + i);
            sum_g += g;
            sum_gx += g * ((LOAD8(xr + i) - mean) * rstd);
        }
        const lanes8 g = LOAD_TAIL(dyr, n) * LOAD_TAIL(gamma, n);
        const lanes8 xhat = (LOAD_TAIL(xr, n) - mean) * rstd;
        for (size_t j = 0; j < n % 8; j++) {
            sum_g[j] += g[j];
            sum_gx[j] += g[j] * xhat[j];
        }
        const float mean_g = LANE_TOTAL(sum_g) / (float)n, mean_gx = LANE_TOTAL(sum_gx) / (float)n;
        float *dxr = dx + r * n;
        for (size_t j = 0; j < n; j++) dxr[j] = rstd * (dyr[j] * gamma[j] - mean_g - ((xr[j] - mean) * rstd) * mean_gx);
    }
}

/* One loop for both entry points; `first` and `clear` are constants there, so each gets its own loop. */
static inline __attribute__((always_inline)) int fixed_accumulate(float *g, long long *acc, size_t n, int shift,
                                                                  int first, int clear, int *non_finite) {
    const double scale = ldexp(1.0, shift);
    /* Adding 1.5·2^52 to |y| ≤ 2^51 leaves the double in [2^52, 2^53), where its unit is 1: the addition
       rounds y to an integer (half to even), and the bit patterns differ by exactly that integer. */
    const double magic = 0x1.8p52;
    int64_t magic_bits;
    memcpy(&magic_bits, &magic, sizeof magic_bits);
    int32_t top = 0; /* the largest exponent field seen */
    for (size_t i = 0; i < n; ++i) {
        int32_t bits;
        memcpy(&bits, g + i, sizeof bits);
        const int32_t field = bits & 0x7f800000;
        top = field > top ? field : top;
        const double shifted = (double)g[i] * scale + magic;
        int64_t term;
        memcpy(&term, &shifted, sizeof term);
        term = field == 0x7f800000 ? 0 : term - magic_bits;
        /* Unsigned addition: a value above its bound (the step is then recomputed) wraps instead of being undefined. */
        acc[i] = first ? (long long)term : (long long)((uint64_t)acc[i] + (uint64_t)term);
        if (clear) g[i] = 0;
    }
    if (top == 0x7f800000) *non_finite = 1;
    /* Biased field f holds values below 2^(f − 126); zeros and subnormals are below 2^−126. */
    return top == 0 ? -126 : (top >> 23) - 126;
}

/* Each compiled twice, for AVX2 and for the baseline, and chosen at load time: every operation is exact
   or rounds as IEEE 754 says (no contraction), so both give the same integers. */
__attribute__((target_clones("avx2", "default")))
int bb_fixed_accumulate(const float *restrict g, long long *restrict acc, size_t n, int shift, int *non_finite) {
    return fixed_accumulate((float *)g, acc, n, shift, 0, 0, non_finite);
}

__attribute__((target_clones("avx2", "default")))
int bb_fixed_take(float *restrict g, long long *restrict acc, size_t n, int shift, int first, int *non_finite) {
    return first ? fixed_accumulate(g, acc, n, shift, 1, 1, non_finite)
                 : fixed_accumulate(g, acc, n, shift, 0, 1, non_finite);
}

/* Blocks of 256: a vectorized pass converts through the 1.5·2^52 identity (exact below 2^51, as every sum
   is unless values approach their bounds with hundreds of chunks); a block holding a larger integer is
   redone with the scalar conversion. Either way y[i] is acc[i]·2^−shift rounded once, to nearest. */
__attribute__((target_clones("avx2", "default")))
void bb_fixed_to_float(const long long *restrict acc, float *restrict y, size_t n, int shift) {
    const double scale = ldexp(1.0, -shift);
    const double magic = 0x1.8p52;
    int64_t magic_bits;
    memcpy(&magic_bits, &magic, sizeof magic_bits);
    for (size_t start = 0; start < n; start += 256) {
        const size_t end = n - start < 256 ? n : start + 256;
        uint64_t outside = 0;
        for (size_t i = start; i < end; ++i) {
            const int64_t v = acc[i];
            outside |= ((uint64_t)v + ((uint64_t)1 << 51)) & ~(((uint64_t)1 << 52) - 1); /* 0 iff −2^51 ≤ v < 2^51 */
            const int64_t bits = (int64_t)((uint64_t)magic_bits + (uint64_t)v);
            double exact;
            memcpy(&exact, &bits, sizeof exact);
            y[i] = (float)((exact - magic) * scale);
        }
        if (outside) {
            /* Rounded to float (nearest), then scaled exactly: with |acc| ≥ 2^51 and shift ≤ 169 the result is normal. */
            for (size_t i = start; i < end; ++i) y[i] = (float)((double)(float)acc[i] * scale);
        }
    }
}

void bb_float_to_bf16(const float *x, unsigned short *y, size_t n) {
    for (size_t i = 0; i < n; ++i) y[i] = bb_bf16_round(x[i]);
}

void bb_bf16_to_float(const unsigned short *x, float *y, size_t n) {
    for (size_t i = 0; i < n; ++i) y[i] = bb_bf16_value(x[i]);
}
