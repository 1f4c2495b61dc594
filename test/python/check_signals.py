"""Every optional feedback signal, from Python to a real `mixload serve` (run by signals.test.ts).

    /usr/bin/python3 test/python/check_signals.py ENDPOINT

The signals are the client's OPTIONAL_SIGNALS, i.e. the protocol schema's, so a signal added
to src/protocol/types.ts is sent here without editing this file. Step 0 carries them inside
each domain's entry, step 1 as keyword maps: the two ways the client accepts them. Prints
`SENT <json>` per step (what the service must have folded); the vitest side compares that with
the feedback lines of the run's schedule.jsonl.
"""
import json
import sys

from mixload_client import OPTIONAL_SIGNALS, MixloadClient


def values(step, names):
    # Distinct per (step, signal, domain), exactly representable, inside every signal's valid range
    # (grad_alignment negative on odd domains: it only has to be finite).
    out = {}
    for i, n in enumerate(names):
        e = {"loss_sum": 20.0 + i + step, "tokens": 10 + i}
        for j, k in enumerate(OPTIONAL_SIGNALS):
            e[k] = (1 + j) * 0.5 + i * 0.125 + step * 0.0625
        if "grad_alignment" in e and i % 2 == 1:
            e["grad_alignment"] = -e["grad_alignment"]
        out[n] = e
    return out


def main(endpoint):
    c = MixloadClient(endpoint, rank=0, world=1, timeout_ms=30_000)
    names = c.hello()["domains"]
    for step in (0, 1):
        c.batch(step)  # feedback is for built steps

    # Step 0: every signal inside the domain entries.
    fb0 = values(0, names)
    rep = c.feedback(0, fb0, lr=0.25)
    assert rep["complete"] is True, rep
    print("SENT " + json.dumps({"step": 0, "domains": fb0, "lr": 0.25}), flush=True)

    # Step 1: every signal as a keyword map {domain: value} (eval_loss= raised TypeError before issue 15).
    fb1 = values(1, names)
    core = {n: {"loss_sum": e["loss_sum"], "tokens": e["tokens"]} for n, e in fb1.items()}
    maps = {k: {n: e[k] for n, e in fb1.items()} for k in OPTIONAL_SIGNALS}
    rep = c.feedback(1, core, lr=0.125, **maps)
    assert rep["complete"] is True, rep
    print("SENT " + json.dumps({"step": 1, "domains": fb1, "lr": 0.125}), flush=True)

    s = c.stats()
    assert s.get("folded_step") == 1, s.get("folded_step")  # both steps reached the mixer
    c.close()
    print(f"ok sent {', '.join(OPTIONAL_SIGNALS)} for {len(names)} domains in both forms; folded through step 1", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
