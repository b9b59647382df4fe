"""The shared secret that authenticates sidecar samples and worker records to the master."""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from typing import Final

from qi_load.errors import QiLoadError

__all__ = ["INGEST_KEY_ENV", "MIN_KEY_BYTES", "ingest_key", "sign", "verify"]

INGEST_KEY_ENV: Final = "QI_LOAD_INGEST_KEY"
"""Environment variable holding the key (in Kubernetes: from the Secret ``qi-load-ingest``)."""
MIN_KEY_BYTES: Final = 16


def ingest_key(environ: Mapping[str, str] = os.environ) -> bytes | None:
    """The key from the environment; None when unset (then nothing is signed or required).

    A key too short to resist guessing is refused rather than silently weak.
    """
    text = environ.get(INGEST_KEY_ENV, "").strip()
    if not text:
        return None
    key = text.encode()
    if len(key) < MIN_KEY_BYTES:
        raise QiLoadError(f"{INGEST_KEY_ENV}: at least {MIN_KEY_BYTES} characters required")
    return key


def sign(key: bytes, body: bytes) -> str:
    """HMAC-SHA256 of ``body`` as hex."""
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def verify(key: bytes, body: bytes, mac: object) -> bool:
    """True when ``mac`` is ``sign(key, body)`` (constant-time comparison)."""
    return isinstance(mac, str) and hmac.compare_digest(sign(key, body), mac)
