"""The configuration file: what it accepts, what it refuses, and where the
token comes from."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from mirror.config import (
    DEFAULT_BASE_URL,
    DEFAULT_DATABASE_URL,
    DEFAULT_TOKEN_ENV,
    ApiSettings,
    DatabaseSettings,
    Settings,
    SyncSettings,
    config_path,
    load_settings,
    read_token,
    settings_for,
)
from mirror.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"
TOKEN = "pk_live_a1b2c3d4e5f6"
MINIMAL = '[api]\norg_id = "org_test"\n'


def write_config(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    """Write a configuration file readable by its owner only (by default)."""
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def problems_of(path: Path) -> list[str]:
    """The problems load_settings reports for the file at ``path``."""
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})

    assert caught.value.source == str(path)
    return caught.value.problems


def api_settings(**changes: object) -> ApiSettings:
    """ApiSettings as a minimal file gives them, with ``changes`` applied."""
    api = settings_for(
        base_url=DEFAULT_BASE_URL, org_id="org_test", database_url=DEFAULT_DATABASE_URL
    ).api
    return dataclasses.replace(api, **changes)  # type: ignore[arg-type]


def test_example_file_loads_with_documented_defaults(tmp_path: Path) -> None:
    """The shipped example loads, and every value in it is the default."""
    settings = load_settings(EXAMPLE, environ={})

    assert settings.api == ApiSettings(
        base_url="https://public.heypocketai.com",
        org_id="org_abc",
        token_env="POCKET_API_TOKEN",
        token_file=None,
        concurrency=8,
        timeout_seconds=30.0,
        max_attempts=6,
        max_retry_after_seconds=120.0,
    )
    assert settings.database == DatabaseSettings(url="sqlite:///pocket-mirror.db")
    assert settings.sync == SyncSettings(mass_delete_min=10, mass_delete_fraction=0.05)
    assert settings.source == EXAMPLE
    assert read_token(settings.api, {"POCKET_API_TOKEN": TOKEN}) == TOKEN


def test_example_file_matches_the_defaults_of_a_minimal_file(tmp_path: Path) -> None:
    """Leaving out every optional key gives what the example spells out."""
    example = load_settings(EXAMPLE, environ={})
    minimal = load_settings(write_config(tmp_path, '[api]\norg_id = "org_abc"\n'))

    assert minimal.api == example.api
    assert minimal.database == example.database
    assert minimal.sync == example.sync


def test_example_file_documents_every_key() -> None:
    """Every settings field appears in the example, token_file as a comment."""
    text = EXAMPLE.read_text(encoding="utf-8")
    written = tomllib.loads(text)
    sections = {"api": ApiSettings, "database": DatabaseSettings, "sync": SyncSettings}

    for name, settings_class in sections.items():
        fields = {field.name for field in dataclasses.fields(settings_class)}
        assert fields - {"token_file"} == set(written[name])
    assert "# token_file = " in text


def test_missing_file_is_one_clear_problem(tmp_path: Path) -> None:
    """A missing file is a single sentence that suggests copying the example."""
    problems = problems_of(tmp_path / "absent.toml")

    assert len(problems) == 1
    assert "no configuration file at" in problems[0]
    assert "config.example.toml" in problems[0]


def test_directory_instead_of_file_is_refused(tmp_path: Path) -> None:
    """A path that cannot be read as a file is a problem, not a crash."""
    problems = problems_of(tmp_path)

    assert problems == [f"cannot read {tmp_path}: Is a directory"]


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    """A syntax error is reported with the line it is on."""
    path = write_config(tmp_path, '[api]\norg_id = "org_test"\nconcurrency = = 3\n')

    problems = problems_of(path)

    assert len(problems) == 1
    assert "is not valid TOML" in problems[0]
    assert "line 3" in problems[0]


def test_unknown_keys_and_tables_are_named_with_a_likely_fix(tmp_path: Path) -> None:
    """Typos in keys and table names are named, with the closest known name."""
    path = write_config(
        tmp_path,
        MINIMAL + "concurency = 4\nfavourite_colour = 'blue'\n[databse]\nurl = 'x'\n",
    )

    assert problems_of(path) == [
        "unknown key api.concurency; did you mean 'concurrency'?",
        "unknown key api.favourite_colour",
        "unknown table [databse]; did you mean 'database'?",
    ]


def test_key_above_every_table_is_pointed_to_its_table(tmp_path: Path) -> None:
    """A section's key written before any table header says where it belongs."""
    path = write_config(tmp_path, 'concurrency = 4\n[api]\norg_id = "org_test"\n')

    assert problems_of(path) == ["concurrency belongs in the [api] table"]


