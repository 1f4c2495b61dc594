"""A DEALER client for the mixload service, wire protocol v1 (docs/PROTOCOL.md).

Every request is ``[b"", msgpack header, *array frames]`` and so is every reply; arrays are
raw little-endian C-order buffers described by the header's ``arrays`` list. Only pyzmq,
msgpack and numpy are needed (no torch).

Timeouts use the "lazy pirate" pattern: on a timeout the socket is closed and a fresh one
re-asks. Re-asking is always safe — the same ``(step, rank)`` returns identical bytes and
feedback for a ``(step, rank)`` is idempotent — and a fresh socket means a late reply to
the first ask can never be mistaken for the reply to the next request.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import msgpack
import numpy as np
import zmq

from .schema import DOMAIN_FIELDS, DTYPE_NAMES, OPTIONAL_SIGNALS, PROTOCOL_VERSION, PROVENANCE_ARRAYS, UnknownFieldError, check_request

_NUMPY_CODES = {
    "uint8": "u1", "int8": "i1", "int16": "<i2", "uint16": "<u2", "int32": "<i4",
    "uint32": "<u4", "int64": "<i8", "float32": "<f4", "float64": "<f8",
}
# A dtype the protocol gained and this client cannot decode must stop the import, not a batch mid-run.
_undecodable = [name for name in DTYPE_NAMES if name not in _NUMPY_CODES]
if _undecodable:
    raise ImportError(f"protocol-schema.json lists dtype(s) {_undecodable} that mixload_client cannot decode; update the client")

#: PROTOCOL.md dtype names (from the schema) → little-endian numpy dtypes.
DTYPES: Dict[str, np.dtype] = {name: np.dtype(_NUMPY_CODES[name]) for name in DTYPE_NAMES}


class MixloadError(Exception):
    """An ``ok: false`` reply: ``code`` is one of PROTOCOL.md's error codes."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class MixloadTimeout(MixloadError):
    """No reply after every retry (the service is down or unreachable)."""

    def __init__(self, message: str):
        super().__init__("timeout", message)


def decode_arrays(header: Mapping[str, Any], frames: Sequence[Any]) -> Dict[str, np.ndarray]:
    """Frames 1..n → named numpy arrays, by the header's ``arrays`` list (name, dtype, shape).

    The arrays are read-only views on the received frames (no copy)."""
    specs = header.get("arrays", [])
    if len(specs) != len(frames):
        raise MixloadError("bad_reply", f"header lists {len(specs)} arrays but {len(frames)} frames follow")
    out: Dict[str, np.ndarray] = {}
    for spec, frame in zip(specs, frames):
        name, dtype, shape = spec["name"], spec["dtype"], tuple(int(n) for n in spec["shape"])
        if dtype not in DTYPES:
            raise MixloadError("bad_reply", f"array {name!r}: unknown dtype {dtype!r}")
        buf = frame.buffer if isinstance(frame, zmq.Frame) else frame
        arr = np.frombuffer(buf, dtype=DTYPES[dtype])
        if arr.size != int(np.prod(shape, dtype=np.int64)):
            raise MixloadError("bad_reply", f"array {name!r}: {arr.size} elements for shape {list(shape)}")
        out[name] = arr.reshape(shape)
    return out


def encode_arrays(arrays: Mapping[str, np.ndarray]) -> Tuple[List[Dict[str, Any]], List[bytes]]:
    """Named numpy arrays → (the header's ``arrays`` list, frames), little-endian C order."""
    specs, frames = [], []
    for name, a in arrays.items():
        le = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
        dtype = next((k for k, dt in DTYPES.items() if dt == le.dtype), None)
        if dtype is None:
            raise ValueError(f"array {name!r}: dtype {a.dtype} is not in the protocol")
        specs.append({"name": name, "dtype": dtype, "shape": list(le.shape)})
        frames.append(le.tobytes())
    return specs, frames


