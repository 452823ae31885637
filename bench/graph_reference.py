"""The graph-mtl LSTM† recurrence as it was before issue 20 (autograd through a per-step Python loop).

Kept for ``bench/train_overhead.py`` only, to time the old implementation against the new one in the
same run on the same model and batches: :func:`use_reference` makes a built ``cg_mtl``/``sg_mtl``
model run this code path (same parameters, same outputs within float tolerance), and
:func:`reference_optimizer` is the optimizer of that time (torch's Adadelta, not the fused one).
"""

from __future__ import annotations

import types

import torch
from torch.utils.checkpoint import checkpoint


def lstm_dagger_old(x_proj, w_hh, mask, fusion, message, which=None):
    n, t_len, _ = x_proj.shape
    hidden = w_hh.shape[-1]
    w_t = w_hh.transpose(1, 2)  # [U, H, 4H]
    rows = torch.arange(n, device=x_proj.device)
    h = x_proj.new_zeros(n, hidden)
    c = x_proj.new_zeros(n, hidden)
    outs, weights = [], []
    steps = x_proj.unbind(1)
    for t in range(t_len):
        if w_t.shape[0] == 1:
            rec = h @ w_t[0]
        else:  # every row through every task's W_hh (plain matmuls), then each row's own
            rec = torch.matmul(h.unsqueeze(0), w_t)[which, rows]
        gates = steps[t] + rec
        i, f, g, o = gates.chunk(4, dim=-1)
        c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        r, w = message(t, h)
        h_new, _ = fusion(torch.sigmoid(o), c_new, r)
        m = mask[:, t].unsqueeze(-1)
        h = torch.where(m, h_new, h)
        c = torch.where(m, c_new, c)
        outs.append(h_new * m)
        weights.append(w * m.view(n, *([1] * (w.dim() - 1))))
    return torch.stack(outs, 1), h, torch.stack(weights, 1)


def sg_messages_old(model, x, batch, rows, qx):
    hs = model.shared(x)[0][rows.example]
    src = model.scorer.project_source(hs)
    pad = ~batch.mask[rows.example]
    scorer = model.scorer

    def scores(q, src_):
        return scorer.u(torch.tanh(q.unsqueeze(1) + src_)).squeeze(-1)

    use_ckpt = model.cfg.checkpoint_attention and torch.is_grad_enabled()
    qx_t = qx.unbind(1)

    def message(t, h_prev):
        q = qx_t[t] + scorer.W_h(h_prev)
        s = checkpoint(scores, q, src, use_reentrant=False) if use_ckpt else scores(q, src)
        beta = torch.softmax(s.masked_fill(pad, float("-inf")), dim=-1)
        return torch.bmm(beta.unsqueeze(1), hs).squeeze(1), beta

    return message, "beta"


def cg_messages_old(model, x, batch, rows, qx):
    k_all = len(model.nodes)
    n = qx.shape[0]
    if k_all == 1:
        zero_r, zero_a = qx.new_zeros(n, model.cfg.hidden), qx.new_zeros(n, 1)
        return (lambda t, h_prev: (zero_r, zero_a)), "alpha"
    hs = model.nodes.plain(x)[:, rows.example]
    src = model.scorer.project_source(hs)
    own = torch.nn.functional.one_hot(rows.task, k_all).T.bool()
    qx_t, src_t, hs_t = qx.unbind(1), src.unbind(2), hs.unbind(2)

    def message(t, h_prev):
        q = qx_t[t] + model.scorer.W_h(h_prev)
        s = model.scorer.u(torch.tanh(q.unsqueeze(0) + src_t[t])).squeeze(-1)
        alpha = torch.softmax(s.masked_fill(own, float("-inf")), dim=0)
        return (alpha.unsqueeze(-1) * hs_t[t]).sum(0), alpha.T

    return message, "alpha"


def encode_rows_old(model, batch, rows, ctx):
    from raymtl.models.architectures._graph_common import dropout_seq

    x = dropout_seq(model.embedder.embed(batch), model.cfg.dropout, model.training)
    which, local = torch.unique(rows.task, return_inverse=True)
    ms = [model.nodes.lstms[i] for i in which.tolist()]
    w_ih = torch.stack([m.weight_ih_l0 for m in ms])
    w_hh = torch.stack([m.weight_hh_l0 for m in ms])
    b = torch.stack([m.bias_ih_l0 + m.bias_hh_l0 for m in ms])
    xr = x[rows.example]
    x_proj = torch.einsum("ntd,ngd->ntg", xr, w_ih[local]) + b[local].unsqueeze(1)
    qx = model.scorer.W_x(xr)
    messages = sg_messages_old if model.name == "sg_mtl" else cg_messages_old
    message, key = messages(model, x, batch, rows, qx)
    seq, last, weights = lstm_dagger_old(x_proj, w_hh, batch.mask[rows.example], model.fusion, message, which=local)
    p = model.cfg.dropout
    return dropout_seq(seq, p, model.training), dropout_seq(last, p, model.training), {key: weights}


def reference_optimizer(cfg, params):
    """The optimizer as it was before issue 20: torch's Adadelta (not the fused one), else the same."""
    from raymtl.train.build import build_optimizer

    if cfg.optim.name == "adadelta":
        return torch.optim.Adadelta([p for p in params if p.requires_grad], lr=cfg.optim.lr,
                                    weight_decay=cfg.optim.weight_decay)
    return build_optimizer(cfg, params)


def use_reference(model):
    """Make ``model`` (cg_mtl or sg_mtl) encode its rows with the pre-issue-20 code; returns it."""
    if model.name not in ("sg_mtl", "cg_mtl"):
        raise ValueError(f"no reference implementation for {model.name!r}")
    model.encode_rows = types.MethodType(encode_rows_old, model)
    return model