def test_section_that_is_not_a_table_is_refused(tmp_path: Path) -> None:
    """``sync = 3`` is refused instead of being read as an empty table."""
    path = write_config(tmp_path, "sync = 3\n" + MINIMAL)

    assert problems_of(path) == ["sync must be a table ([sync]), not 3"]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('concurrency = "8"', "api.concurrency must be a whole number from 1 to 64"),
        ("concurrency = 8.5", "api.concurrency must be a whole number from 1 to 64"),
        ("max_attempts = true", "api.max_attempts must be a whole number from 1 to 20"),
        ('timeout_seconds = "30"', "api.timeout_seconds must be a number greater"),
        ("timeout_seconds = nan", "api.timeout_seconds must be a number greater"),
        ("max_retry_after_seconds = inf", "api.max_retry_after_seconds must be"),
        ("base_url = 443", "api.base_url must be a non-empty string, not 443"),
        ("token_env = ['A']", "api.token_env must be a non-empty string, not an array"),
        ("token_file = 1", "api.token_file must be a path to a file, not 1"),
    ],
)
def test_wrong_types_are_refused(tmp_path: Path, line: str, expected: str) -> None:
    """A value of the wrong type is named, with the type it should have."""
    path = write_config(tmp_path, MINIMAL + line + "\n")

    (problem,) = problems_of(path)

    assert problem.startswith(expected)


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("api", "concurrency", "0"),
        ("api", "concurrency", "65"),
        ("api", "timeout_seconds", "0"),
        ("api", "timeout_seconds", "-1.5"),
        ("api", "max_attempts", "0"),
        ("api", "max_attempts", "21"),
        ("api", "max_retry_after_seconds", "0"),
        ("sync", "mass_delete_min", "-1"),
        ("sync", "mass_delete_fraction", "-0.01"),
        ("sync", "mass_delete_fraction", "1.5"),
    ],
)
def test_out_of_range_numbers_are_refused(
    tmp_path: Path, section: str, key: str, value: str
) -> None:
    """A number outside its range is named together with the range."""
    header = "" if section == "api" else f"[{section}]\n"
    path = write_config(tmp_path, f"{MINIMAL}{header}{key} = {value}\n")

    (problem,) = problems_of(path)

    assert problem.startswith(f"{section}.{key} must be a")
    assert problem.endswith(f"not {float(value):g}")


def test_range_boundaries_are_accepted(tmp_path: Path) -> None:
    """The ends of every documented range are themselves allowed."""
    path = write_config(
        tmp_path,
        MINIMAL
        + "concurrency = 64\nmax_attempts = 20\ntimeout_seconds = 0.1\n"
        + "[sync]\nmass_delete_min = 0\nmass_delete_fraction = 1\n",
    )

    settings = load_settings(path)

    assert settings.api.concurrency == 64
    assert settings.api.max_attempts == 20
    assert settings.api.timeout_seconds == 0.1
    assert settings.sync == SyncSettings(mass_delete_min=0, mass_delete_fraction=1.0)


