/* graph-mtl's message attention (eq. 4-8) for one LSTM-dagger step, fused: one pass over the
 * candidates instead of the eager path's add, tanh, score, softmax and weighted-sum passes (each of
 * which writes or reads an [N, J, A] block that does not fit the cache). Loaded by
 * _fused_attention.py with ctypes; float32, row-major, the last dimension contiguous.
 *
 * Names: N rows, J candidates per row, A attention size, M message size.
 * src [N, J, A] (row stride src_ns): W_s h_j;  q [N, A] (row stride q_ns): W_x x_t + W_h h_{t-1};
 * u [A];  val [N, J, M] (row stride val_ns): h_j;  keep [N, J]: 1 for a candidate, 0 for excluded.
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

/* Forward: s_j = u . tanh(src_j + q) (eq. 4-5), beta = softmax over kept j (eq. 6 / 8; all excluded: 0),
 * r = sum_j beta_j val_j (eq. 3 / 8), w = beta * row_mask[n] (row_mask NULL: 1).
 * z_out (NULL or [N, J, A]) keeps tanh(src_j + q) for a backward without recomputation. */
void raymtl_attn_forward(long n_rows, long n_cand, long a_dim, long m_dim,
                         const float *RESTRICT src, long src_ns, const float *RESTRICT q, long q_ns,
                         const float *RESTRICT u, const float *RESTRICT val, long val_ns,
                         const float *RESTRICT keep, const float *RESTRICT row_mask,
                         float *RESTRICT w, float *RESTRICT r, float *RESTRICT z_out) {
    for (long n = 0; n < n_rows; n++) {
        const float *qn = q + n * q_ns, *kn = keep + n * n_cand;
        float *wn = w + n * n_cand, *rn = r + n * m_dim;
        float best = -INFINITY;
        int any = 0;
        for (long j = 0; j < n_cand; j++) {
            if (kn[j] == 0.0f) { wn[j] = 0.0f; continue; }
            const float *sj = src + n * src_ns + j * a_dim;
            float acc = 0.0f;
            if (z_out) {
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
 * scratch: J + A floats. z_in: NULL (recompute tanh) or the forward's z_out. */
void raymtl_attn_backward(long n_rows, long n_cand, long a_dim, long m_dim,
                          const float *RESTRICT src, long src_ns, const float *RESTRICT q, long q_ns,
                          const float *RESTRICT u, const float *RESTRICT val, long val_ns,
                          const float *RESTRICT w, const float *RESTRICT dr, const float *RESTRICT z_in,
                          float *RESTRICT du, float *RESTRICT dq, long dq_ns,
                          float *RESTRICT dsrc, long dsrc_ns, int accumulate, float *RESTRICT scratch) {
    float *RESTRICT ds = scratch, *RESTRICT zbuf = scratch + n_cand;
    for (long n = 0; n < n_rows; n++) {
        const float *wn = w + n * n_cand, *drn = dr + n * m_dim, *qn = q + n * q_ns;
        float *dqn = dq + n * dq_ns;
        float dot = 0.0f;
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
void raymtl_gates_forward(long n_rows, long h, const float *RESTRICT pre, long pre_ns, const float *RESTRICT c,
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
void raymtl_out_forward(long n_rows, long h, float *RESTRICT gg, const float *RESTRICT fr, long fr_ns,
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
 * for both halves ([d W_f r, d a]); dseq NULL = no gradient on the sequence output. */
void raymtl_cell_backward_a(long n_rows, long h, const float *RESTRICT dh, const float *RESTRICT dseq,
                            long dseq_ns, const float *RESTRICT row_mask, const float *RESTRICT dc,
                            const float *RESTRICT p_th, const float *RESTRICT p_fa, float *RESTRICT dh_new,
                            float *RESTRICT dcn, float *RESTRICT d_fa) {
    for (long n = 0; n < n_rows; n++) {
        float m = row_mask ? row_mask[n] : 1.0f;
        long o = n * h;
        const float *ds = dseq ? dseq + n * dseq_ns : 0;
        const float *pf = p_fa + 2 * o;
        float *df = d_fa + 2 * o;
        for (long k = 0; k < h; k++) {
            float d = (ds ? dh[o + k] + ds[k] : dh[o + k]) * m;
            dh_new[o + k] = d;
            float d2 = d * p_th[o + k];
            dcn[o + k] = dc[o + k] * m + d2;
            df[k] = pf[k] * d2;
            df[h + k] = pf[h + k] * d2;
        }
    }
}

/* Backward, after dcn got its W_c product: dc_prev = dcn sig(f) (+ dc on a padded row), d_pre's gate
 * columns [d i, d f, d g] = p_cn * dcn and d o = dh_new p_o (d_pre row stride dpre_ns). */
void raymtl_cell_backward_b(long n_rows, long h, const float *RESTRICT dcn, const float *RESTRICT dc,
                            const float *RESTRICT act, const float *RESTRICT row_mask, const float *RESTRICT p_cn,
                            const float *RESTRICT dh_new, const float *RESTRICT p_o, float *RESTRICT dc_prev,
                            float *RESTRICT d_pre, long dpre_ns) {
    for (long n = 0; n < n_rows; n++) {
        float m = row_mask ? row_mask[n] : 1.0f;
        long o = n * h;
        const float *sf = act + n * 4 * h + h, *pc = p_cn + 3 * o;
        float *dp = d_pre + n * dpre_ns;
        for (long k = 0; k < h; k++) {
            float d = dcn[o + k];
            dc_prev[o + k] = row_mask ? dc[o + k] * (1.0f - m) + d * sf[k] : d * sf[k];
            dp[k] = pc[k] * d;
            dp[h + k] = pc[h + k] * d;
            dp[2 * h + k] = pc[2 * h + k] * d;
            dp[3 * h + k] = dh_new[o + k] * p_o[o + k];
        }
    }
}
