/* Runs every CKernels loop on fixed pseudo-random data and prints one FNV-1a hash of the result bits per
   kernel. KernelClonesTests compiles it with the kernels at several x86-64 levels (and once with the
   load-time clones) and requires the same lines from each: no CPU may change a result. */
#include "ckernels.h"
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static uint64_t hash(const void *data, size_t bytes) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < bytes; i++) h = (h ^ ((const unsigned char *)data)[i]) * 1099511628211ULL;
    return h;
}

static void report(const char *kernel, const void *data, size_t bytes) {
    printf("%s %016llx\n", kernel, (unsigned long long)hash(data, bytes));
}

/* A fixed linear congruential sequence mapped to [-scale/2, scale/2): the same inputs on every build. */
static void fill(float *x, size_t n, uint32_t seed, float scale) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = ((float)(seed >> 8) / 16777216.0f - 0.5f) * scale;
    }
}

enum { N = 10007, T = 77, ROWS = 37, FEATURES = 133 };
static float x[N], dy[N], y[N], p[T * T], g[T * T];
static float normed[ROWS * FEATURES], statistics[2 * ROWS], gamma_[FEATURES], beta[FEATURES];
static float gamma_gradient[FEATURES], beta_gradient[FEATURES], dx[ROWS * FEATURES];
static long long acc[N];
static unsigned short halves[N];

int main(void) {
    fill(x, N, 1, 20);
    fill(dy, N, 2, 1);
    bb_gelu(x, y, N);
    report("gelu", y, sizeof y);
    bb_gelu_gradient(x, dy, y, N);
    report("gelu_gradient", y, sizeof y);
    float total = bb_exponentials(x, 3, y, 1001);
    report("exponentials", y, 1001 * sizeof(float));
    report("exponentials_sum", &total, sizeof total);
    float top = bb_maximum(x, N);
    report("maximum", &top, sizeof top);
    memcpy(p, x, sizeof p);
    bb_causal_softmax(p, T);
    report("causal_softmax", p, sizeof p);
    memcpy(g, dy, sizeof g);
    bb_causal_softmax_backward(p, g, T);
    report("causal_softmax_backward", g, sizeof g);
    fill(gamma_, FEATURES, 3, 2);
    fill(beta, FEATURES, 4, 1);
    bb_layer_norm(x + 7, gamma_, beta, normed, statistics, ROWS, FEATURES, 1e-5f);
    report("layer_norm", normed, sizeof normed);
    report("layer_norm_statistics", statistics, sizeof statistics);
    bb_layer_norm_backward(x + 7, dy + 11, gamma_, statistics, gamma_gradient, beta_gradient, dx, ROWS, FEATURES);
    report("layer_norm_backward", dx, sizeof dx);
    report("layer_norm_parameter_gradients", gamma_gradient, sizeof gamma_gradient);
    int non_finite = 0;
    int exponent = bb_fixed_accumulate(x, acc, N, 20, &non_finite);
    exponent += bb_fixed_take(dy, acc, N, 20, 0, &non_finite);
    report("fixed_point", acc, sizeof acc);
    report("fixed_point_exponents", &exponent, sizeof exponent);
    bb_fixed_to_float(acc, y, N, 20);
    report("fixed_to_float", y, sizeof y);
    bb_float_to_bf16(x, halves, N);
    report("bf16", halves, sizeof halves);
    return 0;
}