def test_integer_seconds_become_floats(tmp_path: Path) -> None:
    """Seconds may be written as whole numbers and are read as floats."""
    path = write_config(tmp_path, MINIMAL + "timeout_seconds = 5\n")

    assert load_settings(path).api.timeout_seconds == 5.0


@pytest.mark.parametrize("text", ["[api]\n", "", '[api]\norg_id = "  "\n'])
def test_missing_org_id_is_a_problem(tmp_path: Path, text: str) -> None:
    """The organization must be named; there is no default."""
    problems = problems_of(write_config(tmp_path, text))

    assert len(problems) == 1
    assert problems[0].startswith("api.org_id ")


def test_token_env_and_token_file_together_are_refused(tmp_path: Path) -> None:
    """Only one place may be named for the token."""
    path = write_config(
        tmp_path, MINIMAL + 'token_env = "MY_TOKEN"\ntoken_file = "/run/token"\n'
    )

    (problem,) = problems_of(path)

    assert "token_env and api.token_file are both set" in problem


def test_token_env_must_be_a_variable_name(tmp_path: Path) -> None:
    """api.token_env names a variable; anything else is likely a pasted secret."""
    path = write_config(tmp_path, MINIMAL + 'token_env = "not a name!"\n')

    (problem,) = problems_of(path)

    assert problem.startswith("api.token_env must be the name of an environment")
    assert "not a name!" not in problem


def test_several_problems_are_raised_together(tmp_path: Path) -> None:
    """One run reports every problem in the file, in one error."""
    path = write_config(
        tmp_path,
        "[api]\nconcurrency = 0\nbase_url = 'http://example.com'\n"
        "[database]\nurl = 'mysql://db/x'\n[sync]\nmass_delete_fraction = 7\n",
    )

    problems = problems_of(path)

    assert len(problems) == 5
    assert [problem.split(" ")[0] for problem in problems] == [
        "api.base_url",
        "api.org_id",
        "api.concurrency",
        "database.url",
        "sync.mass_delete_fraction",
    ]


def test_error_message_lists_every_problem(tmp_path: Path) -> None:
    """The error's text names the file and lists each problem on its own line."""
    path = write_config(tmp_path, "[api]\nconcurrency = 0\n")

    with pytest.raises(ConfigError) as caught:
        load_settings(path)

    message = str(caught.value)
    assert message.startswith(f"the configuration in {path} cannot be used:")
    assert message.count("\n  - ") == 2
    assert caught.value.exit_code == 2


@pytest.mark.parametrize("key", ["token", "api_token", "Token"])
def test_token_key_is_refused_without_echoing_it(tmp_path: Path, key: str) -> None:
    """A token written into the file is refused, and never repeated back."""
    path = write_config(tmp_path, MINIMAL + f'{key} = "{TOKEN}"\n')

    problems = problems_of(path)

    assert problems == [
        f"api.{key}: the token must not be in the configuration file; put the "
        "token in the environment variable named by api.token_env, or in "
        "api.token_file"
    ]
    assert TOKEN not in str(problems)


def test_token_key_at_top_level_is_refused(tmp_path: Path) -> None:
    """A ``token`` key above the tables is refused as a token, not as a typo."""
    path = write_config(tmp_path, 'token = "abc"\n' + MINIMAL)

    (problem,) = problems_of(path)

    assert problem.startswith("token: the token must not be in the configuration")


