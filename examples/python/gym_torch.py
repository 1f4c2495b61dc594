#!/usr/bin/python3
"""One torch run of `mixload gym --learner torch`: train the tiny GPT of train_gpt.py on the
batches of a running `mixload serve`, send the per-domain feedback back, evaluate held-out sets.

    /usr/bin/python3 examples/python/gym_torch.py --endpoint tcp://127.0.0.1:5555 \
        --steps 150 --heldout heldout.json --out result.json [--ref-ckpt ref.pt] [--save-ckpt ref.pt]

src/gym/torch-run.ts starts one service per run (the reference on the reference part with a
static mix, then one per mixer on the train part) and this script against it, so every batch
and every piece of feedback crosses real ZeroMQ sockets through clients/python, exactly as a
trainer's would.

Per step: batch (prefetched one step ahead, as feedback_lag 2 allows) → forward → per-token
loss BEFORE the update (what a trainer reports for the step it trains on) → backward, AdamW
step → feedback: loss_sum and tokens per domain, plus, with --ref-ckpt, the frozen reference's
loss on the SAME batch as ref_loss_sum and DoReMi's per-token clipped excess_loss_sum (Xie et
al. 2023, Algorithm 1). Held-out per-domain mean loss is evaluated every --eval-every steps and
after the last (documents cut into pieces of at most seq_len tokens as packing cuts them; the
first token of a piece is context only). Writes one JSON object to --out.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "clients", "python"))
sys.path.insert(0, HERE)

try:
    import torch  # noqa: E402
    import torch.nn.functional as F  # noqa: E402
except ImportError as e:  # a missing package is the user's to install, not a stack trace
    sys.exit(f"gym_torch.py needs PyTorch ({e}): apt-get install python3-torch (Debian), or pip install torch; set MIXLOAD_PYTHON to another interpreter")

from mixload_client import BatchPrefetcher, MixloadClient, feedback_from_losses, to_hf  # noqa: E402
from train_gpt import GPT, lr_at, per_token_loss  # noqa: E402


def eval_rows(docs, seq_len):
    """Held-out documents as (input_ids, position_ids, targets) tensors, one piece per row."""
    rows = []
    for doc in docs:
        for start in range(0, len(doc), seq_len):
            piece = doc[start:start + seq_len]
            if len(piece) >= 2:
                rows.append(piece)
    n = max(1, len(rows))
    ids = torch.zeros(n, seq_len, dtype=torch.long)
    pos = torch.zeros(n, seq_len, dtype=torch.long)
    tgt = torch.full((n, seq_len), -100, dtype=torch.long)
    for r, piece in enumerate(rows):
        L = len(piece)
        ids[r, :L] = torch.tensor(piece)
        pos[r, :L] = torch.arange(L)
        tgt[r, :L - 1] = torch.tensor(piece[1:])
    return ids, pos, tgt


@torch.no_grad()
def evaluate(model, sets, batch):
    model.eval()
    out = []
    for ids, pos, tgt in sets:
        loss_sum, count = 0.0, 0
        for s in range(0, ids.shape[0], batch):
            logits = model(ids[s:s + batch], pos[s:s + batch])
            t = tgt[s:s + batch]
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), t.reshape(-1), ignore_index=-100, reduction="sum")
            loss_sum += float(loss)
            count += int((t != -100).sum())
        out.append(loss_sum / max(count, 1))
    model.train()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--endpoint", required=True)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--heldout", required=True, help="JSON {domains: [...], docs: [[[ids...], ...], ...]} in the service's domain order")
    p.add_argument("--out", required=True)
    p.add_argument("--ref-ckpt", default=None, help="frozen reference: send ref_loss_sum and excess_loss_sum")
    p.add_argument("--save-ckpt", default=None, help="save the trained model here (the reference run)")
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=2)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--eval-every", type=int, default=25)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--timeout-ms", type=int, default=120_000)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    t_start = time.time()

    client = MixloadClient(args.endpoint, timeout_ms=args.timeout_ms)
    info = client.hello()
    domains = list(info["domains"])
    V, L = int(info["vocab_size"]), int(info["seq_len"])
    with open(args.heldout) as f:
        held = json.load(f)
    if held["domains"] != domains:
        raise SystemExit(f"gym_torch: held-out domains {held['domains']} differ from the service's {domains}")
    sets = [eval_rows(docs, L) for docs in held["docs"]]

    torch.manual_seed(args.seed)
    model = GPT(V, L, args.d_model, args.layers, args.heads)
    ref = None
    if args.ref_ckpt:
        ref = GPT(V, L, args.d_model, args.layers, args.heads)
        ref.load_state_dict(torch.load(args.ref_ckpt))
        ref.eval()
        for prm in ref.parameters():
            prm.requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.1)

    first = int(info["next_step"])
    weights, curve, losses = [], [], []
    batches = BatchPrefetcher(client, start=first, end=first + args.steps, depth=1)
    for i in range(args.steps):
        step = first + i
        raw = batches.next()
        item = to_hf(raw)
        lr = lr_at(i, args.steps, args.lr, args.warmup)
        for g in opt.param_groups:
            g["lr"] = lr
        tok_loss = per_token_loss(model, item)
        mask = item["targets"] != -100
        loss = tok_loss[mask].mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ref_loss = None
        if ref is not None:
            with torch.no_grad():
                ref_loss = per_token_loss(ref, item)
        fb = feedback_from_losses(tok_loss.detach(), item["targets"], item["domain_ids"], domains, ref_loss=ref_loss)
        client.feedback(step, fb, lr=lr)
        w = [float(raw["weights"][d]) for d in domains]
        weights.append(w)
        losses.append(float(loss))
        if (i + 1) % args.eval_every == 0 or i + 1 == args.steps:
            h = evaluate(model, sets, 8)
            curve.append({"step": i + 1, "heldout": h, "weights": w})
            print(f"gym_torch: step {i + 1}/{args.steps} loss {losses[-1]:.3f} held-out mean {sum(h) / len(h):.3f} "
                  f"({(time.time() - t_start) / (i + 1):.2f} s/step)", file=sys.stderr, flush=True)
    batches.close()
    stats = client.stats()
    client.close()
    if args.save_ckpt:
        torch.save(model.state_dict(), args.save_ckpt)
    result = {
        "domains": domains,
        "heldout": curve[-1]["heldout"] if curve else evaluate(model, sets, 8),
        "curve": curve,
        "weights": weights,
        "achieved": {d: float(stats.get("achieved", {}).get(d, float("nan"))) for d in domains},
        "loss_first": losses[0] if losses else None,
        "loss_last": losses[-1] if losses else None,
        "parameters": sum(prm.numel() for prm in model.parameters()),
        "model": {"d_model": args.d_model, "layers": args.layers, "heads": args.heads, "lr": args.lr, "warmup": args.warmup, "threads": args.threads},
        "wall_s": time.time() - t_start,
    }
    with open(args.out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
