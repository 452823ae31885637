/* Adadelta's update (Zeiler 2012, as torch.optim.Adadelta computes it) in one pass over a parameter:
 * torch's eager update makes nine passes over the parameter, its gradient and two state tensors, which
 * for a fine-tuned embedding matrix costs more than the model's own step. Loaded by fused_adadelta.py.
 * rho1 = 1 - rho and neg_lr = -lr are computed by the caller, as torch passes them. */
#include <math.h>

void raymtl_adadelta(long n, float *__restrict__ p, const float *__restrict__ g, float *__restrict__ sq,
                     float *__restrict__ acc, float rho, float rho1, float eps, float neg_lr, float wd) {
    for (long i = 0; i < n; i++) {
        float gi = wd != 0.0f ? g[i] + wd * p[i] : g[i];
        float s = sq[i] * rho + rho1 * gi * gi;
        sq[i] = s;
        float d = sqrtf(acc[i] + eps) / sqrtf(s + eps) * gi;
        acc[i] = acc[i] * rho + rho1 * d * d;
        p[i] += neg_lr * d;
    }
}

/* The same update for the rows a row-sparse gradient touches (a fine-tuned embedding matrix, whose
 * batch touches ~1,600 of its 94,577 rows). A step with a zero gradient only decays both accumulators
 * by rho and leaves the parameter where it is (exact for weight decay 0), so a row's missed steps are
 * applied at once, as rho^k, when it is next touched. last[r]: the step row r's state is current at;
 * g: the coalesced gradient's values, one row of dim per entry of rows. */
void raymtl_adadelta_rows(long nnz, long dim, const long *__restrict__ rows, float *__restrict__ p,
                          const float *__restrict__ g, float *__restrict__ sq, float *__restrict__ acc,
                          long *__restrict__ last, long step, float rho, float rho1, float eps, float neg_lr) {
    for (long i = 0; i < nnz; i++) {
        long r = rows[i], k = step - 1 - last[r];
        float decay = k > 0 ? (float)pow((double)rho, (double)k) : 1.0f;
        float *pr = p + r * dim, *sr = sq + r * dim, *ar = acc + r * dim;
        const float *gr = g + i * dim;
        for (long j = 0; j < dim; j++) {
            float gi = gr[j];
            float s = sr[j] * decay * rho + rho1 * gi * gi;
            sr[j] = s;
            float a = ar[j] * decay;
            float d = sqrtf(a + eps) / sqrtf(s + eps) * gi;
            ar[j] = a * rho + rho1 * d * d;
            pr[j] += neg_lr * d;
        }
        last[r] = step;
    }
}
