"""JSON in and out, fast where it can be and exact where it must be.

Decoding every response body and encoding every stored payload is a large
part of a backfill's CPU, so both go through orjson, which does each several
times faster than the standard library. orjson is stricter in three ways,
and the standard library takes over for each, so nothing is lost or refused
that was accepted before:

- integers beyond 64 bits, which orjson would read as floats: a body with a
  run of 19 or more digits anywhere is decoded by the standard library;
- ``NaN`` and ``Infinity``, and lone surrogate escapes, which orjson refuses
  to read: such a body is decoded by the standard library, and each lone
  surrogate (half of a UTF-16 pair, not a character) becomes U+FFFD, since
  neither SQLite's UTF-8 nor PostgreSQL's ``jsonb`` can hold one;
- values orjson cannot write (integers beyond 64 bits, strings with lone
  surrogates) are written by the standard library, escaped to ASCII.

Non-finite floats are written as ``null``, which every JSON reader accepts
(PostgreSQL's ``jsonb`` refuses ``NaN``).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

# Every digit becomes "0" and everything else a space, so that a run of
# digits long enough to be an integer beyond 64 bits is found by a plain
# substring search (a regular expression takes ten times as long).
_DIGITS_ONLY = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_LONG_RUN = b"0" * 19


def loads(data: bytes | str) -> Any:
    """Decode a JSON document.

    Raises:
        ValueError: the text is not JSON.
    """
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    if _LONG_RUN not in data.translate(_DIGITS_ONLY):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    value = json.loads(data)
    return _mended(value) if b"\\u" in data or b"\xed" in data else value


def _mended(value: Any) -> Any:
    """``value`` with every lone surrogate in its strings replaced by U+FFFD."""
    if isinstance(value, str):
        paired = value.encode("utf-16", "surrogatepass")
        return paired.decode("utf-16", "replace")
    if isinstance(value, list):
        return [_mended(item) for item in value]
    if isinstance(value, dict):
        return {_mended(key): _mended(item) for key, item in value.items()}
    return value


def dumps(value: Any) -> str:
    """Encode ``value`` as compact JSON text, non-ASCII characters as they are."""
    return encode(value).decode()


def encode(value: Any) -> bytes:
    """Encode ``value`` as compact UTF-8 JSON."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":")).encode()
