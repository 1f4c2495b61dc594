"""The wire protocol's field lists, read from ``protocol-schema.json`` at import.

That file is generated from the service's ``src/protocol/types.ts`` (it is
``docs/protocol-schema.json``, copied into this package so an installed client carries it;
a test in the repository fails when the two differ). The client takes every field name,
op, dtype and error code from it rather than from its own lists, so a signal added to the
protocol reaches Python by regenerating the file, and nothing the client does not know is
ever sent or silently dropped.
"""
from __future__ import annotations

import json
import pkgutil
from typing import Any, Dict, List, Mapping, Tuple

SCHEMA_FILE = "protocol-schema.json"


def _load() -> Dict[str, Any]:
    # pkgutil.get_data reads package data wherever the package lives (source tree, site-packages, zip).
    data = pkgutil.get_data(__package__ or "mixload_client", SCHEMA_FILE)
    if data is None:
        raise ImportError(f"mixload_client/{SCHEMA_FILE} is missing: the package was installed without its data; reinstall it (pip install ./clients/python)")
    return json.loads(data.decode("utf-8"))


SCHEMA: Dict[str, Any] = _load()

PROTOCOL_VERSION: int = int(SCHEMA["protocol_version"])
OPS: Tuple[str, ...] = tuple(SCHEMA["ops"])
ERROR_CODES: Tuple[str, ...] = tuple(SCHEMA["error_codes"])
DTYPE_NAMES: Tuple[str, ...] = tuple(SCHEMA["dtypes"])
#: Required fields of a feedback domain entry: ``loss_sum``, ``tokens``.
DOMAIN_FIELDS: Tuple[str, ...] = tuple(SCHEMA["feedback"]["domain_fields"])
#: Optional per-domain feedback signals (``ref_loss_sum``, ``excess_loss_sum``, ``grad_alignment``, ``eval_loss``, ...).
OPTIONAL_SIGNALS: Tuple[str, ...] = tuple(SCHEMA["feedback"]["optional_signals"])
#: The ``provenance`` reply's arrays, ``[{name, dtype}]`` in wire order (an extension op).
PROVENANCE_ARRAYS: Tuple[Dict[str, str], ...] = tuple(SCHEMA.get("provenance_arrays", ()))


class UnknownFieldError(ValueError):
    """A request field the protocol (this client's schema) does not have; ``field`` is its path."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


def request_fields(op: str) -> List[str]:
    """The fields a request of ``op`` may carry (``v`` and ``op`` included)."""
    if op not in SCHEMA["requests"]:
        raise UnknownFieldError("op", f"unknown op {op!r} (known: {', '.join(OPS)})")
    return list(SCHEMA["requests"][op])


def check_request(header: Mapping[str, Any]) -> None:
    """Refuse a request with a field the protocol does not list (the service would ignore some
    and reject others; either way the sender's intent would be lost). Values are the service's
    to check, so its error codes stay the single source for those."""
    op = header.get("op")
    if not isinstance(op, str):
        raise UnknownFieldError("op", f"missing or not a string: {op!r}")
    known = request_fields(op)
    for key in header:
        if key not in known:
            raise UnknownFieldError(key, f"not a field of a {op} request (fields: {', '.join(known)})")
    if op == "feedback" and isinstance(header.get("domains"), Mapping):
        entry_fields = DOMAIN_FIELDS + OPTIONAL_SIGNALS
        for name, entry in header["domains"].items():
            if not isinstance(entry, Mapping):
                continue  # the service names a mistyped entry itself (bad_request)
            for key in entry:
                if key not in entry_fields:
                    raise UnknownFieldError(f"domains.{name}.{key}", f"not a feedback field (fields: {', '.join(entry_fields)})")
