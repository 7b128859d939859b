"""Reading and checking the TOML configuration file.

The configuration is a public contract: every key is documented in
``config.example.toml``, and this module is the only place that interprets
it. It collects every problem it finds and raises them together in one
:class:`~mirror.errors.ConfigError`, so that a user fixes a file in one pass
instead of one error per run.

The API token never lives in the file. It is read at the last moment by
:func:`read_token` from a file, a systemd credential or an environment
variable, and a file that seems to hold one is refused.

Each section is one frozen dataclass and one small reader function over a
:class:`_Section`, which records the keys it was asked for: whatever is left
unread is a typo and is reported by name. Tables that other parts of the
program own (``[sweeps.NAME]``, ``[daemon]``) are kept as raw dicts in
:attr:`Settings.extra`; the sweep tiers are checked by :func:`sweep_tiers`
when a command that sweeps reads them.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import os
import re
import stat
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final
from urllib.parse import urlsplit

import structlog
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from mirror.errors import ConfigError
from mirror.logs import TOKEN_PATTERN

log = structlog.get_logger(__name__)

CONFIG_ENV: Final = "POCKET_MIRROR_CONFIG"
DEFAULT_CONFIG_PATH: Final = Path("config.toml")
DEFAULT_BASE_URL: Final = "https://public.heypocketai.com"
DEFAULT_TOKEN_ENV: Final = "POCKET_API_TOKEN"
DEFAULT_DATABASE_URL: Final = "sqlite:///pocket-mirror.db"
CREDENTIAL_NAME: Final = "pocket-token"

RAW_SECTIONS: Final = ("sweeps", "daemon")

_TOKEN_ADVICE: Final = (
    "put the token in the environment variable named by api.token_env, "
    "or in api.token_file"
)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DATABASE_BACKENDS: Final = ("sqlite", "postgresql")
_MISSING: Final = object()


@dataclass(frozen=True, slots=True)
class ApiSettings:
    """How to reach the Pocket API, and how hard to lean on it."""

    base_url: str
    org_id: str
    token_env: str
    token_file: Path | None
    concurrency: int
    timeout_seconds: float
    max_attempts: int
    max_retry_after_seconds: float


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    """Where the mirror lives: a SQLAlchemy URL.

    A relative SQLite path (``sqlite:///pocket-mirror.db``) is relative to
    the working directory of the process, not to the configuration file.
    """

    url: str


@dataclass(frozen=True, slots=True)
class SyncSettings:
    """How every sweep behaves.

    Attributes:
        mass_delete_min: with ``mass_delete_fraction``, the mass-delete
            guard: refuse when more than this many recordings and more than
            that share of the range would be marked deleted at once.
        mass_delete_fraction: see ``mass_delete_min``.
        processing_age_hours: a recording younger than this whose transcript
            or summary is still missing has its detail fetched on every sweep.
        rolling_refresh_fraction: the share of live recordings, longest
            unrefreshed first, whose detail the full tier fetches again.
    """

    mass_delete_min: int
    mass_delete_fraction: float
    processing_age_hours: float = 48.0
    rolling_refresh_fraction: float = 0.02


@dataclass(frozen=True, slots=True)
class TierSettings:
    """One sweep tier: how far back it reaches and how often it runs.

    Attributes:
        name: the tier's name, as in ``[sweeps.NAME]``.
        interval_minutes: how long after one run the next one is due.
        reach_days: how many days back from today it sweeps; None is all of
            history.
        window_days: the length of the windows the reach is cut into, newest
            first; None sweeps the reach as one window.
    """

    name: str
    interval_minutes: float
    reach_days: int | None
    window_days: int | None


@dataclass(frozen=True, slots=True)
class Settings:
    """The whole configuration, checked.

    Attributes:
        source: the file it was read from.
        extra: tables owned by other parts of the program (``sweeps``,
            ``daemon``), exactly as written and not yet checked.
    """

    api: ApiSettings
    database: DatabaseSettings
    sync: SyncSettings
    source: Path
    extra: Mapping[str, Any]


def config_path(option: str | None, environ: Mapping[str, str]) -> Path:
    """Choose the configuration file: the ``--config`` option, else
    ``$POCKET_MIRROR_CONFIG``, else ``./config.toml``."""
    if option:
        return Path(option)

    from_environment = environ.get(CONFIG_ENV, "")
    if from_environment:
        return Path(from_environment)

    return DEFAULT_CONFIG_PATH


def load_settings(path: Path, environ: Mapping[str, str] = os.environ) -> Settings:
    """Read, check and return the configuration in ``path``.

    ``environ`` supplies ``HOME`` for a ``~`` in ``api.token_file``.

    Raises:
        ConfigError: listing every problem found, with ``source`` = the path.
    """
    document = _read_document(path)
    _warn_if_readable(path, stat.S_IRWXO)
    return _settings_from_document(document, path, environ)


def settings_for(
    *,
    base_url: str,
    org_id: str,
    database_url: str,
    token_env: str = DEFAULT_TOKEN_ENV,
    source: Path = Path("<built-in>"),
) -> Settings:
    """Build settings in code (for the demo), checked like a file would be;
    everything not named takes its documented default.

    Raises:
        ConfigError: if a value given would be refused in a file.
    """
    document = {
        "api": {"base_url": base_url, "org_id": org_id, "token_env": token_env},
        "database": {"url": database_url},
    }
    return _settings_from_document(document, source, {})


def read_token(api: ApiSettings, environ: Mapping[str, str] = os.environ) -> str:
    """Return the API token, stripped of surrounding whitespace.

    Looks in ``api.token_file`` when it is set; otherwise in the file
    ``pocket-token`` of ``$CREDENTIALS_DIRECTORY`` (systemd's
    ``LoadCredential=``) when there is one; otherwise in the environment
    variable named by ``api.token_env``.

    Raises:
        ConfigError: the token is missing or empty; says where it looked.
    """
    if api.token_file is not None:
        return _token_from_file(api.token_file, "api.token_file")

    credential = _credential_file(environ)
    if credential is not None:
        return _token_from_file(credential, "$CREDENTIALS_DIRECTORY")

    return _token_from_environment(api.token_env, environ)


class _Section:
    """One table of the document, read key by key.

    Each accessor records the key it was asked for, present or not, and
    returns a usable value even when the one written is wrong, so reading
    continues and every problem is found in one pass.
    """

    def __init__(self, name: str, table: Mapping[str, Any], problems: list[str]):
        self.name = name
        self.problems = problems
        self._table = table
        self._known: list[str] = []

    def has(self, key: str) -> bool:
        """Whether ``key`` is written in the table."""
        return key in self._table

    def problem(self, text: str) -> None:
        """Record a problem found in this section."""
        self.problems.append(text)

    def text(self, key: str, default: str | None = None) -> str:
        """A non-empty string; without a default, the key is required."""
        value = self._take(key)
        if value is _MISSING:
            if default is None:
                self.problem(f"{self.name}.{key} is required but missing")
            return default or ""

        if not isinstance(value, str) or not value.strip():
            self._wrong(key, "a non-empty string", value)
            return default or ""

        return value.strip()

    def integer(
        self, key: str, default: int, *, at_least: int, at_most: int | None = None
    ) -> int:
        """A whole number within bounds (booleans are not numbers here)."""
        value = self._take(key)
        if value is _MISSING:
            return default

        wanted = _range_text("a whole number", at_least, at_most)
        if isinstance(value, bool) or not isinstance(value, int):
            self._wrong(key, wanted, value)
            return default

        if value < at_least or (at_most is not None and value > at_most):
            self._wrong(key, wanted, value)
            return default

        return value

    def number(
        self,
        key: str,
        default: float,
        *,
        above: float | None = None,
        at_least: float | None = None,
        at_most: float | None = None,
    ) -> float:
        """A finite number (integer or float) within bounds."""
        value = self._take(key)
        if value is _MISSING:
            return default

        wanted = _number_text(above, at_least, at_most)
        if not _is_finite_number(value):
            self._wrong(key, wanted, value)
            return default

        number = float(value)
        if not _within(number, above, at_least, at_most):
            self._wrong(key, wanted, value)
            return default

        return number

    def path(self, key: str, environ: Mapping[str, str]) -> Path | None:
        """A file path, with a leading ``~`` expanded from ``HOME``."""
        value = self._take(key)
        if value is _MISSING:
            return None

        if not isinstance(value, str) or not value.strip():
            self._wrong(key, "a path to a file", value)
            return None

        return _expand_home(value.strip(), environ)

    def knows(self, key: str) -> bool:
        """Whether ``key`` is one this section reads."""
        return key in self._known

    def report_unknown_keys(self) -> None:
        """Name every key written but never asked for, with a likely fix."""
        for key in self._table:
            if key not in self._known and not _is_token_key(key):
                self.problem(_unknown(f"key {self.name}.{key}", key, self._known))

    def _take(self, key: str) -> Any:
        self._known.append(key)
        return self._table.get(key, _MISSING)

    def _wrong(self, key: str, wanted: str, value: Any) -> None:
        self.problem(f"{self.name}.{key} must be {wanted}, not {_describe(value)}")


def _read_api(section: _Section, environ: Mapping[str, str]) -> ApiSettings:
    token_env = section.text("token_env", DEFAULT_TOKEN_ENV)
    token_file = section.path("token_file", environ)
    _check_token_source(section, token_env)

    return ApiSettings(
        base_url=_check_base_url(section, section.text("base_url", DEFAULT_BASE_URL)),
        org_id=section.text("org_id"),
        token_env=token_env,
        token_file=token_file,
        concurrency=section.integer("concurrency", 8, at_least=1, at_most=64),
        timeout_seconds=section.number("timeout_seconds", 30.0, above=0),
        max_attempts=section.integer("max_attempts", 6, at_least=1, at_most=20),
        max_retry_after_seconds=section.number(
            "max_retry_after_seconds", 120.0, above=0
        ),
    )


def _read_database(section: _Section) -> DatabaseSettings:
    url = section.text("url", DEFAULT_DATABASE_URL)
    _check_database_url(section, url)
    return DatabaseSettings(url=url)


def _read_sync(section: _Section) -> SyncSettings:
    return SyncSettings(
        mass_delete_min=section.integer("mass_delete_min", 10, at_least=0),
        mass_delete_fraction=section.number(
            "mass_delete_fraction", 0.05, at_least=0, at_most=1
        ),
        processing_age_hours=section.number("processing_age_hours", 48.0, at_least=0),
        rolling_refresh_fraction=section.number(
            "rolling_refresh_fraction", 0.02, at_least=0, at_most=1
        ),
    )


DEFAULT_TIERS: Final = (
    TierSettings("hot", interval_minutes=10, reach_days=3, window_days=None),
    TierSettings("warm", interval_minutes=360, reach_days=45, window_days=None),
    TierSettings("full", interval_minutes=1440, reach_days=None, window_days=90),
)


def sweep_tiers(settings: Settings) -> tuple[TierSettings, ...]:
    """The sweep tiers of ``[sweeps.NAME]``, checked, in the order written.

    Without any ``[sweeps]`` table the tiers are :data:`DEFAULT_TIERS`: hot
    (3 days, every 10 minutes), warm (45 days, every 6 hours) and full (all
    of history in 90-day windows, daily).

    Raises:
        ConfigError: listing every problem of the ``[sweeps]`` tables.
    """
    document = settings.extra.get("sweeps")
    if document is None:
        return DEFAULT_TIERS

    problems: list[str] = []
    if not isinstance(document, Mapping) or not document:
        problems.append("sweeps must hold at least one [sweeps.NAME] table")
        document = {}
    tiers = [_read_tier(name, table, problems) for name, table in document.items()]
    if problems:
        raise ConfigError(problems, source=str(settings.source))
    return tuple(tiers)


def _read_tier(name: str, table: Any, problems: list[str]) -> TierSettings:
    if not isinstance(table, dict):
        problems.append(f"sweeps.{name} must be a table, not {_describe(table)}")
        table = {}
    section = _Section(f"sweeps.{name}", table, problems)

    tier = TierSettings(
        name=name,
        interval_minutes=section.number("interval_minutes", 60.0, above=0),
        reach_days=_optional_days(section, "reach_days", at_least=0),
        window_days=_optional_days(section, "window_days", at_least=2),
    )
    if not section.has("interval_minutes"):
        section.problem(f"sweeps.{name}.interval_minutes is required but missing")
    section.report_unknown_keys()
    return tier


def _optional_days(section: _Section, key: str, *, at_least: int) -> int | None:
    # Absent, or refused (and reported), both leave the bound open.
    days = section.integer(key, -1, at_least=at_least)
    return None if days < 0 else days


_SECTIONS: Final = ("api", "database", "sync")


def _settings_from_document(
    document: Mapping[str, Any], source: Path, environ: Mapping[str, str]
) -> Settings:
    problems = list(_token_problems(document))
    sections = {name: _section(name, document, problems) for name in _SECTIONS}

    api = _read_api(sections["api"], environ)
    database = _read_database(sections["database"])
    sync = _read_sync(sections["sync"])
    for section in sections.values():
        section.report_unknown_keys()
    problems.extend(_unknown_top_level(document, sections))

    if problems:
        raise ConfigError(problems, source=str(source))

    extra = {name: document[name] for name in RAW_SECTIONS if name in document}
    return Settings(api, database, sync, source, MappingProxyType(extra))


def _read_document(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError as exc:
        problem = (
            f"there is no configuration file at {path}; copy config.example.toml "
            "there and edit it, or name another file with --config or "
            f"${CONFIG_ENV}"
        )
        raise ConfigError([problem], source=str(path)) from exc
    except OSError as exc:
        problem = f"cannot read {path}: {exc.strerror or exc}"
        raise ConfigError([problem], source=str(path)) from exc
    except tomllib.TOMLDecodeError as exc:
        problem = f"{path} is not valid TOML: {exc}"
        raise ConfigError([problem], source=str(path)) from exc


def _section(name: str, document: Mapping[str, Any], problems: list[str]) -> _Section:
    table = document.get(name, {})
    if not isinstance(table, dict):
        problems.append(f"{name} must be a table ([{name}]), not {_describe(table)}")
        table = {}

    return _Section(name, table, problems)


def _unknown_top_level(
    document: Mapping[str, Any], sections: Mapping[str, _Section]
) -> Iterator[str]:
    """Name unknown tables, and keys written above every table header."""
    tables = [*_SECTIONS, *RAW_SECTIONS]
    for name, value in document.items():
        if name in tables or _is_token_key(name):
            continue

        owner = next((s.name for s in sections.values() if s.knows(name)), None)
        if owner is not None and not isinstance(value, dict):
            yield f"{name} belongs in the [{owner}] table"
        else:
            yield _unknown(f"table [{name}]", name, tables)


def _token_problems(value: Any, where: str = "") -> Iterator[str]:
    """Every place in the document that holds, or is named for, a token."""
    if isinstance(value, dict):
        for key, item in value.items():
            place = f"{where}.{key}" if where else key
            if _is_token_key(key):
                yield (
                    f"{place}: the token must not be in the configuration file; "
                    f"{_TOKEN_ADVICE}"
                )
                continue

            yield from _token_problems(item, place)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _token_problems(item, f"{where}[{index}]")
    elif isinstance(value, str) and _TOKEN_IN_VALUE.search(value):
        yield f"{where} looks like an API token (pk_...); {_TOKEN_ADVICE}"


# A token standing on its own in a value; "pk_" inside a longer word, as in a
# generated folder name, is not one.
_TOKEN_IN_VALUE = re.compile(r"(?<![A-Za-z0-9_])" + TOKEN_PATTERN.pattern)


def _is_token_key(key: str) -> bool:
    lowered = key.lower()
    return lowered == "token" or lowered.endswith("_token")


def _check_token_source(section: _Section, token_env: str) -> None:
    if section.has("token_env") and section.has("token_file"):
        section.problem(
            "api.token_env and api.token_file are both set; keep only the one "
            "that holds the token"
        )

    if not _ENV_NAME.fullmatch(token_env):
        section.problem(
            "api.token_env must be the name of an environment variable "
            "(letters, digits and underscores), not the token itself"
        )


def _check_base_url(section: _Section, url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host:
        section.problem("api.base_url must be an https:// URL with a host name")
    elif parts.scheme == "http" and not _is_loopback(host):
        section.problem(
            f"api.base_url must use https (http is allowed only for localhost, "
            f"127.0.0.0/8 and ::1), not http://{host}"
        )
    elif parts.username or parts.password or parts.query or parts.fragment:
        section.problem(
            "api.base_url must be a plain URL, without credentials, query or fragment"
        )

    return url.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_database_url(section: _Section, url: str) -> None:
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        backend = ""

    if backend not in _DATABASE_BACKENDS:
        section.problem(
            "database.url must be a SQLAlchemy URL for SQLite or PostgreSQL, "
            "such as sqlite:///pocket-mirror.db or "
            "postgresql+psycopg://user@host/dbname"
        )


def _token_from_file(path: Path, named_by: str) -> str:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not readable text"
        problem = f"cannot read the token file {path} (from {named_by}): {reason}"
        raise ConfigError([problem]) from exc

    _warn_if_readable(path, stat.S_IRWXG | stat.S_IRWXO)
    _check_token(token, f"the token file {path} (from {named_by})")
    log.debug("config.token_read", source=named_by)
    return token


def _token_from_environment(name: str, environ: Mapping[str, str]) -> str:
    token = environ.get(name, "").strip()
    where = f"the environment variable {name} (named by api.token_env)"
    if not token and environ.get("CREDENTIALS_DIRECTORY"):
        where += f", nor a {CREDENTIAL_NAME} file in $CREDENTIALS_DIRECTORY"

    _check_token(token, where)
    log.debug("config.token_read", source="api.token_env", variable=name)
    return token


def _credential_file(environ: Mapping[str, str]) -> Path | None:
    directory = environ.get("CREDENTIALS_DIRECTORY", "")
    if not directory:
        return None

    candidate = Path(directory) / CREDENTIAL_NAME
    return candidate if candidate.is_file() else None


def _check_token(token: str, where: str) -> None:
    if not token:
        raise ConfigError([f"no API token found: looked in {where}; {_TOKEN_ADVICE}"])

    if any(character.isspace() for character in token):
        raise ConfigError([f"the API token in {where} contains whitespace"])


def _warn_if_readable(path: Path, forbidden_bits: int) -> None:
    """Warn when ``path`` grants any of ``forbidden_bits`` to group or other.

    The configuration file holds no token, but may hold a database password
    in its URL, so only a world-readable one is worth a warning; a token file
    should be readable by its owner alone.
    """
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return

    if mode & forbidden_bits:
        log.warning("config.readable_by_others", path=str(path), mode=f"{mode:04o}")


def _unknown(place: str, key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown {place}{hint}"


def _range_text(kind: str, at_least: float, at_most: float | None) -> str:
    if at_most is None:
        return f"{kind} of at least {at_least:g}"

    return f"{kind} from {at_least:g} to {at_most:g}"


def _number_text(
    above: float | None, at_least: float | None, at_most: float | None
) -> str:
    if above is not None:
        return f"a number greater than {above:g}"

    if at_least is None:
        return "a number"

    return _range_text("a number", at_least, at_most)


def _is_finite_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False

    return math.isfinite(value)


def _within(
    number: float, above: float | None, at_least: float | None, at_most: float | None
) -> bool:
    if above is not None and number <= above:
        return False

    if at_least is not None and number < at_least:
        return False

    return at_most is None or number <= at_most


def _describe(value: Any) -> str:
    """Say what was written without echoing text, which might be a secret."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return "an empty string" if not value.strip() else "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__}"


def _expand_home(value: str, environ: Mapping[str, str]) -> Path:
    if value == "~" or value.startswith("~/"):
        home = environ.get("HOME")
        if home:
            return Path(home) / value[2:]

    return Path(value)