class MixloadClient:
    """One trainer rank's connection to the service's ``control`` endpoint.

    ``timeout_ms`` bounds one ask; ``retries`` re-asks follow on a fresh socket before
    :class:`MixloadTimeout`. A ``not_ready`` batch (its feedback has not arrived yet) is
    retried with exponential backoff for up to ``not_ready_timeout_s``.
    """

    def __init__(self, endpoint: str = "tcp://127.0.0.1:5555", rank: int = 0, world: int = 1,
                 timeout_ms: int = 10_000, retries: int = 3, not_ready_timeout_s: float = 120.0,
                 context: Optional[zmq.Context] = None,
                 server_key: Optional[str] = None, public_key: Optional[str] = None,
                 secret_key: Optional[str] = None):
        """``server_key`` (the service's Z85 public key, its ``.pub`` file) turns on CURVE, needed
        when the service has ``serve.curve``; ``public_key``/``secret_key`` are this client's pair
        (an ephemeral one is made if omitted; the service's allow-list, if any, must hold it)."""
        self.endpoint = endpoint
        self.curve: Optional[Tuple[str, str, str]] = None
        if server_key is not None:
            if public_key is None or secret_key is None:
                pub, sec = zmq.curve_keypair()
                public_key, secret_key = pub.decode(), sec.decode()
            self.curve = (server_key, public_key, secret_key)
        self.rank = rank
        self.world = world
        self.timeout_ms = timeout_ms
        self.retries = retries
        self.not_ready_timeout_s = not_ready_timeout_s
        self._ctx = context or zmq.Context.instance()
        self._sock: Optional[zmq.Socket] = None
        self.info: Optional[Dict[str, Any]] = None  # the hello reply
        #: Longest pause between ``not_ready`` re-asks (they start at 5 ms and double).
        self.not_ready_max_delay_s = 0.5

    def clone(self) -> "MixloadClient":
        """A client with the same settings and its own socket (sockets are not thread-safe)."""
        c = MixloadClient(self.endpoint, rank=self.rank, world=self.world, timeout_ms=self.timeout_ms,
                          retries=self.retries, not_ready_timeout_s=self.not_ready_timeout_s, context=self._ctx)
        c.curve = self.curve
        c.info = self.info
        c.not_ready_max_delay_s = self.not_ready_max_delay_s
        return c

    # -- transport ---------------------------------------------------------------------

    def _socket(self) -> zmq.Socket:
        if self._sock is None:
            s = self._ctx.socket(zmq.DEALER)
            s.setsockopt(zmq.LINGER, 0)
            # After a refused handshake (wrong CURVE key) libzmq drops the pipe and a DEALER
            # with no pipe blocks on send forever; SNDTIMEO makes that a timeout like any other.
            s.setsockopt(zmq.SNDTIMEO, self.timeout_ms)
            if self.curve is not None:
                s.curve_serverkey = self.curve[0].encode()
                s.curve_publickey = self.curve[1].encode()
                s.curve_secretkey = self.curve[2].encode()
            s.connect(self.endpoint)
            self._sock = s
        return self._sock

    def _reset(self) -> None:
        if self._sock is not None:
            self._sock.close(linger=0)
            self._sock = None

    def close(self) -> None:
        self._reset()

    def __enter__(self) -> "MixloadClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def request(self, header: Dict[str, Any], frames: Sequence[bytes] = ()) -> Tuple[Dict[str, Any], List[Any]]:
        """Send one request; return ``(reply header, array frames)``. Raises :class:`MixloadError`
        on ``ok: false`` and :class:`MixloadTimeout` when every ask timed out; a field the
        protocol schema does not list raises :class:`UnknownFieldError` before anything is sent."""
        check_request(header)
        msg = [b"", msgpack.packb({"v": PROTOCOL_VERSION, **header}, use_bin_type=True), *frames]
        for attempt in range(self.retries + 1):
            sock = self._socket()
            try:
                sock.send_multipart(msg, copy=False)
            except zmq.Again:
                self._reset()
                continue
            if sock.poll(self.timeout_ms, zmq.POLLIN):
                reply = sock.recv_multipart(copy=False)
                # A DEALER receives the empty delimiter first, as REQ would strip it.
                if len(reply) >= 2 and len(reply[0].bytes) == 0:
                    reply = reply[1:]
                head = msgpack.unpackb(reply[0].bytes, raw=False)
                if not isinstance(head, dict):
                    raise MixloadError("bad_reply", f"reply header is a {type(head).__name__}, not a map")
                if head.get("ok") is not True:
                    err = head.get("error") or {}
                    raise MixloadError(str(err.get("code", "internal")), str(err.get("message", repr(head))))
                return head, list(reply[1:])
            self._reset()  # lazy pirate: drop the socket so a late reply cannot be misread
        raise MixloadTimeout(f"{header.get('op')} to {self.endpoint}: no reply in {self.retries + 1} × {self.timeout_ms} ms")

    # -- ops ---------------------------------------------------------------------------

    def hello(self) -> Dict[str, Any]:
        """Handshake: domains, seq_len, batch_size, next_step, vocab/eos/pad ids, weights, feedback_lag."""
        head, _ = self.request({"op": "hello", "rank": self.rank, "world": self.world})
        self.info = head
        return head

    @property
    def domains(self) -> List[str]:
        if self.info is None:
            self.hello()
        assert self.info is not None
        return list(self.info["domains"])

    def batch(self, step: int, stop: Optional[threading.Event] = None) -> Dict[str, Any]:
        """This rank's batch of ``step``: ``input_ids``, ``targets``, ``position_ids`` [B, L] int32,
        ``domain_ids`` [B, L] int16, ``cu_seqlens`` [S+1] int32 (read-only numpy arrays), plus
        ``step``, ``max_seqlen``, ``weights`` and ``weights_version`` from the header.
        ``stop``: an event that ends the ``not_ready`` retries early (the prefetch thread's close)."""
        delay, deadline = 0.005, time.monotonic() + self.not_ready_timeout_s
        while True:
            try:
                head, frames = self.request({"op": "batch", "step": int(step), "rank": self.rank})
                break
            except MixloadError as e:
                if e.code != "not_ready" or time.monotonic() + delay > deadline or (stop is not None and stop.is_set()):
                    raise
                time.sleep(delay)
                delay = min(delay * 2, self.not_ready_max_delay_s)
        out: Dict[str, Any] = dict(decode_arrays(head, frames))
        for k in ("step", "max_seqlen", "weights", "weights_version"):
            out[k] = head.get(k)
        return out

    def feedback(self, step: int, domains: Mapping[str, Mapping[str, float]], lr: Optional[float] = None,
                 all_ranks: bool = False, **optional: Mapping[str, float]) -> Dict[str, Any]:
        """Report this rank's per-domain losses for ``step``.

        ``domains`` is ``{name: {loss_sum, tokens}}`` (as :func:`feedback_from_losses` returns);
        optional signals (``OPTIONAL_SIGNALS``, read from the protocol schema: ``excess_loss_sum``,
        ``ref_loss_sum``, ``grad_alignment``, ``eval_loss``) may sit in each domain's entry or
        come as keyword maps ``{name: value}``. On the wire they are top-level maps with the same
        keys as ``domains``, as PROTOCOL.md specifies. Returns the reply (``complete`` is true
        once every rank has reported ``step``).

        ``all_ranks=True`` (PROTOCOL.md extension): ``domains`` is already reduced over every
        rank (:func:`mixload_client.reduce_feedback` does the all-reduce), and this one call
        completes the step; one rank sends it instead of every rank sending its own.

        A field the protocol does not have raises before anything is sent: an unknown keyword
        is a ``TypeError``, an unknown key in a domain entry an :class:`UnknownFieldError`."""
        unknown = sorted(set(optional) - set(OPTIONAL_SIGNALS))
        if unknown:
            raise TypeError(f"feedback(): unknown signal {unknown[0]!r} (signals: {', '.join(OPTIONAL_SIGNALS)})")
        core: Dict[str, Dict[str, float]] = {}
        extra: Dict[str, Dict[str, float]] = {k: {n: float(x) for n, x in v.items()} for k, v in optional.items()}
        for name, d in domains.items():
            for k in d:
                if k not in DOMAIN_FIELDS and k not in OPTIONAL_SIGNALS:
                    raise UnknownFieldError(f"domains.{name}.{k}", f"not a feedback field (fields: {', '.join(DOMAIN_FIELDS + OPTIONAL_SIGNALS)})")
            for k in DOMAIN_FIELDS:
                if k not in d:
                    raise ValueError(f"domains.{name}.{k}: missing")
            core[name] = {"loss_sum": float(d["loss_sum"]), "tokens": int(d["tokens"])}
            for k in OPTIONAL_SIGNALS:
                if k in d:
                    # The service rejects a signal given both ways; say so before sending.
                    if name in extra.get(k, {}):
                        raise ValueError(f"domains.{name}.{k}: given both in the domain entry and as the {k}= keyword")
                    extra.setdefault(k, {})[name] = float(d[k])
        header: Dict[str, Any] = {"op": "feedback", "step": int(step), "rank": self.rank, "domains": core}
        header.update(extra)
        if lr is not None:
            header["lr"] = float(lr)
        if all_ranks:
            header["all_ranks"] = True
        head, _ = self.request(header)
        return head

    def state(self, step: Optional[int] = None) -> Tuple[int, bytes]:
        """``(step, blob)``: the opaque resume state (``mixload serve --resume FILE``). With
        ``step`` (a step still in the service's window) the blob resumes there, e.g. the step a
        checkpoint was taken at while a prefetcher had fetched ahead."""
        head, frames = self.request({"op": "state"} if step is None else {"op": "state", "step": int(step)})
        arrays = decode_arrays(head, frames)
        return int(head["step"]), arrays["state"].tobytes()

    def stats(self) -> Dict[str, Any]:
        """Weights, achieved mix, tokens served, fill rate, documents and epochs per domain."""
        head, _ = self.request({"op": "stats"})
        return head

    def provenance(self, step: int, rank: Optional[int] = None) -> Dict[str, Any]:
        """(extension) Where every token of this rank's batch of ``step`` came from.

        One entry per document segment, as read-only numpy arrays of equal length named by the
        schema's ``provenance_arrays`` (``row``, ``col``, ``length``, ``domain``, ``source``,
        ``doc``, ``epoch``, ``offset``, ``doc_length``), plus ``sources`` (``[{file, unit}]``: the
        files ``source`` indexes; ``doc`` is a 1-based ``line``, a 0-based ``row`` or a 0-based
        ``document`` of that file), ``step`` and ``rank``. Token ``(row, col)`` of the batch is
        token ``offset + col - col[i]`` of document ``doc[i]`` for the segment ``i`` covering it
        (:func:`segment_at`). Only steps still in the service's window are answered; older ones
        raise ``step_out_of_range`` (``mixload provenance --log RUN_DIR`` rebuilds them offline)."""
        r = self.rank if rank is None else int(rank)
        head, frames = self.request({"op": "provenance", "step": int(step), "rank": r})
        arrays = decode_arrays(head, frames)
        missing = [a["name"] for a in PROVENANCE_ARRAYS if a["name"] not in arrays or arrays[a["name"]].dtype != DTYPES[a["dtype"]]]
        if missing:
            raise MixloadError("bad_reply", f"provenance reply: array(s) {missing} missing or of the wrong dtype")
        out: Dict[str, Any] = dict(arrays)
        out["sources"] = list(head["sources"])
        out["step"] = int(head["step"])
        out["rank"] = int(head["rank"])
        return out


