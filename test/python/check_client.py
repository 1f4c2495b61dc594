"""Unit checks of the Python client (run by client.test.ts with /usr/bin/python3).

1. labels_from_targets and feedback_from_losses against hand-computed arrays;
2. the client against a scripted in-process ROUTER that speaks PROTOCOL.md v1: frame layout,
   array decoding, error replies, not_ready backoff, re-ask after a dropped reply, the
   optional feedback signals as top-level maps;
3. the protocol schema: the client's field lists are the schema's, every optional signal goes
   out as a top-level map from either form, a field the schema lacks raises before sending;
4. with torch: to_hf field names/dtypes, and HF's shifted-labels loss equals mixload's targets
   loss. Without torch this fails (naming the install command): nothing is skipped silently.
Prints one line per passed check; any failure raises.
"""
import json
import math
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "clients", "python"))

import msgpack  # noqa: E402
import numpy as np  # noqa: E402
import zmq  # noqa: E402

from mixload_client import (DTYPES, OPTIONAL_SIGNALS, PROTOCOL_VERSION, MixloadClient, MixloadError,  # noqa: E402
                            MixloadTimeout, UnknownFieldError, encode_arrays, feedback_from_losses,
                            labels_from_targets)

INSTALL = "apt-get install -y python3-zmq python3-msgpack python3-numpy python3-torch libopenblas0-pthread"
ROOT = os.path.join(os.path.dirname(__file__), "..", "..")

NAN = float("nan")
P = 99  # pad id

# Row 0: document A (domain 0) = 5 6 7, document B (domain 2) = 8 9, one pad.
# Row 1: document C (domain 1) fills the row and is cut at its end.
INPUT_IDS = np.array([[5, 6, 7, 8, 9, P], [1, 2, 3, 4, 5, 6]], dtype=np.int32)
TARGETS = np.array([[6, 7, -100, 9, -100, -100], [2, 3, 4, 5, 6, -100]], dtype=np.int32)
POSITION_IDS = np.array([[0, 1, 2, 0, 1, 0], [0, 1, 2, 3, 4, 5]], dtype=np.int32)
DOMAIN_IDS = np.array([[0, 0, 0, 2, 2, -1], [1, 1, 1, 1, 1, 1]], dtype=np.int16)
CU_SEQLENS = np.array([0, 3, 5, 6, 12], dtype=np.int32)
NAMES = ["a", "b", "c", "d"]


def ok(msg):
    print("ok", msg, flush=True)


def close(a, b):
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


def check_labels():
    # By hand: -100 at each document's first token and at padding, the token itself elsewhere.
    want = np.array([[-100, 6, 7, -100, 9, -100], [-100, 2, 3, 4, 5, 6]])
    got = labels_from_targets(TARGETS)
    assert got.dtype == np.int64 and np.array_equal(got, want), got
    ok("labels: -100 at document starts and padding, unshifted tokens elsewhere")


def check_feedback():
    # NaN where targets are -100: those positions must not be read.
    loss = np.array([[1.0, 2.0, NAN, 0.5, NAN, NAN], [0.1, 0.2, 0.3, 0.4, 0.5, NAN]])
    ref = np.array([[0.5, 2.5, NAN, 0.25, NAN, NAN], [0.2, 0.2, 0.1, 0.5, 0.3, NAN]])
    fb = feedback_from_losses(loss, TARGETS, DOMAIN_IDS, NAMES)
    assert set(fb) == {"a", "b", "c"}, fb  # "d" has no tokens: omitted
    assert fb["a"] == {"loss_sum": 3.0, "tokens": 2}, fb
    assert fb["c"] == {"loss_sum": 0.5, "tokens": 1}, fb
    assert fb["b"]["tokens"] == 5 and close(fb["b"]["loss_sum"], 1.5), fb
    fb = feedback_from_losses(loss, TARGETS, DOMAIN_IDS, NAMES, ref_loss=ref)
    want = {  # excess = Σ max(loss − ref, 0), clipped per token
        "a": (3.0, 2, 3.0, 0.5),
        "b": (1.5, 5, 1.3, 0.4),
        "c": (0.5, 1, 0.25, 0.25),
    }
    for name, (ls, n, rs, ex) in want.items():
        e = fb[name]
        assert e["tokens"] == n and close(e["loss_sum"], ls) and close(e["ref_loss_sum"], rs) and close(e["excess_loss_sum"], ex), (name, e)
    try:
        feedback_from_losses(loss, TARGETS, np.where(DOMAIN_IDS == 2, 7, DOMAIN_IDS), NAMES)
        raise AssertionError("domain id out of range accepted")
    except ValueError:
        pass
    ok("feedback_from_losses: per-domain sums over target positions, per-token clipped excess")


