#!/usr/bin/python3
"""Train a tiny GPT on CPU from a running `mixload serve`, with DoReMi steering the mix live.

    node --single-threaded-gc dist/src/cli/main.js serve --config examples/configs/brown-small.json &
    /usr/bin/python3 examples/python/train_gpt.py --ref-steps 200 --steps 200

DoReMi (Xie et al. 2023) needs a frozen reference model; to stay one command, this script
trains it first, on the same service:

1. Reference phase (``--ref-steps``): a fresh GPT trains on the service's batches while the
   mix stays at its starting point (uniform for `doremi`). Its feedback carries
   ``excess_loss_sum = 0`` for every domain, and DoReMi's update with zero excess leaves the
   weights where they are (for a domain that has been seen: DoReMi scores a domain never seen
   at log |V| when the config sets `vocab_size`, so the mix holds only once every domain has
   appeared, which in brown-small happens in step 0). ``--ref-ckpt FILE`` saves the reference there, or, when FILE
   exists, loads it and skips this phase.
2. Proxy phase (``--steps``): a second fresh GPT trains; every step it sends, per domain, the
   proxy's loss sum and Σ max(ℓ_proxy − ℓ_ref, 0) over that domain's target tokens with the
   frozen reference's per-token losses on the same batch. The service folds the feedback of
   step s into the weights batch s + feedback_lag is drawn with.

Document-aware attention: each token attends only to earlier tokens of its own document
(block-diagonal causal mask from ``position_ids``, which restart at 0 on every document and
padding run), and positions are per-document, so packing changes nothing the model sees.
The loss is ``cross_entropy(logits, targets, ignore_index=-100)``: mixload's targets are
already shifted and are -100 at document ends and padding.

Prints the loss every ``--log-every`` steps and a per-domain table at the end; the last line
is ``RESULT {json}`` for scripts.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from mixload_client import BatchPrefetcher, MixloadClient, feedback_from_losses, to_hf  # noqa: E402


# ---- model -------------------------------------------------------------------------------

class Block(nn.Module):
    def __init__(self, d: int, heads: int):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.proj = nn.Linear(d, d, bias=False)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d, bias=False), nn.GELU(), nn.Linear(4 * d, d, bias=False))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        B, L, D = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(B, L, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        att = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(D // self.heads))
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)  # every row keeps its own token: no NaN
        x = x + self.proj((att @ v).transpose(1, 2).reshape(B, L, D))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(self, vocab: int, seq_len: int, d: int, layers: int, heads: int):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(seq_len, d)
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)
        self.head.weight = self.tok.weight  # tied
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)

    def forward(self, input_ids: torch.Tensor, position_ids: torch.Tensor) -> torch.Tensor:
        x = self.tok(input_ids) + self.pos(position_ids)
        mask = document_causal_mask(position_ids)
        for b in self.blocks:
            x = b(x, mask)
        return self.head(self.ln(x))


def document_causal_mask(position_ids: torch.Tensor) -> torch.Tensor:
    """[B, 1, L, L] bool: i may attend to j iff j <= i and both lie in the same segment
    (a segment starts wherever position_ids is 0: each document and each padding run)."""
    seg = (position_ids == 0).cumsum(-1)
    L = position_ids.shape[-1]
    causal = torch.ones(L, L, dtype=torch.bool).tril()
    return ((seg[:, :, None] == seg[:, None, :]) & causal)[:, None]


def per_token_loss(model: nn.Module, item: dict) -> torch.Tensor:
    logits = model(item["input_ids"], item["position_ids"])
    V = logits.shape[-1]
    return F.cross_entropy(logits.view(-1, V), item["targets"].view(-1), ignore_index=-100, reduction="none").view(item["targets"].shape)


# ---- training ----------------------------------------------------------------------------

def lr_at(i: int, total: int, base: float, warmup: int) -> float:
    if i < warmup:
        return base * (i + 1) / warmup
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, (i - warmup) / max(1, total - warmup)))))


def train_phase(name, client, model, first_step, steps, args, domains, ref=None, on_step=None):
    """Train ``model`` on steps first_step.. of the service; returns per-step mean losses."""
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.1)
    losses = []
    t0 = time.time()
    # The next step's batch is fetched in the background while this one trains (feedback_lag 2
    # allows exactly one step ahead), so the model never waits on the loader.
    batches = BatchPrefetcher(client, start=first_step, end=first_step + steps, depth=1)
    for i in range(steps):
        step = first_step + i
        raw = batches.next()
        item = to_hf(raw)
        lr = lr_at(i, steps, args.lr, args.warmup)
        for g in opt.param_groups:
            g["lr"] = lr
        model.train()
        tok_loss = per_token_loss(model, item)
        mask = item["targets"] != -100
        loss = tok_loss[mask].mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

        tl = tok_loss.detach()
        if ref is not None:
            with torch.no_grad():
                ref_loss = per_token_loss(ref, item)
            fb = feedback_from_losses(tl, item["targets"], item["domain_ids"], domains, ref_loss=ref_loss)
        else:
            # Reference phase: no reference yet, so no excess; DoReMi keeps the weights as they are.
            fb = feedback_from_losses(tl, item["targets"], item["domain_ids"], domains)
            for e in fb.values():
                e["excess_loss_sum"] = 0.0
        client.feedback(step, fb, lr=lr)
        losses.append(loss.item())
        if on_step is not None:
            on_step(step, raw, fb)
        if (i + 1) % args.log_every == 0 or i == 0 or i + 1 == steps:
            w = raw["weights"]
            top = sorted(w, key=w.get, reverse=True)[:3]
            print(f"[{name}] step {step:4d}  loss {loss.item():.3f}  lr {lr:.2e}  "
                  f"{(time.time() - t0) / (i + 1):.2f} s/step  top weights: " + ", ".join(f"{d} {w[d]:.3f}" for d in top), flush=True)
    batches.close()
    return losses


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--endpoint", default="tcp://127.0.0.1:5555")
    p.add_argument("--rank", type=int, default=0)
    p.add_argument("--world", type=int, default=1)
    p.add_argument("--steps", type=int, default=200, help="proxy training steps (DoReMi live)")
    p.add_argument("--ref-steps", type=int, default=200, help="reference training steps on the starting mix (as many as the proxy gets, so the reference is not weaker than the proxy)")
    p.add_argument("--ref-ckpt", default=None, help="load the reference from this file if it exists, else save it there")
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--timeout-ms", type=int, default=30_000)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    t_start = time.time()

    client = MixloadClient(args.endpoint, rank=args.rank, world=args.world, timeout_ms=args.timeout_ms)
    info = client.hello()
    domains = list(info["domains"])
    V, L = int(info["vocab_size"]), int(info["seq_len"])
    print(f"connected to {args.endpoint}: run {info['run_id']}, {len(domains)} domains, vocab {V}, "
          f"seq_len {L}, batch {info['batch_size']} x world {info['world']}, feedback_lag {info['feedback_lag']}, "
          f"next_step {info['next_step']}", flush=True)

    def new_model(seed: int) -> GPT:
        torch.manual_seed(seed)
        return GPT(V, L, args.d_model, args.layers, args.heads)

    step = int(info["next_step"])
    ref = new_model(args.seed + 1)
    print(f"model: {sum(p.numel() for p in ref.parameters()) / 1e6:.2f} M parameters "
          f"({args.layers} layers, d {args.d_model}, {args.heads} heads)", flush=True)
    ref_losses = []
    if args.ref_ckpt and os.path.exists(args.ref_ckpt):
        ref.load_state_dict(torch.load(args.ref_ckpt))
        print(f"reference loaded from {args.ref_ckpt}", flush=True)
    elif args.ref_steps > 0:
        ref_losses = train_phase("ref", client, ref, step, args.ref_steps, args, domains)
        step += args.ref_steps
        if args.ref_ckpt:
            torch.save(ref.state_dict(), args.ref_ckpt)
    ref.eval()
    for prm in ref.parameters():
        prm.requires_grad_(False)

    # Per-domain bookkeeping over the proxy phase: weights served, and losses over the last quarter.
    K = len(domains)
    weights_seen = []
    tail_from = step + args.steps - max(1, args.steps // 4)
    sums = {d: np.zeros(4) for d in domains}  # loss_sum, ref_loss_sum, excess_loss_sum, tokens

    def on_step(s, raw, fb):
        weights_seen.append([raw["weights"][d] for d in domains])
        if s >= tail_from:
            for d, e in fb.items():
                sums[d] += (e["loss_sum"], e["ref_loss_sum"], e["excess_loss_sum"], e["tokens"])

    proxy = new_model(args.seed + 2)
    losses = train_phase("proxy", client, proxy, step, args.steps, args, domains, ref=ref, on_step=on_step)
    stats = client.stats()
    client.close()

    W = np.array(weights_seen) if weights_seen else np.full((1, K), 1.0 / K)
    start, end, avg = W[0], np.array([stats["weights"][d] for d in domains]), W.mean(0)
    achieved = stats.get("achieved", {})
    print(f"\nper-domain (proxy phase, {args.steps} steps; losses: mean per token over the last {max(1, args.steps // 4)} steps)")
    print(f"{'domain':<16} {'start w':>8} {'end w':>8} {'avg w':>8} {'achieved':>8} {'loss':>7} {'ref':>7} {'excess':>7}")
    rows = []
    for i, d in enumerate(domains):
        ls, rs, xs, n = sums[d]
        loss_d = ls / n if n else float("nan")
        ref_d = rs / n if n else float("nan")
        exc_d = xs / n if n else float("nan")  # per-token clipped, what DoReMi sees
        rows.append({"domain": d, "start": float(start[i]), "end": float(end[i]), "avg": float(avg[i]),
                     "achieved": achieved.get(d), "loss": loss_d if n else None, "ref_loss": ref_d if n else None,
                     "excess": exc_d if n else None})
        print(f"{d:<16} {start[i]:8.4f} {end[i]:8.4f} {avg[i]:8.4f} {achieved.get(d, float('nan')):8.4f} "
              f"{loss_d:7.3f} {ref_d:7.3f} {exc_d:7.3f}")

    def window(xs, n=10):
        return float(np.mean(xs[:n])) if xs else None, float(np.mean(xs[-n:])) if xs else None

    first, last = window(losses)
    rf, rl = window(ref_losses)
    wall = time.time() - t_start
    print(f"\nproxy loss {first:.3f} -> {last:.3f} (mean of first/last 10 steps); "
          + (f"reference {rf:.3f} -> {rl:.3f}; " if ref_losses else "")
          + f"weights L1 distance start->end {np.abs(end - start).sum():.4f}; wall {wall:.1f} s", flush=True)
    print("RESULT " + json.dumps({
        "steps": args.steps, "ref_steps": len(ref_losses), "loss_first": first, "loss_last": last,
        "ref_loss_first": rf, "ref_loss_last": rl, "weights_l1_moved": float(np.abs(end - start).sum()),
        "wall_s": wall, "domains": rows, "tokens_served": stats.get("tokens_served"),
    }), flush=True)


if __name__ == "__main__":
    main()
