/* graph-mtl's LSTM-dagger (eq. 2-11) with its message attention (eq. 3-8), the whole time loop of a
 * forward or a backward in one call (raymtl_recurrence_forward / _backward at the end of this file).
 * A step's attention is one pass over the candidates instead of the eager path's add, tanh, score,
 * softmax and weighted-sum passes; the gates and their derivatives are a few loops; the step's matrix
 * products call the BLAS sgemm torch links (passed in). Loaded by _fused_recurrence.py with ctypes;
 * float32, row-major, the last dimension contiguous.
 *
 * Names: N rows, J candidates per row, A attention size, M message size.
 * src [N, J, A] (row stride src_ns): W_s h_j;  q [N, A] (row stride q_ns): W_x x_t + W_h h_{t-1};
 * u [A];  val [N, J, M] (row stride val_ns): h_j;  keep [N, J]: 1 for a candidate, 0 for excluded.
 * esrc NULL or [N, J, A] (row stride src_ns): exp(2 src), for static sources (see factored_tanh).
 */
#include <math.h>

#if defined(__GNUC__)
#define RESTRICT __restrict__
#else
#define RESTRICT
#endif

/* tanh as Eigen's rational approximation (generic_fast_tanh_float): within a few float32 ulp of tanh
 * and plain arithmetic, so the loops over A vectorise (a libm call would not). */
static inline float fast_tanh(float x) {
    const float c = 7.90531110763549805f;
    float xc = x > c ? c : (x < -c ? -c : x);
    float x2 = xc * xc;
    float p = -2.76076847742355e-16f;
    p = p * x2 + 2.00018790482477e-13f;
    p = p * x2 + -8.60467152213735e-11f;
    p = p * x2 + 5.12229709037114e-08f;
    p = p * x2 + 1.48572235717979e-05f;
    p = p * x2 + 6.37261928875436e-04f;
    p = p * x2 + 4.89352455891786e-03f;
    p = p * xc;
    float d = 1.19825839466702e-06f;
    d = d * x2 + 1.18534705686654e-04f;
    d = d * x2 + 2.26843463243900e-03f;
    d = d * x2 + 4.89352518554385e-03f;
    float r = p / d;
    return fabsf(x) < 0.0004f ? x : r;
}

float raymtl_tanh(float x) { return fast_tanh(x); } /* for the accuracy test */

/* exp for |x| <= 40: Cephes' expf (range reduction by ln 2, degree-6 polynomial, 2^n from the exponent
 * bits), within 4 float32 ulp of exp (tested); plain arithmetic, so a loop of it vectorises. */
static inline float fast_exp(float x) {
    float n = floorf(x * 1.44269504088896341f + 0.5f);
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    union { int i; float f; } scale = {((int)n + 127) << 23};
    return p * scale.f;
}

/* The score's tanh(s + q) (graph-mtl eq. 5, as SG-MTL's eq. 8 uses it) over static sources s (the same
 * W^(s) h_j^(s) at every step) as 1 - 2 / (1 + e^{2s} e^{2q}): e^{2s} once per sequence (esrc), e^{2q}
 * once per step and row (eq), so each of the T x J x A values is a product, an add and a division
 * instead of the rational tanh's ~15 operations (4-5x faster on its loop). |s|, |q| <= FACTORED_MAX
 * keeps both factors and their product normal floats (|2s + 2q| <= 80); the caller checks it and uses
 * fast_tanh elsewhere. Within 5e-7 of tanh (tested). */
#define FACTORED_MAX 20.0f
static inline float factored_tanh(float es, float eq) { return 1.0f - 2.0f / (1.0f + es * eq); }

float raymtl_exp(float x) { return fast_exp(x); } /* for the accuracy tests */
float raymtl_factored_tanh(float s, float q) { return factored_tanh(fast_exp(2.0f * s), fast_exp(2.0f * q)); }

/* eq = e^{2q} for a row whose |q| <= FACTORED_MAX everywhere (returns 1), else 0 (eq untouched) */
static int row_exp2(long a_dim, const float *RESTRICT q, float *RESTRICT eq) {
    float big = 0.0f;
    for (long a = 0; a < a_dim; a++) { float v = fabsf(q[a]); big = v > big ? v : big; }
    if (!(big <= FACTORED_MAX)) return 0;
    for (long a = 0; a < a_dim; a++) eq[a] = fast_exp(2.0f * q[a]);
    return 1;
}