class FakeService(threading.Thread):
    """A scripted ROUTER: the protocol's frames and ops, enough to drive every client path."""

    def __init__(self, ctx, endpoint):
        super().__init__(daemon=True)
        self.sock = ctx.socket(zmq.ROUTER)
        self.sock.bind(endpoint)
        self.feedback = {}
        self.feedback_count = 0
        self.last = None
        self.batch_asks = {}
        self.stop = False

    def reply(self, ident, header, frames=()):
        self.sock.send_multipart([ident, b"", msgpack.packb({"v": 1, **header}, use_bin_type=True), *frames])

    def err(self, ident, code, message):
        self.reply(ident, {"ok": False, "error": {"code": code, "message": message}})

    def run(self):
        while not self.stop:
            if not self.sock.poll(50):
                continue
            ident, empty, head, *frames = self.sock.recv_multipart()
            assert empty == b"", "DEALER must send the empty delimiter frame"
            h = msgpack.unpackb(head, raw=False)
            self.last = h
            if h.get("v") != 1:
                self.err(ident, "unsupported_version", "v")
            elif h["op"] == "hello":
                if h["world"] != 1:
                    self.err(ident, "bad_request", "world must be 1")
                    continue
                self.reply(ident, {"ok": True, "run_id": "fake", "domains": NAMES, "seq_len": 6, "batch_size": 2, "world": 1,
                                   "next_step": 0, "vocab_size": 100, "eos_id": 98, "pad_id": P,
                                   "weights": {n: 0.25 for n in NAMES}, "feedback_lag": 2})
            elif h["op"] == "batch":
                s = h["step"]
                self.batch_asks[s] = self.batch_asks.get(s, 0) + 1
                if s == 1 and self.batch_asks[s] == 1:
                    continue  # drop the first ask of step 1: the client must re-ask
                if s > 50:
                    self.err(ident, "step_out_of_range", f"step {s}")
                    continue
                if s >= 2 and (s - 2) not in self.feedback:
                    self.err(ident, "not_ready", f"feedback for step {s - 2} has not arrived")
                    continue
                arrays = {"input_ids": INPUT_IDS + s, "targets": TARGETS, "position_ids": POSITION_IDS,
                          "domain_ids": DOMAIN_IDS, "cu_seqlens": CU_SEQLENS}
                specs, fr = encode_arrays(arrays)
                self.reply(ident, {"ok": True, "step": s, "rank": h["rank"], "weights_version": 0,
                                   "weights": {n: 0.25 for n in NAMES}, "max_seqlen": 6, "arrays": specs}, fr)
            elif h["op"] == "feedback":
                self.feedback[h["step"]] = h
                self.feedback_count += 1
                self.reply(ident, {"ok": True, "step": h["step"], "complete": True})
            elif h["op"] == "state":
                specs, fr = encode_arrays({"state": np.frombuffer(b"opaque-state", dtype=np.uint8)})
                self.reply(ident, {"ok": True, "step": h.get("step", 3), "arrays": specs}, fr)
            elif h["op"] == "stats":
                self.reply(ident, {"ok": True, "step": 3, "weights": {}, "achieved": {}, "tokens_served": 0,
                                   "fill_rate": 1.0, "documents": {}, "epochs": {}})
            else:
                self.err(ident, "bad_request", f"unknown op {h['op']}")
        self.sock.close(linger=0)