def test_token_like_value_is_refused_anywhere(tmp_path: Path) -> None:
    """A value that looks like a Pocket token is refused, even in raw tables."""
    path = write_config(
        tmp_path,
        MINIMAL
        + f'token_env = "{TOKEN}"\n'
        + f'[sweeps.hourly]\nnotes = ["fine", "see {TOKEN}"]\n',
    )

    problems = problems_of(path)

    assert problems == [
        "api.token_env looks like an API token (pk_...); put the token in the "
        "environment variable named by api.token_env, or in api.token_file",
        "sweeps.hourly.notes[1] looks like an API token (pk_...); put the token "
        "in the environment variable named by api.token_env, or in api.token_file",
    ]
    assert TOKEN not in str(problems)


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com",
        "http://public.heypocketai.com/",
        "http://10.0.0.1:8080",
        "http://localhost.example.com",
    ],
)
def test_http_base_url_is_refused_for_other_hosts(tmp_path: Path, url: str) -> None:
    """Plain http would send the token in the clear; only loopback may use it."""
    path = write_config(tmp_path, MINIMAL + f'base_url = "{url}"\n')

    (problem,) = problems_of(path)

    assert problem.startswith("api.base_url must use https")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://localhost:8080/", "http://localhost:8080"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("http://127.8.9.10/", "http://127.8.9.10"),
        ("http://[::1]:8080//", "http://[::1]:8080"),
        ("https://pocket.example.com/api/", "https://pocket.example.com/api"),
    ],
)
def test_base_url_is_accepted_for_https_and_loopback_http(
    tmp_path: Path, url: str, expected: str
) -> None:
    """https anywhere and http on loopback are fine; trailing slashes go."""
    path = write_config(tmp_path, MINIMAL + f'base_url = "{url}"\n')

    assert load_settings(path).api.base_url == expected


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com", "example.com", "https://", "https://u:p@example.com"],
)
def test_malformed_base_url_is_refused(tmp_path: Path, url: str) -> None:
    """Not a URL, another scheme, or credentials in the URL are all refused."""
    path = write_config(tmp_path, MINIMAL + f'base_url = "{url}"\n')

    (problem,) = problems_of(path)

    assert problem.startswith("api.base_url must be")
    assert "u:p" not in problem


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///relative.db",
        "sqlite:////var/lib/pocket-mirror/mirror.db",
        "postgresql+psycopg://postgres@127.0.0.1:5432/test",
        "postgresql://postgres@localhost/test",
    ],
)
def test_database_url_accepts_sqlite_and_postgresql(tmp_path: Path, url: str) -> None:
    """SQLite and PostgreSQL URLs are taken as written."""
    path = write_config(tmp_path, MINIMAL + f'[database]\nurl = "{url}"\n')

    assert load_settings(path).database.url == url


@pytest.mark.parametrize("url", ["mysql://db/x", "not a url", "postgres://db/x"])
def test_database_url_refuses_other_databases(tmp_path: Path, url: str) -> None:
    """Anything but SQLite or PostgreSQL is refused, naming both with examples."""
    path = write_config(tmp_path, MINIMAL + f'[database]\nurl = "{url}"\n')

    (problem,) = problems_of(path)

    assert problem.startswith("database.url must be a SQLAlchemy URL for SQLite or")


def test_sweeps_and_daemon_tables_are_kept_raw(tmp_path: Path) -> None:
    """Tables owned elsewhere pass through unchecked, exactly as written."""
    path = write_config(
        tmp_path,
        MINIMAL + '[sweeps.hourly]\nevery = "1h"\nanything = 3\n[daemon]\nx = true\n',
    )

    settings = load_settings(path)

    assert dict(settings.extra) == {
        "sweeps": {"hourly": {"every": "1h", "anything": 3}},
        "daemon": {"x": True},
    }


def test_settings_are_frozen(tmp_path: Path) -> None:
    """Settings cannot be changed after loading."""
    settings = load_settings(write_config(tmp_path, MINIMAL))

    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.api.concurrency = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        settings.extra["daemon"] = {}  # type: ignore[index]


def test_settings_for_builds_checked_defaults() -> None:
    """Settings built in code get the same defaults and normalising as a file."""
    settings = settings_for(
        base_url="http://127.0.0.1:8765/",
        org_id="org_demo",
        database_url="sqlite:///demo.db",
    )

    assert isinstance(settings, Settings)
    assert settings.api == api_settings(
        base_url="http://127.0.0.1:8765", org_id="org_demo"
    )
    assert settings.database.url == "sqlite:///demo.db"
    assert settings.sync == SyncSettings(mass_delete_min=10, mass_delete_fraction=0.05)
    assert dict(settings.extra) == {}