/* Set the calling thread's flush-to-zero and denormals-are-zero bits to `bits` (0 or 0x8040, x86's MXCSR)
 * and return the previous ones. Back-propagated gradients decay through the time steps into float32
 * denormals (|x| < 1.2e-38), which the CPU computes on ~10x slower: the recurrence runs with them flushed
 * to 0. Elsewhere (not x86) a no-op returning 0. */
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
unsigned raymtl_denormal_mode(unsigned bits) {
    unsigned csr = _mm_getcsr();
    _mm_setcsr((csr & ~0x8040u) | (bits & 0x8040u));
    return csr & 0x8040u;
}
#else
unsigned raymtl_denormal_mode(unsigned bits) { (void)bits; return 0; }
#endif

/* Forward: s_j = u . tanh(src_j + q) (eq. 4-5), beta = softmax over kept j (eq. 6 / 8; all excluded: 0),
 * r = sum_j beta_j val_j (eq. 3 / 8), w = beta * row_mask[n] (row_mask NULL: 1).
 * z_out (NULL or [N, J, A]) keeps tanh(src_j + q) for a backward without recomputation. */
static void attn_forward(long n_rows, long n_cand, long a_dim, long m_dim,
                         const float *RESTRICT src, long src_ns, const float *RESTRICT q, long q_ns,
                         const float *RESTRICT u, const float *RESTRICT val, long val_ns,
                         const float *RESTRICT keep, const float *RESTRICT row_mask, const float *RESTRICT esrc,
                         float *RESTRICT w, float *RESTRICT r, float *RESTRICT z_out, float *RESTRICT eq) {
    for (long n = 0; n < n_rows; n++) {
        const float *qn = q + n * q_ns, *kn = keep + n * n_cand;
        float *wn = w + n * n_cand, *rn = r + n * m_dim;
        float best = -INFINITY;
        int any = 0, factored = esrc && !z_out && row_exp2(a_dim, qn, eq);
        for (long j = 0; j < n_cand; j++) {
            if (kn[j] == 0.0f) { wn[j] = 0.0f; continue; }
            const float *sj = src + n * src_ns + j * a_dim;
            float acc = 0.0f;
            if (factored) {
                const float *ej = esrc + n * src_ns + j * a_dim;
#pragma omp simd reduction(+:acc)
                for (long a = 0; a < a_dim; a++) acc += u[a] * factored_tanh(ej[a], eq[a]);
            } else if (z_out) {
                float *zj = z_out + (n * n_cand + j) * a_dim;
                for (long a = 0; a < a_dim; a++) { float z = fast_tanh(sj[a] + qn[a]); zj[a] = z; acc += u[a] * z; }
            } else {
#pragma omp simd reduction(+:acc)
                for (long a = 0; a < a_dim; a++) acc += u[a] * fast_tanh(sj[a] + qn[a]);
            }
            wn[j] = acc;
            if (acc > best) best = acc;
            any = 1;
        }
        for (long m = 0; m < m_dim; m++) rn[m] = 0.0f;
        if (!any) continue;
        float total = 0.0f;
        for (long j = 0; j < n_cand; j++)
            if (kn[j] != 0.0f) { float e = expf(wn[j] - best); wn[j] = e; total += e; }
        float inv = 1.0f / total;
        for (long j = 0; j < n_cand; j++) {
            if (kn[j] == 0.0f) continue;
            float b = wn[j] * inv;
            wn[j] = b;
            const float *vj = val + n * val_ns + j * m_dim;
            for (long m = 0; m < m_dim; m++) rn[m] += b * vj[m];
        }
        if (row_mask) {
            float scale = row_mask[n];
            for (long j = 0; j < n_cand; j++) wn[j] *= scale;
        }
    }
}

/* Backward of the forward above for the incoming dr [N, M], with w the forward's weights:
 * ds = softmax'(val . dr); du += sum ds z; dq = u * sum_j ds (1 - z^2);
 * g = ds (1 - z^2) is added to dsrc (accumulate = 1: the same src at every step, times u once at the
 * end by the caller) or written there times u (accumulate = 0: one src per step).
 * scratch: J + 2A floats. z_in: NULL (recompute tanh: factored where esrc is given, as in the forward) or
 * the forward's z_out. */
