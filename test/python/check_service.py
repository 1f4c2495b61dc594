"""The Python client against a running `mixload serve` (run by service.test.ts).

    /usr/bin/python3 test/python/check_service.py ENDPOINT

The service must run a dynamic mixer with feedback_lag 2, world 1, from step 0 (as
examples/configs/brown-small.json does). Needs no torch. Prints one line per passed check.
"""
import sys

import numpy as np

import time

from mixload_client import BatchPrefetcher, MixloadClient, MixloadError, feedback_from_losses


def ok(msg):
    print("ok", msg, flush=True)


def check_batch(b, info):
    B, L = info["batch_size"], info["seq_len"]
    ids, tgt, pos, dom, cu = b["input_ids"], b["targets"], b["position_ids"], b["domain_ids"], b["cu_seqlens"]
    for name, a, dt, shape in [("input_ids", ids, "<i4", (B, L)), ("targets", tgt, "<i4", (B, L)),
                               ("position_ids", pos, "<i4", (B, L)), ("domain_ids", dom, "<i2", (B, L))]:
        assert a.dtype == np.dtype(dt) and a.shape == shape, (name, a.dtype, a.shape)
    assert cu.dtype == np.dtype("<i4") and cu[0] == 0 and cu[-1] == B * L and np.all(np.diff(cu) > 0), cu
    # Segments start exactly where position_ids restart at 0 (flattened B×L).
    starts = np.flatnonzero(pos.reshape(-1) == 0)
    assert np.array_equal(starts, cu[:-1]), (starts[:10], cu[:10])
    assert b["max_seqlen"] == int(np.diff(cu).max()), b["max_seqlen"]
    # targets are input_ids shifted inside a segment, -100 elsewhere.
    inside = pos[:, 1:] != 0
    want = np.where(inside, ids[:, 1:], -100)
    assert np.array_equal(tgt[:, :-1][dom[:, :-1] >= 0], want[dom[:, :-1] >= 0]), "targets are not shifted input_ids"
    assert np.all(tgt[:, -1] == -100) and np.all(tgt[dom < 0] == -100)
    assert np.all(ids[dom < 0] == info["pad_id"]) and dom.max() < len(info["domains"])
    assert abs(sum(b["weights"].values()) - 1) < 1e-9


def main(endpoint):
    c = MixloadClient(endpoint, rank=0, world=1, timeout_ms=30_000, not_ready_timeout_s=1.0)
    info = c.hello()
    names = info["domains"]
    assert info["world"] == 1 and info["feedback_lag"] == 2 and info["next_step"] == 0, info
    assert info["vocab_size"] > max(info["eos_id"], info["pad_id"]) and len(names) > 1
    ok(f"hello: {len(names)} domains, seq_len {info['seq_len']}, batch {info['batch_size']}, vocab {info['vocab_size']}")

    b0 = c.batch(0)
    check_batch(b0, info)
    again = c.batch(0)
    assert all(np.array_equal(b0[k], again[k]) for k in ("input_ids", "targets", "position_ids", "domain_ids", "cu_seqlens"))
    b1 = c.batch(1)
    check_batch(b1, info)
    ok("batch: shapes, dtypes, shifted targets, segments = cu_seqlens, padding, and identical bytes on re-ask")

    try:
        c.batch(2)
        raise AssertionError("batch 2 served before feedback 0")
    except MixloadError as e:
        assert e.code == "not_ready", e
    ok("batch 2 is not_ready until feedback 0 (feedback_lag 2), after retries with backoff")

    try:
        c.feedback(0, {names[0]: {"loss_sum": float("nan"), "tokens": 3}})
        raise AssertionError("NaN loss accepted")
    except MixloadError as e:
        assert e.code == "invalid_feedback", e
    try:
        c.feedback(0, {"no_such_domain": {"loss_sum": 1.0, "tokens": 1}})
        raise AssertionError("unknown domain accepted")
    except MixloadError as e:
        assert e.code == "unknown_domain", e
    ok("bad feedback: invalid_feedback and unknown_domain raised as MixloadError")

    # Feedback 0: a made-up per-token loss that is higher on the first domain in the batch.
    rng = np.random.default_rng(0)
    loss = rng.uniform(2.0, 3.0, size=b0["targets"].shape)
    hard = int(b0["domain_ids"][b0["targets"] != -100][0])
    loss[b0["domain_ids"] == hard] += 3.0
    fb = feedback_from_losses(loss, b0["targets"], b0["domain_ids"], names, ref_loss=np.full(loss.shape, 2.0))
    assert sum(e["tokens"] for e in fb.values()) == int((b0["targets"] != -100).sum())
    rep = c.feedback(0, fb, lr=1e-3)
    assert rep["ok"] and rep["step"] == 0 and rep["complete"] is True, rep
    assert c.feedback(0, fb, lr=1e-3)["complete"] is True  # idempotent re-send
    b2 = c.batch(2)
    check_batch(b2, info)
    assert b2["weights_version"] > b1["weights_version"], (b1["weights_version"], b2["weights_version"])
    w1, w2 = b1["weights"], b2["weights"]
    assert w2[names[hard]] > w1[names[hard]], (names[hard], w1[names[hard]], w2[names[hard]])
    ok(f"feedback 0 complete; batch 2 drawn with new weights ({names[hard]}: {w1[names[hard]]:.4f} -> {w2[names[hard]]:.4f})")

    # BatchPrefetcher: after step s is handed out, step s+1 is fetched in the background.
    plain_fb = {n: {"loss_sum": 2.5, "tokens": 10} for n in names}
    excess = {n: 0.5 for n in names}
    for step in (1, 2):
        c.feedback(step, plain_fb, excess_loss_sum=excess)
    pf = BatchPrefetcher(c, start=3, depth=1)
    try:
        for step in range(3, 7):
            b = pf.next()
            assert b["step"] == step and pf.step == step + 1, (b["step"], pf.step)
            if step == 3:
                # Nobody asked for step 4 yet: the prefetch thread did (next_step = lowest unfetched).
                deadline = time.monotonic() + 20
                while c.hello()["next_step"] < 5 and time.monotonic() < deadline:
                    time.sleep(0.02)
                assert c.hello()["next_step"] == 5
            again = c.batch(step)
            assert all(np.array_equal(b[k], again[k]) for k in ("input_ids", "targets", "position_ids", "domain_ids", "cu_seqlens"))
            c.feedback(step, plain_fb, excess_loss_sum=excess)
    finally:
        pf.close()
    ok("BatchPrefetcher: steps 3-6 in order, the same bytes as asking, the next step fetched in the background")

    s = c.stats()
    assert set(s["achieved"]) <= set(names) and abs(sum(s["weights"].values()) - 1) < 1e-9 and s["tokens_served"] > 0, s
    step, blob = c.state()
    assert isinstance(step, int) and len(blob) > 0
    ok(f"stats (tokens_served {s['tokens_served']}, fill_rate {s['fill_rate']:.4f}) and state ({len(blob)} bytes at step {step})")
    c.close()
    print("all checks passed", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
