"""LSTM† (graph-mtl eq. 9–11) with its message attention (eq. 4–8) as one autograd node.

Autograd through a per-step Python loop costs ~60 graph nodes per time step, a checkpoint per step
and a fresh ``[N, J, A]`` tensor per op. Here the forward runs without autograd into preallocated
buffers and the backward is written out (back-propagation through time), so that

- a step is one ``addmm`` for ``[W_hh^(k) | W_h^(s)] h_{t-1}`` of each row's own task (rows grouped by
  task, not every row through every task's ``W_hh``), one for ``[W_f | W_r] r_t`` and one for ``W_c c_t``;
- the edge scores ``u tanh(q_t + W_s h_j)`` are recomputed in backward (O(N·J·A) memory, as with
  ``checkpoint_attention``), in place, with the ``u`` factor of ``dsrc`` applied once at the end;
- weight gradients are one matrix product over all steps, not one per step, and (eager path) the local
  derivative factors that do not depend on the incoming gradient are computed for all steps at once.

On CPU in float32 the whole time loop, forward and backward, is one call of the compiled kernel of
``_fused_recurrence`` (``fused``): each step's attention in a single pass over the candidates instead of
the eager ops' five, the gates in a few loops, the products on torch's BLAS, and no Python per step.
Elsewhere, or without a C compiler, the eager loops below run (the same numbers within float tolerance).
torch.compile of the step's attention was slower on CPU than the eager ops (and took a minute to
compile), so it is not used.

The message weights (α, β) it returns carry no gradient (they are read, never trained on).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from raymtl.models.architectures import _fused_recurrence as kernel


@dataclass
class Sources:
    """What a task node attends to at each step: ``J`` candidates per row.

    ``src`` ``[N, J, A]`` (the same at every step: SG-MTL's shared-LSTM positions) or ``[N, T, J, A]``
    (one set per step: CG-MTL's other task LSTMs at step t): the ``W_s h_j`` part of eq. 5;
    ``val`` the matching ``[N, J, M]`` / ``[N, T, J, M]`` messages ``h_j``; ``exclude [N, J]`` candidates
    that get weight 0 (padding, the row's own task); ``u [A]`` the scoring vector of eq. 5.
    """

    src: torch.Tensor
    val: torch.Tensor
    exclude: torch.Tensor
    u: torch.Tensor

    @property
    def static(self) -> bool:
        return self.src.dim() == 3


class _KernelState:
    """The C kernel's view of one recurrence: its sizes, strides and pointers (``kernel.Recurrence``) and
    the tensors they point into, kept alive with it from forward to backward."""

    def __init__(self, src, val, u, exclude, mask, bounds, w_cat, w_fr, w_c, buffers: dict):
        t_len, n, nh = buffers["cn"].shape
        static = src.dim() == 3
        self.keep = exclude.logical_not().to(src.dtype).contiguous()
        self.mask_rows = mask.t().to(src.dtype).contiguous()  # [T, N]: step t's row mask as one contiguous row
        self.bounds = torch.tensor([a for a, _ in bounds] + [bounds[-1][1]], dtype=torch.long)
        self.w = dict(w_cat=w_cat.contiguous(), w_fr=w_fr.contiguous(), w_c=w_c.contiguous(),
                      w_c_t=w_c.t().contiguous(), u=u.contiguous(), src=src, val=val)  # row-major operands
        self.buffers = buffers
        # static sources: e^{2 src} once, for the factored tanh of every step's scores (the C file's
        # factored_tanh); NULL where |src| exceeds its range or the scores' tanh is stored
        if static and buffers["z_all"] is None and src.numel() and float(src.abs().max()) <= kernel.FACTORED_MAX:
            self.w["esrc"] = torch.exp(2 * src)
        self.scratch = src.new_empty(src.shape[-2] + 2 * src.shape[-1])  # the forward's e^{2q} row
        self.s = kernel.Recurrence(n=n, t_len=t_len, h=nh, a=src.shape[-1], m=val.shape[-1], j=src.shape[-2],
                                   groups=len(bounds), src_ns=src.stride(0), src_ts=0 if static else src.stride(1),
                                   val_ns=val.stride(0), val_ts=0 if static else val.stride(1),
                                   sgemm=kernel.sgemm())
        self.s.set(bounds=self.bounds, keep=self.keep, mask_rows=self.mask_rows, scratch=self.scratch, **self.w,
                   **buffers)

    def backward(self, d_seq, d_last):
        """Run the kernel's backward; returns ``(d_pre, d_fa, d_r, du, dsrc)`` (``dsrc`` without the final ``u``
        factor when the sources are static: the same at every step, multiplied once by the caller)."""
        b, w = self.buffers, self.w
        t_len, n, nh = b["cn"].shape
        src = w["src"]
        new = b["act"].new_empty
        if d_seq is not None:
            d_seq = d_seq.contiguous()  # the kernel reads each step's [N, H] rows with one stride
        g = dict(
            d_seq=d_seq,
            dh=d_last.clone(memory_format=torch.contiguous_format) if d_last is not None else new(n, nh).zero_(),
            dc=new(n, nh).zero_(), dc2=new(n, nh), dh_nb=new(n, nh), dcn=new(n, nh),
            d_pre=new(b["pre"].shape), d_fa=new(b["fa"].shape), d_r=new(b["r"].shape), du=torch.zeros_like(w["u"]),
            dsrc=torch.zeros_like(src) if src.dim() == 3 else torch.empty_like(src),  # static: Σ_t ds_t (1 - Z_t²)
            scratch=new(src.shape[-2] + 2 * src.shape[-1]),
            w_cat_t=w["w_cat"].transpose(1, 2).contiguous(), w_fr_t=w["w_fr"].t().contiguous())
        self.s.set(**g)
        self.s.d_seq_ns = 0 if d_seq is None else d_seq.stride(0)
        self.s.dsrc_ns = g["dsrc"].stride(0)
        self.s.dsrc_ts = 0 if src.dim() == 3 else g["dsrc"].stride(1)
        kernel.backward(self.s)
        return g["d_pre"], g["d_fa"], g["d_r"], g["du"], g["dsrc"]


class _Recurrence(torch.autograd.Function):
    # Buffers are time-major ([T, N, ...]) so that every step reads and writes contiguous blocks.
    # Under CUDA autocast (train.mixed_precision) the recurrence runs in float32: its out= buffers
    # take the inputs' dtype.
    @staticmethod
    @torch.amp.custom_fwd(device_type="cuda", cast_inputs=torch.float32)
    def forward(ctx, xq, w_cat, w_fr, w_c, u, src, val, mask, exclude, bounds, hidden,  # type: ignore[override]
                recompute, fused):
        n, t_len, _ = xq.shape
        nh = hidden
        kern = fused and kernel.usable(xq, src, val, u)
        if kern:
            src, val = src.contiguous(), val.contiguous()  # the kernel reads [J, ·] blocks row by row
        save = any(ctx.needs_input_grad)
        new = xq.new_empty
        pre = new(t_len, n, w_cat.shape[-1])  # [W_hh x | W_h h] + [W_ih x + b | W_x x] per step
        hs, cs = xq.new_zeros(t_len + 1, n, nh), xq.new_zeros(t_len + 1, n, nh)  # states before step t at [t]
        buffers = dict(pre=pre, act=new(t_len, n, 4 * nh), hs=hs, cs=cs,  # act: σ(i), σ(f), tanh(g), σ(o)
                       cn=new(t_len, n, nh), gg=new(t_len, n, nh), th=new(t_len, n, nh),
                       r=new(t_len, n, val.shape[-1]), fa=new(t_len, n, 2 * nh), seq=new(t_len, n, nh),
                       w=new(t_len, n, src.shape[-2]),
                       z_all=new(t_len, n, *src.shape[-2:]) if save and not recompute else None)
        state = None
        if kern:  # every step in one compiled call
            pre.copy_(xq.transpose(0, 1))
            state = _KernelState(src, val, u, exclude, mask, bounds, w_cat, w_fr, w_c, buffers)
            kernel.forward(state.s)
        else:
            _eager_forward(xq, w_cat, w_fr, w_c, u, src, val, mask, exclude, bounds, **buffers)
        b = buffers
        out_w = b["w"].transpose(0, 1).contiguous()
        ctx.mark_non_differentiable(out_w)
        if save:
            ctx.save_for_backward(w_cat, w_fr, w_c, u, src, val, mask, pre, b["act"], hs, cs, b["cn"], b["gg"],
                                  b["th"], b["r"], b["fa"], b["w"])
            ctx.bounds, ctx.z_all, ctx.state = bounds, b["z_all"], state
        return b["seq"].transpose(0, 1).contiguous(), hs[t_len].clone(), out_w

    @staticmethod
    @torch.amp.custom_bwd(device_type="cuda")
    def backward(ctx, d_seq, d_last, _d_weights):  # type: ignore[override]
        (w_cat, w_fr, w_c, u, src, val, mask, pre, act, hs, cs, cn, gg, th, r, fa,
         weights) = ctx.saved_tensors
        bounds, state, nh, static = ctx.bounds, ctx.state, hs.shape[-1], src.dim() == 3
        # the kernel's backward runs with float32 denormals flushed (see kernel.flush_denormals: they cost
        # more than the rest of the step); its gradients feed the weight products below, flushed too
        with kernel.flush_denormals() if state is not None else contextlib.nullcontext():
            if state is not None:
                d_pre, d_fa, d_r, du, dsrc = state.backward(d_seq, d_last)
                d_src = dsrc * u if static else dsrc
            else:
                d_pre, d_fa, d_r, du, d_src = _eager_backward(d_seq, d_last, w_cat, w_fr, w_c, u, src, val, mask,
                                                              pre, act, cs, gg, th, fa, weights, ctx.z_all, bounds)
            hp = hs[:-1]  # weight gradients: one product over all steps
            d_w_cat = torch.stack([hp[:, a:b].reshape(-1, nh).t() @ d_pre[:, a:b].reshape(-1, d_pre.shape[-1])
                                   for a, b in bounds])
            d_w_fr = r.reshape(-1, r.shape[-1]).t() @ d_fa.reshape(-1, 2 * nh)
            d_w_c = d_fa[..., nh:].reshape(-1, nh).t() @ cn.reshape(-1, nh)
            if static:
                d_val = torch.einsum("tnj,tnm->njm", weights, d_r)  # Σ_t β_t^T dr_t
            else:
                d_val = (weights.unsqueeze(-1) * d_r.unsqueeze(2)).transpose(0, 1)
        return (d_pre.transpose(0, 1), d_w_cat, d_w_fr, d_w_c, du, d_src, d_val,
                None, None, None, None, None, None)


def _eager_forward(xq, w_cat, w_fr, w_c, u, src, val, mask, exclude, bounds, *, pre, act, hs, cs, cn, gg, th, r,
                   fa, seq, w, z_all) -> None:
    """The forward time loop in torch ops, filling the buffers (the kernel's fallback)."""
    n, t_len, _ = xq.shape
    nh, static = hs.shape[-1], src.dim() == 3
    buf = xq.new_empty(src.shape if static else src[:, 0].shape)
    s = xq.new_empty(n, src.shape[-2])
    neg = torch.finfo(xq.dtype).min  # not -inf: a row that excludes everything gets 0, not NaN
    keep = exclude.logical_not().to(xq.dtype)  # float masks: no dtype promotion in every step's product
    w_c_t, w_fr_c = w_c.t().contiguous(), w_fr.contiguous()  # row-major operands: faster small products
    mask_tm = mask.t().unsqueeze(-1)  # [T, N, 1]
    maskf_tm = mask_tm.to(xq.dtype)
    full = mask.all(0).tolist()  # steps where every row is real: no state carry-over to mask
    # per-step views made once (unbind) instead of by slicing inside the loop
    xq_t, hs_t, cs_t, pre_t = xq.unbind(1), hs.unbind(0), cs.unbind(0), pre.unbind(0)
    pre_gates, pre_g, pre_q = (pre[..., a:b].unbind(0) for a, b in ((0, 4 * nh), (2 * nh, 3 * nh),
                                                                      (4 * nh, None)))
    act_t, act_g = act.unbind(0), act[..., 2 * nh:3 * nh].unbind(0)
    si_t, sf_t, tg_t, so_t = (act[..., k * nh:(k + 1) * nh].unbind(0) for k in range(4))
    cn_t, gg_t, th_t, fa_t = cn.unbind(0), gg.unbind(0), th.unbind(0), fa.unbind(0)
    fr_t, fg_t, r_t = fa[..., :nh].unbind(0), fa[..., nh:].unbind(0), r.unsqueeze(2).unbind(0)
    seq_t, w_t, m_t, mf_t = seq.unbind(0), w.unbind(0), mask_tm.unbind(0), maskf_tm.unbind(0)
    src_t = None if static else src.unbind(1)
    val_t = None if static else val.unbind(1)
    flat_buf, flat_s = buf.view(-1, buf.shape[-1]), s.view(-1)
    for t in range(t_len):
        h_prev = hs_t[t]
        if len(bounds) == 1:  # [W_hh^(k) | W_h^(s)] h_{t-1} of each row's own task
            torch.addmm(xq_t[t], h_prev, w_cat[0], out=pre_t[t])
        else:
            for g, (a, b) in enumerate(bounds):
                torch.addmm(xq_t[t][a:b], h_prev[a:b], w_cat[g], out=pre_t[t][a:b])
        torch.sigmoid(pre_gates[t], out=act_t[t])
        torch.tanh(pre_g[t], out=act_g[t])
        torch.mul(sf_t[t], cs_t[t], out=cn_t[t]).addcmul_(si_t[t], tg_t[t])  # graph-mtl eq. 2 (memory update)
        torch.add(src if static else src_t[t], pre_q[t].unsqueeze(1), out=buf)
        buf.tanh_()
        if z_all is not None:
            z_all[t] = buf
        torch.mv(flat_buf, u, out=flat_s)  # graph-mtl eq. 4–5
        beta = torch.softmax(s.masked_fill_(exclude, neg), dim=-1)  # graph-mtl eq. 6 / 8
        if full[t]:
            torch.mul(beta, keep, out=w_t[t])
            beta = w_t[t]
        else:
            beta.mul_(keep)
            torch.mul(beta, mf_t[t], out=w_t[t])
        torch.bmm(beta.unsqueeze(1), val if static else val_t[t], out=r_t[t])  # graph-mtl eq. 3 / 8
        torch.mm(r[t], w_fr_c, out=fa_t[t])  # [W_f r_t | W_r r_t]
        torch.addmm(fg_t[t], cn_t[t], w_c_t, out=gg_t[t]).sigmoid_()  # graph-mtl eq. 11
        torch.addcmul(cn_t[t], gg_t[t], fr_t[t], out=th_t[t]).tanh_()
        if full[t]:
            torch.mul(so_t[t], th_t[t], out=hs_t[t + 1])  # graph-mtl eq. 10
            seq_t[t].copy_(hs_t[t + 1])
            cs_t[t + 1].copy_(cn_t[t])
        else:
            h_new = so_t[t] * th_t[t]  # graph-mtl eq. 10
            m = m_t[t]
            torch.mul(h_new, mf_t[t], out=seq_t[t])
            torch.where(m, h_new, h_prev, out=hs_t[t + 1])
            torch.where(m, cn_t[t], cs_t[t], out=cs_t[t + 1])


def _eager_backward(d_seq, d_last, w_cat, w_fr, w_c, u, src, val, mask, pre, act, cs, gg, th, fa, weights, z_all,
                    bounds):
    """The backward time loop in torch ops (the kernel's fallback): ``(d_pre, d_fa, d_r, du, d_src)``."""
    t_len, n = act.shape[:2]
    nh, static = act.shape[-1] // 4, src.dim() == 3
    # the factors of every step's local derivatives that do not depend on the incoming gradient,
    # computed for all steps at once (a few large ops instead of many small ones per step)
    si, sf, tg, so = act.chunk(4, dim=-1)
    fr = fa[..., :nh]
    p_cn = torch.cat([tg * si * (1 - si), cs[:-1] * sf * (1 - sf), si * (1 - tg * tg)], dim=-1)  # i, f, g
    p_o = th * so * (1 - so)
    p_th = so * (1 - th * th)
    p_fa = torch.cat([gg, fr * gg * (1 - gg)], dim=-1)
    maskf = mask.t().unsqueeze(-1).to(act.dtype)
    keepf = 1 - maskf
    d_seq_tm = d_seq.transpose(0, 1) if d_seq is not None else None
    dh = d_last.clone(memory_format=torch.contiguous_format) if d_last is not None else act.new_zeros(n, nh)
    dc = act.new_zeros(n, nh)
    d_pre = act.new_empty(pre.shape)
    d_fa = act.new_empty(t_len, n, 2 * nh)
    d_r = act.new_empty(t_len, n, val.shape[-1])
    du = torch.zeros_like(u)
    buf = act.new_empty(src.shape if static else src[:, 0].shape)
    if static:
        dsrc_sq = torch.zeros_like(src)  # Σ_t ds_t Z_t², so that dsrc = u ⊙ (Σ_t ds_t - Σ_t ds_t Z_t²)
        ds_sum = src.new_zeros(src.shape[:2])
        val_rows = val.transpose(1, 2).contiguous()  # [N, M, J]: dβ as [1, M] @ [M, J] (4x [J, M] @ [M, 1])
    else:
        dsrc = torch.empty_like(src)
    w_cat_t = w_cat.transpose(1, 2).contiguous()  # row-major operands: faster small per-step products
    w_fr_t = w_fr.t().contiguous()
    full = mask.all(0).tolist()
    # per-step views made once (unbind) instead of by slicing inside the loop
    m_t, keep_t, sf_t = maskf.unbind(0), keepf.unbind(0), sf.unbind(0)
    d_seq_t = d_seq_tm.unbind(0) if d_seq_tm is not None else None
    p_th_t, p_o_t, p_fa_t = p_th.unbind(0), p_o.unbind(0), p_fa.view(t_len, n, 2, nh).unbind(0)
    p_cn_t = p_cn.view(t_len, n, 3, nh).unbind(0)
    d_fa_t, d_fa2_t, d_a_t = d_fa.unbind(0), d_fa.view(t_len, n, 2, nh).unbind(0), d_fa[..., nh:].unbind(0)
    d_r_t, d_pre_t = d_r.unbind(0), d_pre.unbind(0)
    d_cn_t, d_o_t, d_q_t = (d_pre[..., :3 * nh].view(t_len, n, 3, nh).unbind(0),
                            d_pre[..., 3 * nh:4 * nh].unbind(0), d_pre[..., 4 * nh:].unbind(0))
    w_t, q_t = weights.unbind(0), pre[..., 4 * nh:].unbind(0)
    src_t = None if static else src.unbind(1)
    val_t = None if static else val.unbind(1)
    flat_buf = buf.view(-1, buf.shape[-1])
    for t in reversed(range(t_len)):
        if full[t]:  # every row real: no carry-over of dh, dc past this step
            dh_new = dh + d_seq_t[t] if d_seq_t is not None else dh
            dcn = dc
        else:
            m = m_t[t]
            dh_new = (dh + d_seq_t[t]) * m if d_seq_t is not None else dh * m
            dcn = dc * m
        d_pre2 = dh_new * p_th_t[t]
        dcn = dcn + d_pre2
        torch.mul(p_fa_t[t], d_pre2.unsqueeze(1), out=d_fa2_t[t])  # [d W_f r, d a]
        dr = torch.mm(d_fa_t[t], w_fr_t, out=d_r_t[t])
        dcn.addmm_(d_a_t[t], w_c)
        dcp = dcn * sf_t[t] if full[t] else torch.addcmul(dc * keep_t[t], dcn, sf_t[t])
        torch.mul(p_cn_t[t], dcn.unsqueeze(1), out=d_cn_t[t])
        torch.mul(dh_new, p_o_t[t], out=d_o_t[t])
        # message attention: ds = softmax'(dβ), then the scores' tanh recomputed in place
        beta = w_t[t]
        if static:
            d_beta = torch.bmm(dr.unsqueeze(1), val_rows).squeeze(1)
        else:
            d_beta = torch.bmm(val_t[t], dr.unsqueeze(-1)).squeeze(-1)
        ds = beta * (d_beta - (beta * d_beta).sum(-1, keepdim=True))
        if z_all is None:
            torch.add(src if static else src_t[t], q_t[t].unsqueeze(1), out=buf)
            buf.tanh_()
        else:
            buf.copy_(z_all[t])
        du.addmv_(flat_buf.t(), ds.view(-1))
        buf.mul_(buf)
        d_q = ds.sum(-1, keepdim=True) - torch.bmm(ds.unsqueeze(1), buf).squeeze(1)
        torch.mul(d_q, u, out=d_q_t[t])
        if static:
            dsrc_sq.addcmul_(buf, ds.unsqueeze(-1))
            ds_sum.add_(ds)
        else:
            dsrc[:, t] = (1 - buf) * ds.unsqueeze(-1) * u
        dg = d_pre_t[t]
        if len(bounds) == 1:
            dh = torch.mm(dg, w_cat_t[0]) if full[t] else torch.addmm(dh * keep_t[t], dg, w_cat_t[0])
        else:
            dhp = dh * keep_t[t]
            for g, (a, b) in enumerate(bounds):
                dhp[a:b].addmm_(dg[a:b], w_cat_t[g])
            dh = dhp
        dc = dcp
    d_src = (ds_sum.unsqueeze(-1) - dsrc_sq) * u if static else dsrc
    return d_pre, d_fa, d_r, du, d_src


def lstm_dagger(x_proj: torch.Tensor, w_hh: torch.Tensor, mask: torch.Tensor, fusion, w_h: torch.Tensor,
                qx: torch.Tensor, sources: Sources, which: torch.Tensor | None = None, *, recompute: bool = True,
                fused: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run LSTM† (graph-mtl eq. 9–11) over N rows of T steps with attention messages (eq. 4–8).

    ``x_proj [N, T, 4H]``: ``W_ih x_t + b`` of each row's own task LSTM; ``w_hh [U, 4H, H]`` the
    recurrent matrices of the U task LSTMs in use and ``which [N]`` each row's (default U = 1);
    ``mask [N, T]``; ``fusion``: the :class:`FusionGate`; ``w_h [A, H]`` and ``qx [N, T, A]``: the
    ``W_h h_{t-1}`` and ``W_x x_t`` parts of eq. 5; ``sources``: see :class:`Sources`.
    Returns hidden states ``[N, T, H]`` (0 at padding), the last real state ``[N, H]`` and the
    message weights ``[N, T, J]`` (0 at padding and on excluded candidates). ``recompute``: recompute the
    edge scores' ``tanh`` in backward (memory O(N·J·A)) instead of storing every step's (O(N·T·J·A)).
    ``fused``: the loop by the compiled kernel where it applies (see ``_fused_recurrence``).
    """
    n = x_proj.shape[0]
    hidden = w_hh.shape[-1]
    if which is None or w_hh.shape[0] == 1:
        order, bounds = None, [(0, n)]
    else:  # group the rows by task so that each group is one matmul with its own W_hh
        which_sorted, order = torch.sort(which, stable=True)
        counts = torch.bincount(which_sorted, minlength=w_hh.shape[0]).tolist()
        starts = [sum(counts[:g]) for g in range(len(counts))]
        bounds = [(a, a + k) for a, k in zip(starts, counts)]
        x_proj, qx, mask = x_proj[order], qx[order], mask[order]
        sources = Sources(sources.src[order], sources.val[order], sources.exclude[order], sources.u)
    xq = torch.cat([x_proj, qx], dim=-1)
    w_cat = torch.cat([w_hh.transpose(1, 2), w_h.t().expand(w_hh.shape[0], -1, -1)], dim=-1)  # [U, H, 4H+A]
    w_fr = torch.cat([fusion.W_f.weight, fusion.W_r.weight], dim=0).t()  # [M, 2H]
    seq, last, weights = _Recurrence.apply(xq, w_cat, w_fr, fusion.W_c.weight, sources.u, sources.src,
                                           sources.val, mask, sources.exclude, bounds, hidden, recompute, fused)
    if order is not None:
        inv = torch.empty_like(order)
        inv[order] = torch.arange(n, device=order.device)
        seq, last, weights = seq[inv], last[inv], weights[inv]
    return seq, last, weights
