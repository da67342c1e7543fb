/* The Adam and AdaMax CPU kernels: one parallel loop per step over every tensor of a group.

   All tensors of a call are cut into chunks of CHUNK elements and one OpenMP loop runs over
   the chunks, so each element of p, g, m, v is read once and p, m, v written once (28 bytes
   per float32 parameter), whatever the layout: hundreds of small tensors cost one parallel
   region, not one each.

   The arithmetic follows torch.optim's for-loop implementation operation by operation, in
   the tensor's own precision (scalars rounded to it first), with a fused multiply-add exactly
   where torch's vectorised CPU kernels use one (add with alpha, lerp, addcmul) and nowhere
   else (the build passes -ffp-contract=off); bias corrections are computed in double
   precision from the float32 step counter, as torch does with Python floats.

   Included once, by module.c, which checks every argument before calling these. */

#ifndef ADAMLAB_ADAM_KERNELS_H
#define ADAMLAB_ADAM_KERNELS_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#define CHUNK 16384

#define FLAG_AMSGRAD 1
#define FLAG_MAXIMIZE 2
#define FLAG_DECOUPLED_WEIGHT_DECAY 4
#define FLAG_BIAS_CORRECTION 8

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* torch.maximum: a NaN in either argument gives NaN. */
#define MAXIMUM(a, b) (((a) != (a) || (a) > (b)) ? (a) : (b))

enum { NO_DECAY = 0, COUPLED_DECAY = 1, DECOUPLED_DECAY = 2 };

/* One specialised call of an inner loop; the names are those of the chunk loops below. */
#define RUN_ADAM(range, A, MX, WD) range(p, g, m, v, vmax, start, end, &h, neg, bc2s, A, MX, WD)
#define RUN_ADAMAX(range, MX, WD) range(p, g, m, u, start, end, &h, neg, MX, WD)

/* first[i] is the index of tensor i's first chunk; first[n] the number of chunks. */
static int64_t *chunk_offsets(int64_t n, const int64_t *numel) {
    int64_t *first = malloc(sizeof(int64_t) * (size_t)(n + 1));
    if (!first) return NULL;
    first[0] = 0;
    for (int64_t i = 0; i < n; i++) first[i + 1] = first[i] + (numel[i] + CHUNK - 1) / CHUNK;
    return first;
}

/* The last tensor whose first chunk is <= chunk: empty tensors (no chunks) are skipped. */
static int64_t tensor_of_chunk(const int64_t *first, int64_t n, int64_t chunk) {
    int64_t lo = 0, hi = n;
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (first[mid] <= chunk) lo = mid; else hi = mid;
    }
    return lo;
}

/* Increments each step counter (float32, as torch keeps it) and returns, per tensor, the
   step size lr / (1 - beta1^t) and sqrt(1 - beta2^t), both in double precision. */
static void prepare_steps(int64_t n, float **steps, double lr, double beta1, double beta2,
                          int flags, double *step_size, double *bias_correction2_sqrt) {
    for (int64_t i = 0; i < n; i++) {
        float t = *steps[i] + 1.0f;
        *steps[i] = t;
        double bc1 = (flags & FLAG_BIAS_CORRECTION) ? 1.0 - pow(beta1, (double)t) : 1.0;
        double bc2 = (flags & FLAG_BIAS_CORRECTION) ? 1.0 - pow(beta2, (double)t) : 1.0;
        step_size[i] = lr / bc1;
        bias_correction2_sqrt[i] = sqrt(bc2);
    }
}

/* Each kernel's inner loop is an always-inlined function whose switches (amsgrad, maximize,
   the kind of weight decay) are compile-time constants at every call site below, so the
   compiler emits one straight vectorised loop per combination.

   Where torch's vectorised CPU kernels fuse a multiply and an add (add with alpha, lerp,
   addcmul), FMA does the same here, so both round alike; the rest stays unfused. */
#define DEFINE_KERNELS(T, SUFFIX, SQRT, FABS, FMA)                                              \
typedef struct {                                                                                \
    T w1, one_minus_w1, b2, one_minus_b2, eps, wd, decay;                                       \
    int small_w1;                                                                               \
} hyper_##SUFFIX;                                                                               \
                                                                                                \
static hyper_##SUFFIX hyper_of_##SUFFIX(double lr, double beta1, double beta2, double eps,      \
                                       double weight_decay) {                                   \
    hyper_##SUFFIX h;                                                                           \
    h.w1 = (T)(1.0 - beta1);                                                                    \
    h.one_minus_w1 = (T)1 - h.w1;                                                               \
    h.small_w1 = fabs((double)h.w1) < 0.5;                                                      \
    h.b2 = (T)beta2;                                                                            \
    h.one_minus_b2 = (T)(1.0 - beta2);                                                          \
    h.eps = (T)eps;                                                                             \
    h.wd = (T)weight_decay;                                                                     \
    h.decay = (T)(1.0 - lr * weight_decay);                                                     \
    return h;                                                                                   \
}                                                                                               \
                                                                                                \
