"""One logging setup for the whole process, with secrets scrubbed out.

Library modules only ever call ``structlog.get_logger(__name__)`` and emit
events; the command line's entry point calls :func:`configure_logging` once.
Events from structlog and records from the standard library (httpx, alembic,
APScheduler, SQLAlchemy) leave through the same handler on the root logger,
rendered either as JSON lines (for journald and log shippers) or for a human
at a terminal.

Every event is redacted twice: its values before rendering, and the rendered
text after, so that neither a field, a traceback nor a library's message can
carry a token out. Tracebacks are rendered as plain text for the same reason:
a pretty renderer would wrap long lines and could split a secret where no
pattern finds it.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Callable
from typing import Any, Final, Literal, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

TOKEN_PATTERN: Final = re.compile(r"pk_[A-Za-z0-9_\-]{6,}")
REDACTED: Final = "[redacted]"

_BEARER = re.compile(r"\bBearer\s+[^\s'\",;]+")
_AUTHORIZATION = re.compile(r"(?i)(\bauthorization['\"]?\s*[:=,]\s*['\"]?)[^'\"\r\n]+")

# Libraries that chatter at INFO about every request; their details are
# only wanted when the user asks for them.
_CHATTY_LIBRARIES: Final = ("httpx", "httpcore")

# SQLAlchemy logs every statement, with its parameters, at INFO and DEBUG.
_ALWAYS_QUIET: Final = ("sqlalchemy",)

_LEADING_KEYS: Final = ("timestamp", "level", "logger", "event")

_secrets: set[str] = set()
_secrets_lock = threading.Lock()


class _MirrorHandler(logging.StreamHandler[TextIO]):
    """The root handler this module installs, told apart so it can be replaced."""


def register_secret(value: str) -> None:
    """Scrub ``value`` from every event from now on (blank values are ignored)."""
    if not value.strip():
        return

    with _secrets_lock:
        _secrets.add(value)


def redact(text: str) -> str:
    """Return ``text`` with registered secrets, Pocket tokens and
    Authorization header values replaced by ``[redacted]``."""
    with _secrets_lock:
        secrets = sorted(_secrets, key=len, reverse=True)

    for secret in secrets:
        text = text.replace(secret, REDACTED)

    text = TOKEN_PATTERN.sub(REDACTED, text)
    text = _BEARER.sub(f"Bearer {REDACTED}", text)
    return _AUTHORIZATION.sub(rf"\g<1>{REDACTED}", text)


def configure_logging(
    *,
    log_format: Literal["auto", "json", "console"] = "auto",
    verbose: bool = False,
    stream: TextIO | None = None,
) -> None:
    """Send structlog events and standard-library records to ``stream``.

    Args:
        log_format: ``json`` for one JSON object per line, ``console`` for
            structlog's console renderer, ``auto`` for console on a terminal
            and JSON otherwise.
        verbose: log at DEBUG, including httpx and httpcore, instead of INFO.
        stream: where to write; standard error by default.

    Calling it again replaces the previous setup.
    """
    output = stream if stream is not None else sys.stderr
    renderer = _choose_renderer(log_format, output)

    _install_handler(output, renderer)
    _set_levels(verbose)
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


def _shared_processors() -> list[Processor]:
    """What every event gets, whether from structlog or the standard library."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
        structlog.processors.StackInfoRenderer(),
    ]


def _choose_renderer(
    log_format: Literal["auto", "json", "console"], stream: TextIO
) -> Processor:
    on_terminal = _is_terminal(stream)
    if log_format == "json" or (log_format == "auto" and not on_terminal):
        return structlog.processors.JSONRenderer()

    return structlog.dev.ConsoleRenderer(colors=on_terminal)


def _install_handler(stream: TextIO, renderer: Processor) -> None:
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _redact_event,
            _lead_with_essentials,
            _redacting(renderer),
        ],
    )
    handler = _MirrorHandler(stream)
    handler.setFormatter(formatter)

    root = logging.getLogger()
    for previous in [h for h in root.handlers if isinstance(h, _MirrorHandler)]:
        root.removeHandler(previous)
    root.addHandler(handler)


def _set_levels(verbose: bool) -> None:
    logging.getLogger().setLevel(logging.DEBUG if verbose else logging.INFO)

    for name in _CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.WARNING)

    for name in _ALWAYS_QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)


def _redact_event(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    """Redact every string in the event, however deeply nested."""
    return {key: _redact_value(value) for key, value in event.items()}


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(item) for item in value]
    return value


def _lead_with_essentials(
    logger: WrappedLogger, method: str, event: EventDict
) -> EventDict:
    """Put the fields a reader scans for first, so JSON lines read alike."""
    lead = {key: event[key] for key in _LEADING_KEYS if key in event}
    return lead | {key: value for key, value in event.items() if key not in lead}


def _redacting(renderer: Processor) -> Callable[[WrappedLogger, str, EventDict], str]:
    """Wrap ``renderer`` so its output is redacted too: a field that was not
    a string (an object whose repr holds a token) is only text by now."""

    def render(logger: WrappedLogger, method: str, event: EventDict) -> str:
        rendered = renderer(logger, method, event)
        if isinstance(rendered, bytes):
            rendered = rendered.decode("utf-8", errors="replace")
        return redact(str(rendered))

    return render


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except ValueError:
        return False
