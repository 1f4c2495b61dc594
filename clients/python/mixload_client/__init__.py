"""Python client for the mixload service (wire protocol v1, docs/PROTOCOL.md).

    from mixload_client import MixloadClient, feedback_from_losses
    c = MixloadClient("tcp://127.0.0.1:5555", rank=0, world=1)
    info = c.hello()
    b = c.batch(info["next_step"])            # numpy arrays: input_ids, targets, ...
    c.feedback(b["step"], feedback_from_losses(loss, b["targets"], b["domain_ids"], info["domains"]))

Needs pyzmq, msgpack and numpy; :class:`MixloadDataset` and :func:`to_hf` also need torch.
Field names come from ``protocol-schema.json`` (the service's, shipped in this package);
``python3 -m mixload_client --endpoint E hello|stats|weights`` asks a running service.
"""
from .client import DTYPES, PROTOCOL_VERSION, BatchPrefetcher, MixloadClient, MixloadError, MixloadTimeout, decode_arrays, encode_arrays, segment_at
from .feedback import IGNORE_INDEX, feedback_from_losses, labels_from_targets, reduce_feedback
from .schema import OPTIONAL_SIGNALS, SCHEMA, UnknownFieldError


def __getattr__(name: str):
    # The torch-facing half is imported on first use, so `import mixload_client` never loads torch.
    if name in ("MixloadDataset", "to_hf"):
        from . import dataset
        return getattr(dataset, name)
    raise AttributeError(f"module 'mixload_client' has no attribute {name!r}")

__all__ = [
    "DTYPES", "IGNORE_INDEX", "OPTIONAL_SIGNALS", "PROTOCOL_VERSION", "SCHEMA", "BatchPrefetcher", "MixloadClient", "MixloadDataset",
    "MixloadError", "MixloadTimeout", "UnknownFieldError", "decode_arrays", "encode_arrays", "feedback_from_losses",
    "labels_from_targets", "reduce_feedback", "segment_at", "to_hf",
]
