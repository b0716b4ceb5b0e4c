"""Deterministic ids: short hashes of stable content, so a re-run gives the same ids."""

from __future__ import annotations

import hashlib

__all__ = ["content_hash", "stable_id"]

_SEPARATOR = "\x1f"


def stable_id(prefix: str, *parts: object) -> str:
    """Return ``prefix`` + a 20-hex-digit SHA-1 of ``parts`` (joined unambiguously).

    >>> stable_id("doc", "a.txt") == stable_id("doc", "a.txt")
    True
    >>> stable_id("doc", "a", "b") != stable_id("doc", "ab")
    True
    """
    joined = _SEPARATOR.join(str(part) for part in parts)
    digest = hashlib.sha1(joined.encode("utf-8"), usedforsecurity=False).hexdigest()
    return f"{prefix}_{digest[:20]}"


def content_hash(text: str) -> str:
    """SHA-256 of a document's text (the ledger's change detector)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