def segment_at(prov: Mapping[str, Any], row: int, col: int) -> Optional[Dict[str, Any]]:
    """The segment of a :meth:`MixloadClient.provenance` reply covering token ``(row, col)``, as a
    dict with ``file``, ``unit``, ``doc``, ``domain`` (index), ``epoch`` and ``token_offset`` (the
    token's own offset inside its document); None on padding."""
    rows, cols, lengths = prov["row"], prov["col"], prov["length"]
    hit = np.nonzero((rows == row) & (cols <= col) & (col < cols + lengths))[0]
    if hit.size == 0:
        return None
    i = int(hit[0])
    src = prov["sources"][int(prov["source"][i])]
    return {"file": src["file"], "unit": src["unit"], "doc": int(prov["doc"][i]), "domain": int(prov["domain"][i]),
            "epoch": int(prov["epoch"][i]), "segment": i, "token_offset": int(prov["offset"][i]) + col - int(cols[i])}


class BatchPrefetcher:
    """This rank's batches in step order, each next one fetched in a background thread while the
    trainer computes (like ``DataLoader(prefetch_factor=...)``, for the service).

    With ``feedback_lag`` 2 (the default) batch s+1 depends on the feedback of step s-1, which
    every rank sent before asking for batch s, so ``depth=1`` hides the fetch behind step s.
    Until the last rank's feedback lands the service answers ``not_ready``; the thread re-asks
    every few ms, out of the trainer's way. It uses its own connection (``client.clone()``),
    so ``feedback()`` on the trainer's client never waits behind it.

        pf = BatchPrefetcher(client, start=info["next_step"], depth=1)
        for step in range(...):
            b = pf.next()        # step `pf.step - 1`
            ...                  # forward/backward, then client.feedback(b["step"], ...)
        pf.close()

    Resuming: with prefetch a rank has fetched ``depth`` steps more than it trained, so the
    service's ``next_step`` (and the state it writes at shutdown) is ahead of the trainer. Save
    ``client.state(step)`` with each checkpoint and resume from that blob, at that step.
    """

    def __init__(self, client: MixloadClient, start: int = 0, end: Optional[int] = None, depth: int = 1):
        if depth < 0:
            raise ValueError(f"depth must be >= 0, got {depth}")
        self.step = int(start)  # the step next() returns
        self._end = end
        self._depth = int(depth)
        self._client = client.clone()
        self._client.not_ready_max_delay_s = 0.01
        self._ready: Dict[int, Any] = {}  # step -> batch dict, or the exception fetching it raised
        self._want = self.step - 1  # the step a waiting next() needs (so depth 0 still fetches it)
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"mixload-prefetch-rank{client.rank}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        k = self.step
        try:
            while self._end is None or k < self._end:
                with self._cond:
                    # As the TypeScript BatchPrefetcher: once step s is handed out, steps up to
                    # s + depth may be fetched (self.step is s + 1 by then); and always the step
                    # a waiting next() needs.
                    while not self._stop.is_set() and k > max(self.step + self._depth - 1, self._want):
                        self._cond.wait()
                    if self._stop.is_set():
                        return
                try:
                    item: Any = self._client.batch(k, stop=self._stop)
                except MixloadError as e:
                    if self._stop.is_set():
                        return
                    # Fetched early, it may spend its not_ready budget before anyone needs it (a
                    # long step with feedback_lag 1): ask again unless the trainer is waiting on it.
                    if e.code in ("not_ready", "timeout") and k > self._want:
                        continue
                    item = e
                except Exception as e:  # handed to the trainer by next(), never lost in this thread
                    item = e
                with self._cond:
                    self._ready[k] = item
                    self._cond.notify_all()
                if isinstance(item, Exception):
                    return
                k += 1
        finally:
            self._client.close()

    def next(self) -> Dict[str, Any]:
        """The batch of step ``self.step`` (then ``self.step`` advances); raises what fetching it raised."""
        with self._cond:
            s = self.step
            if self._end is not None and s >= self._end:
                raise StopIteration
            self._want = s
            self._cond.notify_all()
            while s not in self._ready:
                if not self._thread.is_alive():
                    raise MixloadError("internal", f"prefetch thread ended before step {s}")
                self._cond.wait(0.1)
            item = self._ready.pop(s)
            self.step = s + 1
            self._cond.notify_all()
        if isinstance(item, Exception):
            raise item
        return item

    def close(self) -> None:
        with self._cond:
            self._stop.set()
            self._cond.notify_all()
        self._thread.join(timeout=self._client.timeout_ms / 1000 * (self._client.retries + 1) + 1)