def test_settings_for_refuses_what_a_file_would() -> None:
    """Settings built in code are checked like a file."""
    with pytest.raises(ConfigError) as caught:
        settings_for(base_url="http://example.com", org_id="", database_url="x")

    assert len(caught.value.problems) == 3


def test_token_is_read_from_the_environment() -> None:
    """By default the token comes from $POCKET_API_TOKEN, stripped."""
    token = read_token(api_settings(), {DEFAULT_TOKEN_ENV: f"  {TOKEN}\n"})

    assert token == TOKEN


def test_token_is_read_from_the_named_variable() -> None:
    """api.token_env names the variable that holds the token."""
    api = api_settings(token_env="OTHER_TOKEN")

    assert read_token(api, {"OTHER_TOKEN": TOKEN, DEFAULT_TOKEN_ENV: "x"}) == TOKEN


def test_token_is_read_from_token_file(tmp_path: Path) -> None:
    """api.token_file names a file holding the token; it wins over the rest."""
    token_file = tmp_path / "token"
    token_file.write_text(f"{TOKEN}\n", encoding="utf-8")
    token_file.chmod(0o600)
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "pocket-token").write_text("pk_from_credentials", encoding="utf-8")

    environ = {
        DEFAULT_TOKEN_ENV: "pk_from_env",
        "CREDENTIALS_DIRECTORY": str(credentials),
    }
    assert read_token(api_settings(token_file=token_file), environ) == TOKEN


def test_token_file_path_expands_home(tmp_path: Path) -> None:
    """A ``~`` in api.token_file is the home directory of the environment given."""
    path = write_config(tmp_path, MINIMAL + 'token_file = "~/secrets/token"\n')

    settings = load_settings(path, environ={"HOME": str(tmp_path)})

    assert settings.api.token_file == tmp_path / "secrets" / "token"


def test_token_is_read_from_credentials_directory(tmp_path: Path) -> None:
    """Under systemd, $CREDENTIALS_DIRECTORY/pocket-token wins over the variable."""
    (tmp_path / "pocket-token").write_text(f"{TOKEN}\n", encoding="utf-8")
    (tmp_path / "pocket-token").chmod(0o400)
    environ = {"CREDENTIALS_DIRECTORY": str(tmp_path), DEFAULT_TOKEN_ENV: "pk_other"}

    assert read_token(api_settings(), environ) == TOKEN


def test_credentials_directory_without_token_falls_back(tmp_path: Path) -> None:
    """A credentials directory without pocket-token leaves the variable in charge."""
    environ = {"CREDENTIALS_DIRECTORY": str(tmp_path), DEFAULT_TOKEN_ENV: TOKEN}

    assert read_token(api_settings(), environ) == TOKEN


def test_missing_token_says_where_it_looked(tmp_path: Path) -> None:
    """With no token anywhere, the error names each place it looked."""
    environ = {"CREDENTIALS_DIRECTORY": str(tmp_path), DEFAULT_TOKEN_ENV: "   "}

    with pytest.raises(ConfigError) as caught:
        read_token(api_settings(), environ)

    (problem,) = caught.value.problems
    assert "the environment variable POCKET_API_TOKEN" in problem
    assert "pocket-token file in $CREDENTIALS_DIRECTORY" in problem


def test_missing_token_file_is_a_config_error(tmp_path: Path) -> None:
    """A token file that does not exist is named, with the reason."""
    api = api_settings(token_file=tmp_path / "absent")

    with pytest.raises(ConfigError) as caught:
        read_token(api, {DEFAULT_TOKEN_ENV: TOKEN})

    (problem,) = caught.value.problems
    assert problem == (
        f"cannot read the token file {tmp_path / 'absent'} (from api.token_file): "
        "No such file or directory"
    )


