"""JSON through orjson, and the standard library wherever orjson would differ."""

from __future__ import annotations

import json
import math

import pytest
from sqlalchemy import select

from mirror import jsoncodec
from mirror.emulator import Emulator
from mirror.store import schema
from mirror.store.database import Database
from tests.mirror_state import held
from tests.test_backfill import backfill

BIG = 2**70


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            b'{"a": 1, "b": [1.5, "x", null, true]}',
            {"a": 1, "b": [1.5, "x", None, True]},
        ),
        ('{"é": "ü"}', {"é": "ü"}),
        (f'{{"id": {BIG}}}'.encode(), {"id": BIG}),
        (b'{"n": -9223372036854775809}', {"n": -9223372036854775809}),
        (b'{"n": 18446744073709551615}', {"n": 18446744073709551615}),
        (b'{"a": 1, "a": 2}', {"a": 2}),
    ],
)
def test_loads_reads_what_the_standard_library_reads(
    text: bytes | str, expected: object
) -> None:
    """Exactly, big integers included (orjson alone would make them floats)."""
    decoded = jsoncodec.loads(text)
    assert decoded == expected
    assert decoded == json.loads(text)
    assert [type(v) for v in decoded.values()] == [type(v) for v in expected.values()]  # type: ignore[attr-defined]


def test_loads_accepts_what_only_the_standard_library_does() -> None:
    """NaN is read, as before; a lone surrogate is read as U+FFFD."""
    decoded = jsoncodec.loads(
        b'{"d": NaN, "i": -Infinity, "s": "a\\ud800b", "pair": "\\ud83d\\ude00"}'
    )

    assert math.isnan(decoded["d"])
    assert decoded["i"] == -math.inf
    assert decoded["s"] == "a\ufffdb"
    assert decoded["pair"] == "\N{GRINNING FACE}"
    assert jsoncodec.loads('["\ud800", {"\udfff": "\ud55c"}]') == [
        "\ufffd",
        {"\ufffd": "\ud55c"},
    ]


@pytest.mark.parametrize("text", [b"", b"{", b"<html>", b'{"a": 1} x', b"\xff\xfe"])
def test_loads_refuses_what_is_not_json(text: bytes) -> None:
    with pytest.raises(ValueError):
        jsoncodec.loads(text)


def test_dumps_writes_json_every_reader_accepts() -> None:
    """Compact, unescaped; NaN as null; big ints and surrogates still written."""
    assert jsoncodec.dumps({"a": [1, "é"]}) == '{"a":[1,"é"]}'
    assert jsoncodec.dumps({"d": math.nan, "i": math.inf}) == '{"d":null,"i":null}'
    assert json.loads(jsoncodec.dumps({"id": BIG})) == {"id": BIG}
    assert json.loads(jsoncodec.dumps({"s": "\ud800"})) == {"s": "\ud800"}
    assert jsoncodec.encode({"a": "é"}) == '{"a":"é"}'.encode()


def test_payload_values_orjson_cannot_hold_reach_the_mirror_exactly(
    emulator: Emulator, database: Database
) -> None:
    """A big integer is stored exactly; a lone surrogate as U+FFFD, not a crash."""
    record = emulator.new_recording(
        title="half \ud83d of a pair", extra={"big_id": BIG, "odd": "a\ud800b"}
    )

    report = backfill(emulator, database)

    assert report.outcome == "succeeded"
    with database.read() as conn:
        raw = conn.execute(
            select(schema.recordings.c.raw).where(schema.recordings.c.id == record.id)
        ).scalar_one()
    assert raw["big_id"] == BIG
    assert raw["odd"] == "a\ufffdb"
    assert held(database)[record.id]["title"] == "half \ufffd of a pair"
