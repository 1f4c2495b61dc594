"""One rank of a 2-rank torch.distributed (gloo, CPU) job against two services (run by allranks.test.ts).

    /usr/bin/python3 test/python/check_allranks.py RANK MASTER_PORT PER_RANK_ENDPOINT ALL_RANKS_ENDPOINT STEPS

Each step both ranks fetch their batch from both services and build the same feedback from it.
To the first service every rank sends its own; for the second they all-reduce it with
`reduce_feedback` and rank 0 alone sends it with `all_ranks=True`. The two services must then
record the same schedule (the vitest side compares schedule.jsonl) and serve the same batches
(each rank checks its two batches are identical, step by step).
"""
import hashlib
import sys

import numpy as np
import torch.distributed as dist

from mixload_client import MixloadClient, MixloadError, reduce_feedback


def feedback(batch, names, rank, step):
    """Deterministic per-domain signals from the batch's real token counts (not a model: the point is the plumbing)."""
    targets = np.asarray(batch["targets"])
    dom = np.asarray(batch["domain_ids"])
    out = {}
    for i, name in enumerate(names):
        tokens = int(((dom == i) & (targets != -100)).sum())
        if tokens == 0:
            continue
        per_token = 3.0 + 0.25 * i + 0.125 * rank + 0.0625 * (step % 4)
        out[name] = {"loss_sum": per_token * tokens, "tokens": tokens, "excess_loss_sum": 0.5 * (i + 1) * tokens / 8, "grad_alignment": 0.25 * (rank + 1) - 0.5 * i}
    return out


def digest(batch):
    h = hashlib.sha256()
    for k in ("input_ids", "targets", "position_ids", "domain_ids"):
        h.update(np.ascontiguousarray(batch[k]).tobytes())
    return h.hexdigest()


def main(rank, port, per_rank, all_ranks, steps):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    a = MixloadClient(per_rank, rank=rank, world=2, timeout_ms=60_000)
    b = MixloadClient(all_ranks, rank=rank, world=2, timeout_ms=60_000)
    names = a.hello()["domains"]
    assert b.hello()["domains"] == names
    for step in range(steps):
        ba, bb = a.batch(step), b.batch(step)
        assert digest(ba) == digest(bb), f"rank {rank} step {step}: the two services served different batches"
        fb = feedback(ba, names, rank, step)
        a.feedback(step, fb, lr=1e-3)
        reduced = reduce_feedback(fb, names)
        if rank == 0:
            rep = b.feedback(step, reduced, lr=1e-3, all_ranks=True)
            assert rep["complete"] is True, rep
        dist.barrier()
    # A step reported for all ranks refuses per-rank feedback (it would count twice); the same all_ranks again is idempotent.
    last = steps - 1
    if rank == 1:
        try:
            b.feedback(last, feedback(b.batch(last), names, rank, last), lr=1e-3)
            raise AssertionError("per-rank feedback on an all_ranks step was accepted")
        except MixloadError as e:
            assert e.code == "invalid_feedback" and "all_ranks" in str(e), e
    print(f"OK rank {rank} {steps} steps")
    dist.destroy_process_group()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]))