static void attn_backward(long n_rows, long n_cand, long a_dim, long m_dim,
                          const float *RESTRICT src, long src_ns, const float *RESTRICT q, long q_ns,
                          const float *RESTRICT u, const float *RESTRICT val, long val_ns,
                          const float *RESTRICT w, const float *RESTRICT dr, const float *RESTRICT z_in,
                          const float *RESTRICT esrc, float *RESTRICT du, float *RESTRICT dq, long dq_ns,
                          float *RESTRICT dsrc, long dsrc_ns, int accumulate, float *RESTRICT scratch) {
    float *RESTRICT ds = scratch, *RESTRICT zbuf = scratch + n_cand, *RESTRICT eq = zbuf + a_dim;
    for (long n = 0; n < n_rows; n++) {
        const float *wn = w + n * n_cand, *drn = dr + n * m_dim, *qn = q + n * q_ns;
        float *dqn = dq + n * dq_ns;
        float dot = 0.0f;
        int factored = esrc && !z_in && row_exp2(a_dim, qn, eq);
        for (long j = 0; j < n_cand; j++) {
            if (wn[j] == 0.0f) { ds[j] = 0.0f; continue; }
            const float *vj = val + n * val_ns + j * m_dim;
            float db = 0.0f;
#pragma omp simd reduction(+:db)
            for (long m = 0; m < m_dim; m++) db += vj[m] * drn[m];
            ds[j] = db;
            dot += wn[j] * db;
        }
        for (long a = 0; a < a_dim; a++) dqn[a] = 0.0f;
        for (long j = 0; j < n_cand; j++) {
            float *gj = dsrc + n * dsrc_ns + j * a_dim;
            float dsj = wn[j] * (ds[j] - dot);
            if (dsj == 0.0f) {
                if (!accumulate) for (long a = 0; a < a_dim; a++) gj[a] = 0.0f;
                continue;
            }
            const float *sj = src + n * src_ns + j * a_dim;
            float *RESTRICT z = zbuf;  /* this candidate's tanh(src_j + q), then its (1 - z^2) ds */
            if (factored) {  /* static sources (accumulate): all of the below in one pass */
                const float *ej = esrc + n * src_ns + j * a_dim;
                for (long a = 0; a < a_dim; a++) {
                    float za = factored_tanh(ej[a], eq[a]), g = dsj * (1.0f - za * za);
                    du[a] += dsj * za;
                    dqn[a] += g;
                    gj[a] += g;
                }
                continue;
            }
            if (z_in) {
                const float *zj = z_in + (n * n_cand + j) * a_dim;
                for (long a = 0; a < a_dim; a++) z[a] = zj[a];
            } else {
                for (long a = 0; a < a_dim; a++) z[a] = fast_tanh(sj[a] + qn[a]);
            }
            for (long a = 0; a < a_dim; a++) {
                du[a] += dsj * z[a];
                z[a] = dsj * (1.0f - z[a] * z[a]);
                dqn[a] += z[a];
            }
            if (accumulate) for (long a = 0; a < a_dim; a++) gj[a] += z[a];
            else for (long a = 0; a < a_dim; a++) gj[a] = z[a] * u[a];
        }
        for (long a = 0; a < a_dim; a++) dqn[a] *= u[a];
    }
}

/* ---- the elementwise part of an LSTM-dagger step (graph-mtl eq. 9-11), around the matrix products that
 * stay in torch: one call instead of ~6 small torch ops each, forward and backward. H = hidden size;
 * every [N, H] array is contiguous unless a row stride (_ns) is given; row_mask NULL = every row real. */

static inline float fast_sigmoid(float x) { return 0.5f * fast_tanh(0.5f * x) + 0.5f; }

/* act = [sig(i), sig(f), tanh(g), sig(o)] of pre's first 4H columns; cn = sig(f) c + sig(i) tanh(g) */
static void gates_forward(long n_rows, long h, const float *RESTRICT pre, long pre_ns, const float *RESTRICT c,
                          float *RESTRICT act, float *RESTRICT cn) {
    for (long n = 0; n < n_rows; n++) {
        const float *p = pre + n * pre_ns;
        float *a = act + n * 4 * h;
        for (long k = 0; k < 2 * h; k++) a[k] = fast_sigmoid(p[k]);
        for (long k = 2 * h; k < 3 * h; k++) a[k] = fast_tanh(p[k]);
        for (long k = 3 * h; k < 4 * h; k++) a[k] = fast_sigmoid(p[k]);
        const float *cr = c + n * h;
        float *cnr = cn + n * h;
        for (long k = 0; k < h; k++) cnr[k] = a[h + k] * cr[k] + a[k] * a[2 * h + k];
    }
}

/* gg = sig(gg) in place (eq. 11), th = tanh(cn + gg fr), h = sig(o) th (eq. 10); seq = h (0 on a padded
 * row); a padded row keeps h_prev and c_prev as its next state. */