/* torch's lerp: self + w (end - self) for |w| < 0.5, else end - (end - self)(1 - w). */        \
ALWAYS_INLINE T lerp_##SUFFIX(T self, T end, const hyper_##SUFFIX *h) {                         \
    return h->small_w1 ? FMA(h->w1, end - self, self)                                           \
                       : FMA(-(end - self), h->one_minus_w1, end);                              \
}                                                                                               \
                                                                                                \
ALWAYS_INLINE void adam_range_##SUFFIX(                                                         \
    T *restrict p, const T *restrict g, T *restrict m, T *restrict v, T *restrict vmax,         \
    int64_t start, int64_t end, const hyper_##SUFFIX *h, T neg_step_size, T bc2_sqrt,           \
    const int amsgrad, const int maximize, const int decay_kind) {                              \
    for (int64_t j = start; j < end; j++) {                                                     \
        T gj = maximize ? -g[j] : g[j];                                                         \
        T pj = p[j];                                                                            \
        if (decay_kind == DECOUPLED_DECAY) pj = pj * h->decay;                                  \
        if (decay_kind == COUPLED_DECAY) gj = FMA(h->wd, pj, gj);                               \
        const T mj = lerp_##SUFFIX(m[j], gj, h);                                                \
        T vj = FMA(h->one_minus_b2 * gj, gj, v[j] * h->b2);                                     \
        m[j] = mj;                                                                              \
        v[j] = vj;                                                                              \
        if (amsgrad) {                                                                          \
            vj = MAXIMUM(vmax[j], vj);                                                          \
            vmax[j] = vj;                                                                       \
        }                                                                                       \
        const T denom = SQRT(vj) / bc2_sqrt + h->eps;                                           \
        p[j] = pj + neg_step_size * mj / denom;                                                 \
    }                                                                                           \
}                                                                                               \
                                                                                                \
ALWAYS_INLINE void adamax_range_##SUFFIX(                                                       \
    T *restrict p, const T *restrict g, T *restrict m, T *restrict u,                           \
    int64_t start, int64_t end, const hyper_##SUFFIX *h, T neg_step_size,                       \
    const int maximize, const int decay_kind) {                                                 \
    for (int64_t j = start; j < end; j++) {                                                     \
        T gj = maximize ? -g[j] : g[j];                                                         \
        T pj = p[j];                                                                            \
        if (decay_kind == DECOUPLED_DECAY) pj = pj * h->decay;                                  \
        if (decay_kind == COUPLED_DECAY) gj = FMA(h->wd, pj, gj);                               \
        const T mj = lerp_##SUFFIX(m[j], gj, h);                                                \
        const T scaled = u[j] * h->b2, bound = FABS(gj) + h->eps;                               \
        const T uj = MAXIMUM(scaled, bound);                                                    \
        m[j] = mj;                                                                              \
        u[j] = uj;                                                                              \
        p[j] = pj + neg_step_size * mj / uj;                                                    \
    }                                                                                           \
}                                                                                               \
                                                                                                \
