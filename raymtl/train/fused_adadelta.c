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