static void out_forward(long n_rows, long h, float *RESTRICT gg, const float *RESTRICT fr, long fr_ns,
                        const float *RESTRICT cn, const float *RESTRICT act, const float *RESTRICT h_prev,
                        const float *RESTRICT c_prev, const float *RESTRICT row_mask, float *RESTRICT th,
                        float *RESTRICT seq, float *RESTRICT h_next, float *RESTRICT c_next) {
    for (long n = 0; n < n_rows; n++) {
        const float *frr = fr + n * fr_ns, *so = act + n * 4 * h + 3 * h;
        long o = n * h;
        int real = row_mask == 0 || row_mask[n] != 0.0f;
        for (long k = 0; k < h; k++) {
            float g = fast_sigmoid(gg[o + k]);
            gg[o + k] = g;
            float t = fast_tanh(cn[o + k] + g * frr[k]);
            th[o + k] = t;
            float hn = so[k] * t;
            seq[o + k] = real ? hn : 0.0f;
            h_next[o + k] = real ? hn : h_prev[o + k];
            c_next[o + k] = real ? cn[o + k] : c_prev[o + k];
        }
    }
}

/* Backward, before the products: dh_new = (dh + dseq) m, dcn = dc m + dh_new p_th, d_fa = p_fa * (dh_new p_th)
 * for both halves ([d W_f r, d a]), with the local derivatives p_th = sig(o) (1 - th^2) and
 * p_fa = [gg, fr gg (1 - gg)] from the forward's act, th, gg and fr; dseq NULL = no gradient on the sequence. */
static void cell_backward_a(long n_rows, long h, const float *RESTRICT dh, const float *RESTRICT dseq,
                            long dseq_ns, const float *RESTRICT row_mask, const float *RESTRICT dc,
                            const float *RESTRICT act, const float *RESTRICT th, const float *RESTRICT gg,
                            const float *RESTRICT fr, long fr_ns, float *RESTRICT dh_new,
                            float *RESTRICT dcn, float *RESTRICT d_fa) {
    for (long n = 0; n < n_rows; n++) {
        float m = row_mask ? row_mask[n] : 1.0f;
        long o = n * h;
        const float *ds = dseq ? dseq + n * dseq_ns : 0;
        const float *so = act + n * 4 * h + 3 * h, *frr = fr + n * fr_ns;
        float *df = d_fa + 2 * o;
        for (long k = 0; k < h; k++) {
            float d = (ds ? dh[o + k] + ds[k] : dh[o + k]) * m;
            dh_new[o + k] = d;
            float t = th[o + k], g = gg[o + k];
            float d2 = d * so[k] * (1.0f - t * t);
            dcn[o + k] = dc[o + k] * m + d2;
            df[k] = g * d2;
            df[h + k] = frr[k] * g * (1.0f - g) * d2;
        }
    }
}

/* Backward, after dcn got its W_c product: dc_prev = dcn sig(f) (+ dc on a padded row), d_pre's gate
 * columns [d i, d f, d g] = p_cn * dcn and d o = dh_new p_o (d_pre row stride dpre_ns), with
 * p_cn = [tanh(g) sig(i)(1 - sig(i)), c_prev sig(f)(1 - sig(f)), sig(i)(1 - tanh(g)^2)], p_o = th sig(o)(1 - sig(o)). */
static void cell_backward_b(long n_rows, long h, const float *RESTRICT dcn, const float *RESTRICT dc,
                            const float *RESTRICT act, const float *RESTRICT row_mask, const float *RESTRICT c_prev,
                            const float *RESTRICT th, const float *RESTRICT dh_new, float *RESTRICT dc_prev,
                            float *RESTRICT d_pre, long dpre_ns) {
    for (long n = 0; n < n_rows; n++) {
        float m = row_mask ? row_mask[n] : 1.0f;
        long o = n * h;
        const float *si = act + n * 4 * h, *sf = si + h, *tg = si + 2 * h, *so = si + 3 * h;
        float *dp = d_pre + n * dpre_ns;
        for (long k = 0; k < h; k++) {
            float d = dcn[o + k], i = si[k], f = sf[k], g = tg[k], ou = so[k];
            dc_prev[o + k] = row_mask ? dc[o + k] * (1.0f - m) + d * f : d * f;
            dp[k] = g * i * (1.0f - i) * d;
            dp[h + k] = c_prev[o + k] * f * (1.0f - f) * d;
            dp[2 * h + k] = i * (1.0f - g * g) * d;
            dp[3 * h + k] = dh_new[o + k] * th[o + k] * ou * (1.0f - ou);
        }
    }
}