static int adam_##SUFFIX(int64_t n, T **P, T **G, T **M, T **V, T **VMAX, const int64_t *numel, \
                  float **steps, double lr, double beta1, double beta2, double eps,             \
                  double weight_decay, int flags, int nthreads) {                               \
    int64_t *first = chunk_offsets(n, numel);                                                   \
    double *step_size = malloc(sizeof(double) * (size_t)(n + 1));                               \
    double *bc2_sqrt = malloc(sizeof(double) * (size_t)(n + 1));                                \
    if (!first || !step_size || !bc2_sqrt) {                                                    \
        free(first); free(step_size); free(bc2_sqrt); return -1;                                \
    }                                                                                           \
    prepare_steps(n, steps, lr, beta1, beta2, flags, step_size, bc2_sqrt);                      \
    const hyper_##SUFFIX h = hyper_of_##SUFFIX(lr, beta1, beta2, eps, weight_decay);            \
    const int amsgrad = (flags & FLAG_AMSGRAD) != 0;                                            \
    const int maximize = (flags & FLAG_MAXIMIZE) != 0;                                          \
    const int decay_kind = weight_decay == 0.0 ? NO_DECAY                                       \
        : (flags & FLAG_DECOUPLED_WEIGHT_DECAY) ? DECOUPLED_DECAY : COUPLED_DECAY;              \
    const int variant = amsgrad * 6 + maximize * 3 + decay_kind;                                \
    const int64_t nchunks = first[n];                                                           \
    _Pragma("omp parallel for schedule(static) num_threads(nthreads) if(nthreads > 1)")         \
    for (int64_t c = 0; c < nchunks; c++) {                                                     \
        const int64_t i = tensor_of_chunk(first, n, c);                                         \
        const int64_t start = (c - first[i]) * CHUNK;                                           \
        const int64_t end = start + CHUNK < numel[i] ? start + CHUNK : numel[i];                \
        const T neg = (T)(-step_size[i]), bc2s = (T)bc2_sqrt[i];                                \
        T *p = P[i], *m = M[i], *v = V[i], *vmax = amsgrad ? VMAX[i] : NULL;                    \
        const T *g = G[i];                                                                      \
        switch (variant) {                                                                      \
        case 0: RUN_ADAM(adam_range_##SUFFIX, 0, 0, 0); break;                                  \
        case 1: RUN_ADAM(adam_range_##SUFFIX, 0, 0, 1); break;                                  \
        case 2: RUN_ADAM(adam_range_##SUFFIX, 0, 0, 2); break;                                  \
        case 3: RUN_ADAM(adam_range_##SUFFIX, 0, 1, 0); break;                                  \
        case 4: RUN_ADAM(adam_range_##SUFFIX, 0, 1, 1); break;                                  \
        case 5: RUN_ADAM(adam_range_##SUFFIX, 0, 1, 2); break;                                  \
        case 6: RUN_ADAM(adam_range_##SUFFIX, 1, 0, 0); break;                                  \
        case 7: RUN_ADAM(adam_range_##SUFFIX, 1, 0, 1); break;                                  \
        case 8: RUN_ADAM(adam_range_##SUFFIX, 1, 0, 2); break;                                  \
        case 9: RUN_ADAM(adam_range_##SUFFIX, 1, 1, 0); break;                                  \
        case 10: RUN_ADAM(adam_range_##SUFFIX, 1, 1, 1); break;                                 \
        default: RUN_ADAM(adam_range_##SUFFIX, 1, 1, 2); break;                                 \
        }                                                                                       \
    }                                                                                           \
    free(first); free(step_size); free(bc2_sqrt);                                               \
    return 0;                                                                                   \
}                                                                                               \
                                                                                                \
static int adamax_##SUFFIX(int64_t n, T **P, T **G, T **M, T **U, const int64_t *numel,         \
                    float **steps, double lr, double beta1, double beta2, double eps,           \
                    double weight_decay, int flags, int nthreads) {                             \
    int64_t *first = chunk_offsets(n, numel);                                                   \
    double *step_size = malloc(sizeof(double) * (size_t)(n + 1));                               \
    double *unused = malloc(sizeof(double) * (size_t)(n + 1));                                  \
    if (!first || !step_size || !unused) {                                                      \
        free(first); free(step_size); free(unused); return -1;                                  \
    }                                                                                           \
    prepare_steps(n, steps, lr, beta1, beta2, flags, step_size, unused);                        \
    const hyper_##SUFFIX h = hyper_of_##SUFFIX(lr, beta1, beta2, eps, weight_decay);            \
    const int maximize = (flags & FLAG_MAXIMIZE) != 0;                                          \
    const int decay_kind = weight_decay == 0.0 ? NO_DECAY                                       \
        : (flags & FLAG_DECOUPLED_WEIGHT_DECAY) ? DECOUPLED_DECAY : COUPLED_DECAY;              \
    const int variant = maximize * 3 + decay_kind;                                              \
    const int64_t nchunks = first[n];                                                           \
    _Pragma("omp parallel for schedule(static) num_threads(nthreads) if(nthreads > 1)")         \
    for (int64_t c = 0; c < nchunks; c++) {                                                     \
        const int64_t i = tensor_of_chunk(first, n, c);                                         \
        const int64_t start = (c - first[i]) * CHUNK;                                           \
        const int64_t end = start + CHUNK < numel[i] ? start + CHUNK : numel[i];                \
        const T neg = (T)(-step_size[i]);                                                       \
        T *p = P[i], *m = M[i], *u = U[i];                                                      \
        const T *g = G[i];                                                                      \
        switch (variant) {                                                                      \
        case 0: RUN_ADAMAX(adamax_range_##SUFFIX, 0, 0); break;                                 \
        case 1: RUN_ADAMAX(adamax_range_##SUFFIX, 0, 1); break;                                 \
        case 2: RUN_ADAMAX(adamax_range_##SUFFIX, 0, 2); break;                                 \
        case 3: RUN_ADAMAX(adamax_range_##SUFFIX, 1, 0); break;                                 \
        case 4: RUN_ADAMAX(adamax_range_##SUFFIX, 1, 1); break;                                 \
        default: RUN_ADAMAX(adamax_range_##SUFFIX, 1, 2); break;                                \
        }                                                                                       \
    }                                                                                           \
    free(first); free(step_size); free(unused);                                                 \
    return 0;                                                                                   \
}

DEFINE_KERNELS(float, f32, sqrtf, fabsf, fmaf)
DEFINE_KERNELS(double, f64, sqrt, fabs, fma)

#endif
