"""The process-wide logging setup: rendering, levels, and redaction."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from mirror.logs import TOKEN_PATTERN, configure_logging, redact, register_secret

LIBRARIES = ("httpx", "httpcore", "sqlalchemy", "alembic")
UNREGISTERED_TOKEN = "pk_live_Zx9-Yw8_Vu7"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Undo every test's logging setup, so other tests see the defaults."""
    root = logging.getLogger()
    handlers = list(root.handlers)
    levels = {name: logging.getLogger(name).level for name in ("", *LIBRARIES)}

    yield

    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
        handler.close()
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def json_events(stream: io.StringIO) -> list[dict[str, Any]]:
    """Parse what was written to ``stream`` as one JSON object per line."""
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def read_terminal(master: int) -> str:
    """Everything written so far to the terminal whose master end is given."""
    return os.read(master, 65536).decode("utf-8")


def raise_and_log(message: str) -> None:
    """Raise an error with ``message`` and log it with log.exception."""
    try:
        raise RuntimeError(message)
    except RuntimeError:
        structlog.get_logger("mirror.test").exception("test.failed")


def test_json_lines_when_stream_is_not_a_terminal() -> None:
    """Off a terminal, each event is one JSON object carrying its fields."""
    stream = io.StringIO()
    configure_logging(stream=stream)

    structlog.get_logger("mirror.sync").info("sweep.finished", recordings=3)
    structlog.get_logger("mirror.sync").warning("api.retry_scheduled", note="a\nb")

    first, second = json_events(stream)
    assert list(first) == ["timestamp", "level", "logger", "event", "recordings"]
    assert first["event"] == "sweep.finished"
    assert first["level"] == "info"
    assert first["logger"] == "mirror.sync"
    assert first["recordings"] == 3
    assert second["note"] == "a\nb"


def test_timestamp_is_iso_utc() -> None:
    """The timestamp is ISO 8601 in UTC."""
    stream = io.StringIO()
    configure_logging(log_format="json", stream=stream)

    structlog.get_logger().info("test.event")

    (event,) = json_events(stream)
    timestamp = datetime.fromisoformat(event["timestamp"])
    assert timestamp.utcoffset() == timedelta(0)


def test_console_rendering_when_forced() -> None:
    """log_format=console renders for humans, without colour off a terminal."""
    stream = io.StringIO()
    configure_logging(log_format="console", stream=stream)

    structlog.get_logger("mirror.sync").info("sweep.finished", recordings=3)

    text = stream.getvalue()
    assert "sweep.finished" in text
    assert "recordings=3" in text
    assert "\x1b[" not in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


def test_console_rendering_on_a_terminal() -> None:
    """On a terminal, auto picks the console renderer, in colour."""
    master, replica = os.openpty()
    with os.fdopen(replica, "w") as terminal:
        configure_logging(stream=terminal)
        structlog.get_logger().info("sweep.finished", recordings=3)
        terminal.flush()
        text = read_terminal(master)
    os.close(master)

    assert "sweep.finished" in text
    assert "\x1b[" in text
    assert not text.lstrip().startswith("{")


def test_json_when_forced_on_a_terminal() -> None:
    """log_format=json writes JSON even to a terminal."""
    master, replica = os.openpty()
    with os.fdopen(replica, "w") as terminal:
        configure_logging(log_format="json", stream=terminal)
        structlog.get_logger().info("sweep.finished")
        terminal.flush()
        text = read_terminal(master)
    os.close(master)

    assert json.loads(text)["event"] == "sweep.finished"


def test_default_stream_is_standard_error(capsys: pytest.CaptureFixture[str]) -> None:
    """Without a stream, events go to standard error."""
    configure_logging(log_format="json")

    structlog.get_logger().info("test.event")

    captured = capsys.readouterr()
    assert captured.out == ""
    assert json.loads(captured.err)["event"] == "test.event"


def test_info_by_default() -> None:
    """DEBUG events are dropped unless verbose."""
    stream = io.StringIO()
    configure_logging(stream=stream)

    structlog.get_logger().debug("test.detail")
    structlog.get_logger().info("test.summary")

    assert [event["event"] for event in json_events(stream)] == ["test.summary"]


def test_verbose_enables_debug() -> None:
    """verbose=True lets DEBUG events through."""
    stream = io.StringIO()
    configure_logging(verbose=True, stream=stream)

    structlog.get_logger().debug("test.detail", item=1)

    (event,) = json_events(stream)
    assert event["level"] == "debug"
    assert event["item"] == 1


def test_stdlib_records_are_rendered_as_json() -> None:
    """Standard-library records are rendered like events, message as event."""
    stream = io.StringIO()
    configure_logging(stream=stream)

    logging.getLogger("alembic.runtime.migration").info("Running upgrade -> %s", "1")

    (event,) = json_events(stream)
    assert event["event"] == "Running upgrade -> 1"
    assert event["logger"] == "alembic.runtime.migration"
    assert event["level"] == "info"
    assert "timestamp" in event


def test_stdlib_exception_is_formatted() -> None:
    """A standard-library record's traceback lands in the event's exception."""
    stream = io.StringIO()
    configure_logging(stream=stream)

    try:
        raise ValueError("broken")
    except ValueError:
        logging.getLogger("apscheduler.executors").exception("Job failed")

    (event,) = json_events(stream)
    assert event["level"] == "error"
    assert event["exception"].startswith("Traceback (most recent call last):")
    assert event["exception"].endswith("ValueError: broken")