def check_client():
    ctx = zmq.Context.instance()
    srv = FakeService(ctx, "tcp://127.0.0.1:0")
    endpoint = srv.sock.getsockopt_string(zmq.LAST_ENDPOINT)
    srv.start()
    try:
        c = MixloadClient(endpoint, rank=0, world=1, timeout_ms=300, retries=2, not_ready_timeout_s=0.3)
        info = c.hello()
        assert info["domains"] == NAMES and info["feedback_lag"] == 2, info
        b = c.batch(0)
        assert b["input_ids"].dtype == np.dtype("<i4") and b["domain_ids"].dtype == np.dtype("<i2")
        for k, want in [("input_ids", INPUT_IDS), ("targets", TARGETS), ("position_ids", POSITION_IDS),
                        ("domain_ids", DOMAIN_IDS), ("cu_seqlens", CU_SEQLENS)]:
            assert np.array_equal(b[k], want), k
        assert b["step"] == 0 and b["max_seqlen"] == 6
        ok("hello and batch: header fields and little-endian arrays decoded by the arrays list")

        b1 = c.batch(1)
        assert srv.batch_asks[1] == 2 and np.array_equal(b1["input_ids"], INPUT_IDS + 1)
        ok("batch re-asked on a fresh socket after a dropped reply")

        try:
            c.batch(2)
            raise AssertionError("not_ready was swallowed")
        except MixloadError as e:
            assert e.code == "not_ready", e
        asks = srv.batch_asks[2]
        assert asks >= 3, f"not_ready retried only {asks} times"
        fb = feedback_from_losses(np.ones((2, 6)), TARGETS, DOMAIN_IDS, NAMES, ref_loss=np.full((2, 6), 0.75))
        rep = c.feedback(0, fb, lr=3e-4)
        assert rep["complete"] is True
        sent = srv.feedback[0]
        assert sent["domains"]["a"] == {"loss_sum": 2.0, "tokens": 2}, sent  # core fields only
        assert sent["excess_loss_sum"] == {"a": 0.5, "b": 1.25, "c": 0.25}, sent  # top-level maps, same keys
        assert sent["ref_loss_sum"]["b"] == 3.75 and sent["lr"] == 3e-4, sent
        assert np.array_equal(c.batch(2)["input_ids"], INPUT_IDS + 2)
        ok(f"not_ready retried with backoff ({asks} asks), then served once feedback 0 arrived; optional signals as top-level maps")

        try:
            c.batch(99)
            raise AssertionError("error reply not raised")
        except MixloadError as e:
            assert e.code == "step_out_of_range" and "99" in e.message, e
        try:
            MixloadClient(endpoint, world=2, timeout_ms=300).hello()
            raise AssertionError("bad world accepted")
        except MixloadError as e:
            assert e.code == "bad_request", e
        ok("ok:false replies raise MixloadError(code, message)")

        step, blob = c.state()
        assert step == 3 and blob == b"opaque-state"
        assert c.state(1)[0] == 1 and srv.last["step"] == 1  # the state request's optional step
        assert c.stats()["fill_rate"] == 1.0
        ok("state blob (at hello.next_step, and at a given step) and stats")

        check_signals(c, srv)

        try:
            import torch  # noqa: F401
        except ImportError:
            raise SystemExit(f"torch is missing for /usr/bin/python3: {INSTALL}")
        from mixload_client import MixloadDataset
        from torch.utils.data import DataLoader
        ds = MixloadDataset(client=c, steps=2)
        assert ds.start_step == 0 and ds.domains == NAMES
        items = list(DataLoader(ds, batch_size=None))
        assert [it["step"] for it in items] == [0, 1] and items[1]["input_ids"].tolist() == (INPUT_IDS + 1).tolist()
        assert items[0]["labels"].tolist() == labels_from_targets(TARGETS).tolist()
        ok("MixloadDataset through a DataLoader(batch_size=None): one step of this rank per item")
    finally:
        srv.stop = True
        srv.join()

    dead = MixloadClient("tcp://127.0.0.1:1", timeout_ms=100, retries=1)
    try:
        dead.hello()
        raise AssertionError("no timeout")
    except MixloadTimeout as e:
        assert e.code == "timeout"
    dead.close()
    ok("no service: MixloadTimeout after the retries")


def check_schema():
    with open(os.path.join(ROOT, "docs", "protocol-schema.json"), encoding="utf-8") as f:
        schema = json.load(f)
    assert OPTIONAL_SIGNALS == tuple(schema["feedback"]["optional_signals"]), OPTIONAL_SIGNALS
    assert "eval_loss" in OPTIONAL_SIGNALS  # the signal this client used to drop (issue 15)
    assert tuple(DTYPES) == tuple(schema["dtypes"]) and PROTOCOL_VERSION == schema["protocol_version"]
    ok(f"the client's field lists are docs/protocol-schema.json's (signals: {', '.join(OPTIONAL_SIGNALS)})")


