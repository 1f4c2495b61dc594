"""From a batch and per-token losses to what the service and HF models want (numpy only).

Both helpers accept numpy arrays or torch tensors (anything with ``.detach().cpu().numpy()``).
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

import numpy as np

IGNORE_INDEX = -100


def _np(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # torch.Tensor, without importing torch
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def labels_from_targets(targets: Any) -> np.ndarray:
    """HF causal-LM ``labels`` from mixload's shifted ``targets``.

    mixload's ``targets[b, t]`` is the token position t must predict (``input_ids[b, t+1]``
    inside a document segment, else -100). HF models take *unshifted* labels and shift
    inside the loss (``logits[:, :-1]`` against ``labels[:, 1:]``), so
    ``labels[b, t+1] = targets[b, t]`` and ``labels[b, 0] = -100``. The first token of every
    document and every padding token come out -100 because the target one position before
    them is -100; the two losses are then the same sum over the same positions.
    """
    t = _np(targets)
    if t.ndim != 2:
        raise ValueError(f"targets must be [B, L], got shape {t.shape}")
    labels = np.full(t.shape, IGNORE_INDEX, dtype=np.int64)
    labels[:, 1:] = t[:, :-1]
    return labels


def feedback_from_losses(per_token_loss: Any, targets: Any, domain_ids: Any, domain_names: Sequence[str],
                         ref_loss: Any = None) -> Dict[str, Dict[str, float]]:
    """The ``domains`` map of a ``feedback`` request: ``{name: {loss_sum, tokens}}``.

    Sums run over the positions whose target is not -100, grouped by that position's
    ``domain_ids`` (the document a target belongs to is the document of the token before
    it). ``per_token_loss`` is the unreduced loss, e.g. ``cross_entropy(..., reduction="none")``
    shaped like ``targets``; values at ignored positions are not read. With ``ref_loss``
    (a frozen reference model's per-token loss on the same batch) each entry also carries
    ``ref_loss_sum`` = Σ ref and ``excess_loss_sum`` = Σ max(loss − ref, 0), the per-token
    clipped excess DoReMi needs. Domains without target tokens in the batch are omitted.
    """
    loss = _np(per_token_loss).astype(np.float64)
    tgt = _np(targets)
    dom = _np(domain_ids).astype(np.int64)
    if not (loss.shape == tgt.shape == dom.shape):
        raise ValueError(f"shapes differ: loss {loss.shape}, targets {tgt.shape}, domain_ids {dom.shape}")
    mask = tgt != IGNORE_INDEX
    d = dom[mask]
    K = len(domain_names)
    if d.size and (d.min() < 0 or d.max() >= K):
        raise ValueError(f"domain_ids at target positions must lie in [0, {K}), got [{d.min()}, {d.max()}]")
    l = loss[mask]
    if not np.all(np.isfinite(l)):
        raise ValueError("per_token_loss is not finite at some target position")
    tokens = np.bincount(d, minlength=K)
    loss_sum = np.bincount(d, weights=l, minlength=K)
    ref_sum = excess_sum = None
    if ref_loss is not None:
        r = _np(ref_loss).astype(np.float64)
        if r.shape != tgt.shape:
            raise ValueError(f"ref_loss shape {r.shape} differs from targets {tgt.shape}")
        r = r[mask]
        ref_sum = np.bincount(d, weights=r, minlength=K)
        excess_sum = np.bincount(d, weights=np.maximum(l - r, 0.0), minlength=K)
    out: Dict[str, Dict[str, float]] = {}
    for i, name in enumerate(domain_names):
        if tokens[i] == 0:
            continue
        entry: Dict[str, float] = {"loss_sum": float(loss_sum[i]), "tokens": int(tokens[i])}
        if ref_sum is not None and excess_sum is not None:
            entry["ref_loss_sum"] = float(ref_sum[i])
            entry["excess_loss_sum"] = float(excess_sum[i])
        out[name] = entry
    return out


# Signals summed over ranks, and those averaged over the ranks that reported them (as the service
# aggregates per-rank feedback: docs/PROTOCOL.md, "Aggregation over the world ranks").
_SUMMED = ("loss_sum", "tokens", "ref_loss_sum", "excess_loss_sum")
_AVERAGED = ("grad_alignment", "eval_loss")


def reduce_feedback(domains: Dict[str, Dict[str, float]], domain_names: Sequence[str], group: Any = None) -> Dict[str, Dict[str, float]]:
    """All-reduce this rank's per-domain feedback over ``torch.distributed`` (every rank calls it,
    collectively), giving what the service would aggregate from one feedback per rank: sums
    summed, ``grad_alignment`` and ``eval_loss`` averaged over the ranks that reported them.
    Then one rank sends it with ``client.feedback(step, reduced, all_ranks=True)``.

    One all-reduce of a float64 tensor [domains, 2 + 2·len(averaged) + len(summed)], the same on every rank
    whatever domains each rank saw, so it can ride along with the trainer's own logging reduce."""
    import torch
    import torch.distributed as dist

    k = len(domain_names)
    fields = len(_SUMMED) + 2 * len(_AVERAGED) + 1  # + 1: "this rank has the domain"
    t = torch.zeros((k, fields), dtype=torch.float64)
    for i, name in enumerate(domain_names):
        d = domains.get(name)
        if d is None:
            continue
        t[i, -1] = 1.0
        for j, f in enumerate(_SUMMED):
            t[i, j] = float(d.get(f, 0.0))
        for j, f in enumerate(_AVERAGED):
            if f in d:
                t[i, len(_SUMMED) + 2 * j] = float(d[f])
                t[i, len(_SUMMED) + 2 * j + 1] = 1.0
    # Which summed optional signals any rank sent: a separate flag per field, so an absent signal stays absent.
    present = torch.zeros((k, len(_SUMMED)), dtype=torch.float64)
    for i, name in enumerate(domain_names):
        d = domains.get(name) or {}
        for j, f in enumerate(_SUMMED):
            if f in d:
                present[i, j] = 1.0
    both = torch.cat([t, present], dim=1)
    dist.all_reduce(both, op=dist.ReduceOp.SUM, group=group)
    t, present = both[:, :fields], both[:, fields:]
    out: Dict[str, Dict[str, float]] = {}
    for i, name in enumerate(domain_names):
        if t[i, -1].item() == 0:
            continue
        e: Dict[str, float] = {"loss_sum": t[i, 0].item(), "tokens": int(round(t[i, 1].item()))}
        for j, f in enumerate(_SUMMED[2:], start=2):
            if present[i, j].item() > 0:
                e[f] = t[i, j].item()
        for j, f in enumerate(_AVERAGED):
            n = t[i, len(_SUMMED) + 2 * j + 1].item()
            if n > 0:
                e[f] = t[i, len(_SUMMED) + 2 * j].item() / n
        out[name] = e
    return out