/* ---- the whole recurrence: every step's products (BLAS sgemm, the one torch links, passed in as a
 * pointer) and the calls above, in one loop here instead of ~10 Python-dispatched calls per step.
 * P = 4H + A columns of pre = [gates | q]; buffers are time-major [T, N, .] and contiguous. */

/* Integers go by pointer to 64-bit storage: an LP64 BLAS reads their low 4 bytes (x86-64 and arm64
 * are little-endian), an ILP64 one all 8, the same value either way. */
typedef void (*sgemm_t)(const char *, const char *, const long *, const long *, const long *, const float *,
                        const float *, const long *, const float *, const long *, const float *, float *,
                        const long *);

struct raymtl_recurrence {
    long n, t_len, h, a, m, j, groups;
    const long *bounds;                       /* groups + 1 row offsets: rows of task g are [bounds[g], bounds[g+1]) */
    const float *w_cat, *w_cat_t;             /* [U, H, P] and [U, P, H]: [W_hh^(k) | W_h] */
    const float *w_fr, *w_fr_t;               /* [M, 2H] and [2H, M]: [W_f | W_r] */
    const float *w_c, *w_c_t;                 /* [H, H]: W_c (out x in) and its transpose */
    const float *u, *keep;                    /* [A]; [N, J] 1 for a candidate */
    const float *src, *val;                   /* [N, J, .] (static) or [N, T, J, .] */
    const float *esrc;                        /* NULL or exp(2 src), static sources with |src| <= FACTORED_MAX */
    long src_ns, src_ts, val_ns, val_ts;      /* row and step strides (step stride 0: static) */
    const float *mask_rows;                   /* [T, N] 1 for a real position */
    float *pre, *act, *hs, *cs, *cn, *gg, *th, *r, *fa, *seq, *w, *z_all;  /* forward; z_all NULL: recompute */
    const float *d_seq;                       /* [N, T, H] or NULL */
    long d_seq_ns;
    float *dh, *dc, *dc2, *dh_nb, *dcn, *d_pre, *d_fa, *d_r, *du, *dsrc;
    float *scratch;                           /* J + 2A floats: the forward's e^{2q} row, the backward's rows */
    long dsrc_ns, dsrc_ts;
    sgemm_t sgemm;
};

/* C[m, n] = A[m, k] B[k, n] + beta C, row-major with leading dimensions lda, ldb, ldc (column-major
 * BLAS computes C^T = B^T A^T on the same memory) */
static void mm(sgemm_t sgemm, long m, long n, long k, const float *A, long lda, const float *B, long ldb,
               float beta, float *C, long ldc) {
    if (m == 0) return;
    const float one = 1.0f;
    sgemm("N", "N", &n, &m, &k, &one, B, &ldb, A, &lda, &beta, C, &ldc);
}

/* 1 if `sgemm` computes a small product right (checked once before the kernel trusts it) */
int raymtl_sgemm_check(sgemm_t sgemm) {
    const float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {7, 8, 9, 10, 11, 12};  /* [2, 3] @ [3, 2] */
    float c[4] = {1, 1, 1, 1};
    const float want[4] = {59, 65, 140, 155};  /* a @ b + c */
    mm(sgemm, 2, 2, 3, a, 3, b, 2, 1.0f, c, 2);
    for (int i = 0; i < 4; i++)
        if (c[i] != want[i]) return 0;
    return 1;
}

/* the step's row mask, or NULL where every row is real (no state carry-over to mask) */
static const float *row_mask_at(const struct raymtl_recurrence *s, long t) {
    const float *m = s->mask_rows + t * s->n;
    for (long i = 0; i < s->n; i++)
        if (m[i] == 0.0f) return m;
    return 0;
}

