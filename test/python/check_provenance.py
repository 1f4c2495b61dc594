"""The Python client's provenance(step) against a real mixload serve (world 2, JSONL + Parquet).

Usage: check_provenance.py CONTROL_ENDPOINT OUT_JSON

For each step and rank: the arrays are the schema's provenance_arrays with their dtypes, the
segments tile the rank's non-padding tokens with the served domain ids, segment_at finds the
segment of a token; the records go to OUT_JSON for the TypeScript side to compare with the
offline rebuild. Then: a step that left the window is step_out_of_range, a field the schema does
not list is refused before sending.
"""
import json
import sys

import numpy as np

from mixload_client import MixloadClient, MixloadError, UnknownFieldError, segment_at
from mixload_client.schema import PROVENANCE_ARRAYS, SCHEMA

endpoint, out_file = sys.argv[1], sys.argv[2]
STEPS = 10
clients = [MixloadClient(endpoint, rank=r, world=2, timeout_ms=30_000) for r in range(2)]
info = clients[0].hello()
domains = info["domains"]
B, L = info["batch_size"], info["seq_len"]
assert "provenance" in SCHEMA["extension_ops"], SCHEMA["extension_ops"]

records = {}
for step in range(STEPS):
    for c in clients:
        b = c.batch(step)
        p = c.provenance(step)
        assert p["step"] == step and p["rank"] == c.rank
        for spec in PROVENANCE_ARRAYS:
            a = p[spec["name"]]
            assert a.dtype.name == spec["dtype"], (spec, a.dtype)
            assert a.shape == p["row"].shape
        dom = b["domain_ids"]
        covered = np.zeros((B, L), dtype=bool)
        for i in range(p["row"].size):
            r, c0, n = int(p["row"][i]), int(p["col"][i]), int(p["length"][i])
            assert not covered[r, c0:c0 + n].any(), "segments overlap"
            covered[r, c0:c0 + n] = True
            assert (dom[r, c0:c0 + n] == p["domain"][i]).all(), "domain ids differ from the segment's domain"
            assert b["position_ids"][r, c0] == 0
            hit = segment_at(p, r, c0 + n - 1)
            assert hit is not None and hit["segment"] == i and hit["token_offset"] == int(p["offset"][i]) + n - 1
        assert (covered == (dom >= 0)).all(), "segments do not tile the non-padding tokens"
        assert segment_at(p, B, 0) is None
        records[f"{step}/{c.rank}"] = [
            {"row": int(p["row"][i]), "col": int(p["col"][i]), "length": int(p["length"][i]), "domain": domains[int(p["domain"][i])],
             "file": p["sources"][int(p["source"][i])]["file"], "unit": p["sources"][int(p["source"][i])]["unit"], "doc": int(p["doc"][i]),
             "epoch": int(p["epoch"][i]), "offset": int(p["offset"][i]), "doc_length": int(p["doc_length"][i])}
            for i in range(p["row"].size)
        ]
print(f"ok provenance of {STEPS} steps x 2 ranks: dtypes, tiling, segment_at")

try:
    clients[0].provenance(0)
    raise AssertionError("step 0 should have left the window")
except MixloadError as e:
    assert e.code == "step_out_of_range" and "has left the window" in e.message, e
print("ok an evicted step is step_out_of_range")

try:
    clients[0].request({"op": "provenance", "step": 1, "rank": 0, "row": 3})
    raise AssertionError("an unknown field should be refused")
except UnknownFieldError as e:
    assert e.field == "row", e
print("ok unknown fields refused by the schema")

with open(out_file, "w") as f:
    json.dump(records, f)
for c in clients:
    c.close()
print("all checks passed")