def test_empty_token_file_is_refused(tmp_path: Path) -> None:
    """A token file holding only whitespace is as good as no token."""
    token_file = tmp_path / "token"
    token_file.write_text("\n\n", encoding="utf-8")
    token_file.chmod(0o600)

    with pytest.raises(ConfigError) as caught:
        read_token(api_settings(token_file=token_file), {})

    assert f"looked in the token file {token_file}" in str(caught.value)


def test_token_with_inner_whitespace_is_refused_without_echo() -> None:
    """A token with spaces inside cannot be sent; the error does not show it."""
    with pytest.raises(ConfigError) as caught:
        read_token(api_settings(), {DEFAULT_TOKEN_ENV: "pk_abc def123"})

    assert "contains whitespace" in str(caught.value)
    assert "pk_abc" not in str(caught.value)


def test_world_readable_config_file_warns(tmp_path: Path) -> None:
    """A config file others can read is loaded, with a warning naming it."""
    path = write_config(tmp_path, MINIMAL, mode=0o644)

    with capture_logs() as events:
        load_settings(path)

    assert events == [
        {
            "event": "config.readable_by_others",
            "log_level": "warning",
            "path": str(path),
            "mode": "0644",
        }
    ]


def test_group_readable_config_file_does_not_warn(tmp_path: Path) -> None:
    """Sharing the config file with a group (e.g. the service's) is fine."""
    path = write_config(tmp_path, MINIMAL, mode=0o640)

    with capture_logs() as events:
        load_settings(path)

    assert events == []


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620])
def test_token_file_readable_by_others_warns(tmp_path: Path, mode: int) -> None:
    """Any group or other permission on the token file draws a warning."""
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN, encoding="utf-8")
    token_file.chmod(mode)

    with capture_logs() as events:
        read_token(api_settings(token_file=token_file), {})

    warnings = [e for e in events if e["log_level"] == "warning"]
    assert warnings == [
        {
            "event": "config.readable_by_others",
            "log_level": "warning",
            "path": str(token_file),
            "mode": f"{mode:04o}",
        }
    ]
    assert TOKEN not in str(events)


def test_private_token_file_does_not_warn(tmp_path: Path) -> None:
    """A token file only its owner can read is read quietly."""
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN, encoding="utf-8")
    token_file.chmod(0o400)

    with capture_logs() as events:
        read_token(api_settings(token_file=token_file), {})

    assert [e["event"] for e in events] == ["config.token_read"]
    assert events[0]["source"] == "api.token_file"


def test_config_path_prefers_the_option() -> None:
    """--config wins over $POCKET_MIRROR_CONFIG."""
    environ = {"POCKET_MIRROR_CONFIG": "/etc/from-env.toml"}

    assert config_path("/etc/option.toml", environ) == Path("/etc/option.toml")


def test_config_path_falls_back_to_the_environment() -> None:
    """Without --config, $POCKET_MIRROR_CONFIG names the file."""
    environ = {"POCKET_MIRROR_CONFIG": "/etc/from-env.toml"}

    assert config_path(None, environ) == Path("/etc/from-env.toml")


@pytest.mark.parametrize("environ", [{}, {"POCKET_MIRROR_CONFIG": ""}])
def test_config_path_defaults_to_working_directory(environ: dict[str, str]) -> None:
    """With neither, config.toml in the working directory is used."""
    assert config_path(None, environ) == Path("config.toml")


def test_pk_inside_a_longer_word_is_not_a_token(tmp_path: Path) -> None:
    """A folder name that merely contains "pk_" is not taken for a token."""
    path = write_config(
        tmp_path, MINIMAL + '[database]\nurl = "sqlite:////tmp/tmpx7pk_abcdef12/m.db"\n'
    )

    assert load_settings(path).database.url.endswith("tmpx7pk_abcdef12/m.db")