def test_httpx_is_quiet_unless_verbose() -> None:
    """httpx and httpcore INFO chatter shows only when verbose."""
    stream = io.StringIO()
    configure_logging(stream=stream)
    logging.getLogger("httpx").info("HTTP Request: GET /")
    logging.getLogger("httpcore.connection").info("connect_tcp.started")
    logging.getLogger("httpx").warning("worth seeing")

    configure_logging(verbose=True, stream=stream)
    logging.getLogger("httpx").info("HTTP Request: GET /again")

    events = [event["event"] for event in json_events(stream)]
    assert events == ["worth seeing", "HTTP Request: GET /again"]


def test_sqlalchemy_statements_stay_hidden_when_verbose() -> None:
    """SQL statements (and their parameters) are not logged even when verbose."""
    stream = io.StringIO()
    configure_logging(verbose=True, stream=stream)

    logging.getLogger("sqlalchemy.engine.Engine").info("SELECT 1")

    assert stream.getvalue() == ""


def test_context_is_bound_once_for_both_kinds_of_record() -> None:
    """Context bound with contextvars appears on structlog and stdlib records."""
    stream = io.StringIO()
    configure_logging(stream=stream)

    structlog.contextvars.bind_contextvars(sweep="hourly")
    structlog.get_logger().info("sweep.started")
    logging.getLogger("httpx").warning("slow")

    assert [event["sweep"] for event in json_events(stream)] == ["hourly", "hourly"]


def test_configuring_twice_keeps_one_handler() -> None:
    """A second call replaces the first setup instead of doubling output."""
    first, second = io.StringIO(), io.StringIO()
    configure_logging(stream=first)
    configure_logging(stream=second)

    structlog.get_logger().info("test.event")

    assert first.getvalue() == ""
    assert len(json_events(second)) == 1


def test_registered_secret_never_appears() -> None:
    """A registered secret is scrubbed from fields, nesting, names and tracebacks."""
    secret = "s3cr3t-Value-0451"
    register_secret(secret)
    stream = io.StringIO()
    configure_logging(stream=stream)
    log = structlog.get_logger("mirror.test")

    log.info(f"event.{secret}", header=f"x {secret} y", nested={"a": [secret]})
    logging.getLogger("httpx").warning("sent %s", secret)
    raise_and_log(f"failed with {secret}")

    text = stream.getvalue()
    assert secret not in text
    assert text.count("[redacted]") == 5
    assert json_events(stream)[0]["nested"] == {"a": ["[redacted]"]}


def test_unregistered_pocket_token_never_appears() -> None:
    """Anything shaped like a Pocket token is scrubbed, registered or not."""
    stream = io.StringIO()
    configure_logging(stream=stream)
    log = structlog.get_logger("mirror.test")

    log.info("test.event", token=UNREGISTERED_TOKEN, pair=("x", UNREGISTERED_TOKEN))
    log.info("test.event", client=Leaky(UNREGISTERED_TOKEN))
    raise_and_log(f"refused {UNREGISTERED_TOKEN}")

    text = stream.getvalue()
    assert UNREGISTERED_TOKEN not in text
    assert "pk_live" not in text
    assert "[redacted]" in json_events(stream)[2]["exception"]


def test_token_in_console_traceback_never_appears() -> None:
    """The console renderer's tracebacks are scrubbed as well."""
    register_secret("console-secret-77")
    stream = io.StringIO()
    configure_logging(log_format="console", stream=stream)

    raise_and_log(f"bad {UNREGISTERED_TOKEN} and console-secret-77")

    text = stream.getvalue()
    assert "Traceback (most recent call last)" in text
    assert UNREGISTERED_TOKEN not in text
    assert "console-secret-77" not in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc.def-123", "Authorization: [redacted]"),
        ("{'authorization': 'Basic dXNlcjpw'}", "{'authorization': '[redacted]'}"),
        (
            "headers=[('Authorization', 'x')]",
            "headers=[('Authorization', '[redacted]')]",
        ),
        ("sent Bearer eyJhbGciOi.x.y now", "sent Bearer [redacted] now"),
        ("a pk_abcdef token", "a [redacted] token"),
        ("a pk_abc short one", "a pk_abc short one"),
    ],
)
def test_redact_scrubs_authorization_values(text: str, expected: str) -> None:
    """Authorization header values, bearer credentials and tokens are scrubbed."""
    assert redact(text) == expected


def test_blank_secret_is_ignored() -> None:
    """Registering an empty or blank secret does not scrub every space."""
    register_secret("")
    register_secret("   ")

    assert redact("a b  c") == "a b  c"


@given(
    before=st.text(),
    body=st.text(alphabet="abcXYZ019_-", min_size=6),
    after=st.text(),
)
def test_no_pocket_token_survives_redaction(before: str, body: str, after: str) -> None:
    """Whatever surrounds a Pocket token, none is left after redaction."""
    redacted = redact(before + "pk_" + body + after)

    assert TOKEN_PATTERN.search(redacted) is None


class Leaky:
    """An object whose repr reveals a credential, as careless ones do."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __repr__(self) -> str:
        return f"Leaky(token={self.token!r})"