def check_signals(c, srv):
    # Every signal of the schema, half in the domain entries and half as keywords: all must go
    # out as top-level maps with the values given (the form PROTOCOL.md's contract specifies).
    entry_signals, keyword_signals = OPTIONAL_SIGNALS[::2], OPTIONAL_SIGNALS[1::2]
    value = {(k, n): 1.0 + i + j / 10 for i, k in enumerate(OPTIONAL_SIGNALS) for j, n in enumerate(NAMES[:2])}
    domains = {n: {"loss_sum": 2.0, "tokens": 4, **{k: value[k, n] for k in entry_signals}} for n in NAMES[:2]}
    c.feedback(7, domains, **{k: {n: value[k, n] for n in NAMES[:2]} for k in keyword_signals})
    sent = srv.feedback[7]
    for k in OPTIONAL_SIGNALS:
        assert sent.get(k) == {n: value[k, n] for n in NAMES[:2]}, (k, sent)
    assert all(set(e) == {"loss_sum", "tokens"} for e in sent["domains"].values()), sent
    ok(f"every optional signal ({', '.join(OPTIONAL_SIGNALS)}) sent as a top-level map, from an entry or a keyword")

    before = srv.feedback_count
    refused = [
        (lambda: c.feedback(8, {"a": {"loss_sum": 1.0, "tokens": 1, "eval_los": 2.0}}), UnknownFieldError, "domains.a.eval_los"),
        (lambda: c.feedback(8, {"a": {"loss_sum": 1.0, "tokens": 1}}, eval_los={"a": 2.0}), TypeError, "eval_los"),
        (lambda: c.feedback(8, {"a": {"tokens": 1}}), ValueError, "domains.a.loss_sum: missing"),
        (lambda: c.feedback(8, {"a": {"loss_sum": 1.0, "tokens": 1, "eval_loss": 2.0}}, eval_loss={"a": 2.0}), ValueError, "domains.a.eval_loss"),
        (lambda: c.request({"op": "stats", "verbose": True}), UnknownFieldError, "verbose"),
        (lambda: c.request({"op": "feedback", "step": 8, "rank": 0, "domains": {"a": {"loss_sum": 1.0, "tokens": 1, "x": 1}}}),
         UnknownFieldError, "domains.a.x"),
        (lambda: c.request({"op": "shutdown"}), UnknownFieldError, "unknown op 'shutdown'"),
    ]
    for call, exc, needle in refused:
        try:
            call()
            raise AssertionError(f"accepted a request with {needle}")
        except exc as e:
            msg = str(e)
            assert needle in msg and "\n" not in msg, (needle, msg)
    assert srv.feedback_count == before, "a refused request reached the service"
    ok("unknown fields (entry, keyword, raw request, op), a missing loss_sum, a signal given twice: one-line errors, nothing sent")


def check_torch():
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        raise SystemExit(f"torch is missing for /usr/bin/python3: {INSTALL}")
    from mixload_client import to_hf
    item = to_hf({"input_ids": INPUT_IDS, "targets": TARGETS, "position_ids": POSITION_IDS, "domain_ids": DOMAIN_IDS,
                  "cu_seqlens": CU_SEQLENS, "max_seqlen": 6, "step": 4})
    assert item["input_ids"].dtype == torch.long and item["cu_seq_lens_q"].dtype == torch.int32
    assert item["max_length_q"] == item["max_length_k"] == 6 and item["step"] == 4
    assert torch.equal(item["cu_seq_lens_k"], torch.tensor(CU_SEQLENS))
    assert torch.equal(item["labels"], torch.tensor(labels_from_targets(TARGETS)))
    flat = to_hf({"input_ids": INPUT_IDS, "targets": TARGETS, "position_ids": POSITION_IDS, "domain_ids": DOMAIN_IDS,
                  "cu_seqlens": CU_SEQLENS, "max_seqlen": 6, "step": 4}, flatten=True)
    assert flat["input_ids"].shape == (1, 12) and flat["labels"].shape == (1, 12)
    # HF's causal-LM loss (shift inside) equals mixload's (targets already shifted).
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 6, 100, generator=g)
    hf = F.cross_entropy(logits[:, :-1].reshape(-1, 100), item["labels"][:, 1:].reshape(-1), ignore_index=-100)
    ml = F.cross_entropy(logits.reshape(-1, 100), item["targets"].reshape(-1), ignore_index=-100)
    assert torch.allclose(hf, ml), (hf, ml)
    ok("to_hf: HF field names and dtypes; HF shifted-labels loss == mixload targets loss")


if __name__ == "__main__":
    check_labels()
    check_feedback()
    check_schema()
    check_client()
    check_torch()
    print("all checks passed", flush=True)
