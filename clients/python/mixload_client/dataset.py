"""A ``torch.utils.data.IterableDataset`` over one rank's batches (this module needs torch;
the package imports it only when ``MixloadDataset`` or ``to_hf`` is first used).

Each item is one step's whole per-rank batch, so use ``DataLoader(ds, batch_size=None)``
(or iterate the dataset directly) and keep ``num_workers=0``: with a dynamic mixer batch
s + feedback_lag waits for the feedback of step s, which the training loop sends.
"""
from __future__ import annotations

from typing import Any, Dict, Iterator, Optional

import numpy as np
import torch
from torch.utils.data import IterableDataset

from .client import BatchPrefetcher, MixloadClient
from .feedback import labels_from_targets


def to_hf(batch: Dict[str, Any], flatten: bool = False) -> Dict[str, Any]:
    """A mixload batch (numpy) → torch tensors under HF field names, plus mixload's own.

    - ``input_ids``, ``labels`` (unshifted, -100 at document starts and padding), ``position_ids``:
      int64 [B, L], or [1, B·L] with ``flatten=True`` (the layout of HF's
      ``DataCollatorWithFlattening``, which varlen attention kernels expect);
    - ``cu_seq_lens_q`` = ``cu_seq_lens_k`` = ``cu_seqlens`` (int32, over the flattened B·L tokens),
      ``max_length_q`` = ``max_length_k`` = ``max_seqlen`` (int);
    - ``targets`` (int64, already shifted, -100 where nothing is predicted), ``domain_ids``
      (int64, -1 on padding), and ``step``.
    """
    def t(a: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
        x = torch.from_numpy(np.array(a, copy=True)).to(dtype)  # frames are read-only
        return x.reshape(1, -1) if flatten and x.ndim == 2 else x

    cu = torch.from_numpy(np.array(batch["cu_seqlens"], dtype=np.int32, copy=True))
    max_len = int(batch["max_seqlen"])
    return {
        "input_ids": t(batch["input_ids"], torch.long),
        "labels": t(labels_from_targets(batch["targets"]), torch.long),
        "position_ids": t(batch["position_ids"], torch.long),
        "cu_seq_lens_q": cu,
        "cu_seq_lens_k": cu,
        "max_length_q": max_len,
        "max_length_k": max_len,
        "targets": t(batch["targets"], torch.long),
        "domain_ids": t(batch["domain_ids"], torch.long),
        "step": int(batch["step"]),
    }


class MixloadDataset(IterableDataset):
    """Yields this rank's batches from ``start_step`` (default: hello's ``next_step``) on.

    ``steps`` bounds the iteration (default: forever). The underlying client is ``client``;
    send feedback through it (``ds.client.feedback(...)``).
    """

    def __init__(self, endpoint: str = "tcp://127.0.0.1:5555", rank: int = 0, world: int = 1,
                 start_step: Optional[int] = None, steps: Optional[int] = None, flatten: bool = False,
                 client: Optional[MixloadClient] = None, prefetch: Optional[int] = None, **client_kwargs: Any):
        self.client = client or MixloadClient(endpoint, rank=rank, world=world, **client_kwargs)
        self.info = self.client.info or self.client.hello()
        self.start_step = int(self.info["next_step"]) if start_step is None else int(start_step)
        self.steps = steps
        self.flatten = flatten
        #: Steps fetched ahead in a background thread (:class:`BatchPrefetcher`); 0 = on demand.
        #: Default: 1 when feedback_lag >= 2 (batch s+1 is then ready during step s), else 0.
        self.prefetch = (1 if int(self.info.get("feedback_lag", 2)) >= 2 else 0) if prefetch is None else int(prefetch)

    @property
    def domains(self) -> list:
        return list(self.info["domains"])

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        end = None if self.steps is None else self.start_step + self.steps
        if self.prefetch <= 0:
            step = self.start_step
            while end is None or step < end:
                yield to_hf(self.client.batch(step), flatten=self.flatten)
                step += 1
            return
        pf = BatchPrefetcher(self.client, start=self.start_step, end=end, depth=self.prefetch)
        try:
            while end is None or pf.step < end:
                yield to_hf(pf.next(), flatten=self.flatten)
        finally:
            pf.close()