/* graph-mtl eq. 2-11 for every step; pre holds W_ih x_t + b | W_x x_t on entry */
void raymtl_recurrence_forward(const struct raymtl_recurrence *s) {
    const long n = s->n, h = s->h, p = 4 * h + s->a, m = s->m, nj = s->n * s->j;
    for (long t = 0; t < s->t_len; t++) {
        float *pre = s->pre + t * n * p, *act = s->act + t * n * 4 * h, *cn = s->cn + t * n * h;
        float *gg = s->gg + t * n * h, *fa = s->fa + t * n * 2 * h, *r = s->r + t * n * m;
        const float *h_prev = s->hs + t * n * h, *c_prev = s->cs + t * n * h, *rm = row_mask_at(s, t);
        for (long g = 0; g < s->groups; g++) {  /* [W_hh^(k) | W_h] h_{t-1} of each row's own task */
            long a = s->bounds[g], b = s->bounds[g + 1];
            mm(s->sgemm, b - a, p, h, h_prev + a * h, h, s->w_cat + g * h * p, p, 1.0f, pre + a * p, p);
        }
        gates_forward(n, h, pre, p, c_prev, act, cn);  /* graph-mtl eq. 2 (memory update) */
        attn_forward(n, s->j, s->a, m, s->src + t * s->src_ts, s->src_ns, pre + 4 * h, p, s->u,
                     s->val + t * s->val_ts, s->val_ns, s->keep, rm, s->esrc, s->w + t * nj, r,
                     s->z_all ? s->z_all + t * nj * s->a : 0, s->scratch);  /* graph-mtl eq. 3-8 */
        mm(s->sgemm, n, 2 * h, m, r, m, s->w_fr, 2 * h, 0.0f, fa, 2 * h);  /* [W_f r_t | W_r r_t] */
        for (long i = 0; i < n; i++)
            for (long k = 0; k < h; k++) gg[i * h + k] = fa[i * 2 * h + h + k];
        mm(s->sgemm, n, h, h, cn, h, s->w_c_t, h, 1.0f, gg, h);  /* + W_c c_t (eq. 11) */
        out_forward(n, h, gg, fa, 2 * h, cn, act, h_prev, c_prev, rm, s->th + t * n * h, s->seq + t * n * h,
                    s->hs + (t + 1) * n * h, s->cs + (t + 1) * n * h);  /* graph-mtl eq. 10-11 */
    }
}

/* back-propagation through time of the forward above; dh holds the last state's gradient on entry,
 * dc zeros, dsrc zeros where it accumulates (static sources) */
void raymtl_recurrence_backward(const struct raymtl_recurrence *s) {
    const long n = s->n, h = s->h, p = 4 * h + s->a, m = s->m, nj = s->n * s->j;
    const int accumulate = s->src_ts == 0;
    float *dc = s->dc, *dcp = s->dc2, *dh = s->dh;
    for (long t = s->t_len - 1; t >= 0; t--) {
        const float *rm = row_mask_at(s, t);
        float *d_fa = s->d_fa + t * n * 2 * h, *d_r = s->d_r + t * n * m, *d_pre = s->d_pre + t * n * p;
        const float *act = s->act + t * n * 4 * h, *th = s->th + t * n * h;
        cell_backward_a(n, h, dh, s->d_seq ? s->d_seq + t * h : 0, s->d_seq_ns, rm, dc, act, th, s->gg + t * n * h,
                        s->fa + t * n * 2 * h, 2 * h, s->dh_nb, s->dcn, d_fa);
        mm(s->sgemm, n, m, 2 * h, d_fa, 2 * h, s->w_fr_t, m, 0.0f, d_r, m);
        mm(s->sgemm, n, h, h, d_fa + h, 2 * h, s->w_c, h, 1.0f, s->dcn, h);
        cell_backward_b(n, h, s->dcn, dc, act, rm, s->cs + t * n * h, th, s->dh_nb, dcp, d_pre, p);
        attn_backward(n, s->j, s->a, m, s->src + t * s->src_ts, s->src_ns, s->pre + t * n * p + 4 * h, p, s->u,
                      s->val + t * s->val_ts, s->val_ns, s->w + t * nj, d_r,
                      s->z_all ? s->z_all + t * nj * s->a : 0, s->esrc, s->du, d_pre + 4 * h, p,
                      s->dsrc + t * s->dsrc_ts, s->dsrc_ns, accumulate, s->scratch);
        float beta = 0.0f;  /* dh_{t-1} = dh carried past padding + [W_hh^(k) | W_h]^T d_pre */
        if (rm) {
            for (long i = 0; i < n; i++)
                for (long k = 0; k < h; k++) dh[i * h + k] *= 1.0f - rm[i];
            beta = 1.0f;
        }
        for (long g = 0; g < s->groups; g++) {
            long a = s->bounds[g], b = s->bounds[g + 1];
            mm(s->sgemm, b - a, h, p, d_pre + a * p, p, s->w_cat_t + g * p * h, h, beta, dh + a * h, h);
        }
        float *tmp = dc; dc = dcp; dcp = tmp;
    }
}
