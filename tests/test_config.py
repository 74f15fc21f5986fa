"""Database URLs (special characters in passwords) and settings from the environment."""

from __future__ import annotations

from typing import Any

import pytest

from dataflow_engine.config import DatabaseURL, Settings, parse_url
from dataflow_engine.errors import ConfigurationError

# -- parse_url ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param(
            "postgresql://admin:MySecret#123$@localhost:5432/db",
            ("postgresql", "admin", "MySecret#123$", "localhost", 5432, "db"),
            id="hash-and-dollar",
        ),
        pytest.param(
            "postgresql://u:P@ssw0rd!@host/db",
            ("postgresql", "u", "P@ssw0rd!", "host", None, "db"),
            id="at-sign",
        ),
        pytest.param(
            "postgresql://u:a:b/c?d@host:5433/db",
            ("postgresql", "u", "a:b/c?d", "host", 5433, "db"),
            id="colon-slash-question",
        ),
        pytest.param(
            "postgresql://u:100%@host/db",
            ("postgresql", "u", "100%", "host", None, "db"),
            id="raw-percent",
        ),
        pytest.param(
            "postgresql://u:p%40ss%23word@host/db",
            ("postgresql", "u", "p@ss#word", "host", None, "db"),
            id="percent-escapes",
        ),
        pytest.param(
            "postgresql://us%40er:pw@host/my%20db",
            ("postgresql", "us@er", "pw", "host", None, "my db"),
            id="escaped-user-and-database",
        ),
        pytest.param(
            "postgresql://u:@host/db",
            ("postgresql", "u", "", "host", None, "db"),
            id="empty-password",
        ),
        pytest.param(
            "postgresql://u@host/db",
            ("postgresql", "u", None, "host", None, "db"),
            id="no-password",
        ),
        pytest.param(
            "postgresql://host", ("postgresql", None, None, "host", None, None), id="host-only"
        ),
        pytest.param(
            "postgres://u:p@db.example.com:6543/app",
            ("postgresql", "u", "p", "db.example.com", 6543, "app"),
            id="postgres-alias",
        ),
        pytest.param(
            "postgresql+asyncpg://u:p@h/d",
            ("postgresql", "u", "p", "h", None, "d"),
            id="driver-suffix",
        ),
        pytest.param(
            "POSTGRESQL://u:p@h/d", ("postgresql", "u", "p", "h", None, "d"), id="upper-scheme"
        ),
        pytest.param(
            "postgresql://u:p@[::1]:5432/db",
            ("postgresql", "u", "p", "::1", 5432, "db"),
            id="ipv6",
        ),
        pytest.param(
            "postgresql://u:p@[2001:db8::7]/db",
            ("postgresql", "u", "p", "2001:db8::7", None, "db"),
            id="ipv6-no-port",
        ),
        pytest.param(
            "mysql://root:pw@127.0.0.1:3306/shop",
            ("mysql", "root", "pw", "127.0.0.1", 3306, "shop"),
            id="mysql",
        ),
        pytest.param(
            "mariadb://root:pw@db/shop", ("mysql", "root", "pw", "db", None, "shop"), id="mariadb"
        ),
    ],
)
def test_parse_server_urls(url: str, expected: tuple[Any, ...]) -> None:
    parsed = parse_url(url)
    assert (
        parsed.dialect,
        parsed.username,
        parsed.password,
        parsed.host,
        parsed.port,
        parsed.database,
    ) == expected


def test_query_options_and_schema() -> None:
    parsed = parse_url("postgresql://u:p?x@host/db?schema=app&sslmode=require")
    assert parsed.password == "p?x"
    assert parsed.query == {"schema": "app", "sslmode": "require"}
    assert parsed.schema == "app"
    assert parse_url("postgresql://u:p@host/db").schema is None


@pytest.mark.parametrize(
    ("url", "database", "is_memory"),
    [
        ("sqlite://", None, True),
        ("sqlite:///:memory:", ":memory:", True),
        ("sqlite:///rel.db", "rel.db", False),
        ("sqlite:///data/rel.db", "data/rel.db", False),
        ("sqlite:////abs/x.db", "/abs/x.db", False),
        ("sqlite:////tmp/my%20db.sqlite", "/tmp/my db.sqlite", False),
        ("sqlite+aiosqlite:///rel.db", "rel.db", False),
        ("sqlite3:///rel.db", "rel.db", False),
    ],
)
def test_parse_sqlite_urls(url: str, database: str | None, is_memory: bool) -> None:
    parsed = parse_url(url)
    assert parsed.dialect == "sqlite"
    assert parsed.database == database
    assert parsed.is_memory is is_memory
    assert parsed.host is None and parsed.password is None


def test_sqlite_query_options() -> None:
    assert parse_url("sqlite:///x.db?timeout=5").query == {"timeout": "5"}


@pytest.mark.parametrize(
    "url",
    [
        "oracle://u:p@host/db",
        "http://host/db",
        "localhost:5432/db",
        "",
        "postgresql:///db",
        "postgresql://u:p@/db",
        "postgresql://u:p@host:port/db",
        "postgresql://u:p@host:54x2/db",
    ],
)
def test_bad_urls_are_configuration_errors(url: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_url(url)
    assert info.value.code == "DF-CONFIG-URL"


@pytest.mark.parametrize("url", [None, 5, b"sqlite://"])
def test_a_url_must_be_a_string(url: Any) -> None:
    with pytest.raises(ConfigurationError):
        parse_url(url)


def test_an_unknown_scheme_lists_the_known_ones() -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_url("postgrs://u:p@h/d")
    assert info.value.details == {"scheme": "postgrs"}
    assert "postgresql" in info.value.message


def test_an_unclosed_ipv6_bracket_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        parse_url("postgresql://u:p@[::1:5432/db")


# -- redaction ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        (
            "postgresql://admin:MySecret#123$@localhost:5432/db",
            "postgresql://admin:***@localhost:5432/db",
        ),
        ("postgresql://u:P@ssw0rd!@host/db?schema=app", "postgresql://u:***@host/db?schema=app"),
        ("postgresql://u@host/db", "postgresql://u@host/db"),
        ("sqlite://", "sqlite://"),
        ("sqlite:////abs/x.db", "sqlite:////abs/x.db"),
    ],
)
def test_redacted_hides_the_password(url: str, redacted: str) -> None:
    parsed = parse_url(url)
    assert parsed.redacted() == redacted
    assert str(parsed) == redacted


@pytest.mark.parametrize(
    "url", ["postgresql://admin:MySecret#123$@localhost:5432/db", "mysql://u:hunter2@h/d"]
)
def test_the_password_never_appears_in_repr_or_str(url: str) -> None:
    parsed = parse_url(url)
    assert parsed.password is not None
    assert parsed.password not in repr(parsed)
    assert parsed.password not in str(parsed)
    assert parsed.password not in repr(Settings.resolve(url))


def test_redacted_keeps_ipv6_brackets() -> None:
    assert parse_url("postgresql://u:p@[::1]:5432/db").redacted() == (
        "postgresql://u:***@[::1]:5432/db"
    )


def test_urls_are_immutable_values() -> None:
    assert parse_url("sqlite:///a.db") == parse_url("sqlite:///a.db")
    with pytest.raises(AttributeError):
        parse_url("sqlite:///a.db").database = "b.db"  # type: ignore[misc]
    assert isinstance(parse_url("sqlite://"), DatabaseURL)


# -- Settings ----------------------------------------------------------------------------

ENV = [
    "DATAFLOW_DATABASE_URL",
    "DATAFLOW_AUTO_MIGRATE",
    "DATAFLOW_EXISTING_SCHEMA_MODE",
    "DATAFLOW_READ_ONLY",
    "DATAFLOW_POOL_SIZE",
    "DATAFLOW_POOL_TIMEOUT",
    "DATAFLOW_COMMAND_TIMEOUT",
    "DATAFLOW_CACHE_URL",
    "DATAFLOW_ECHO",
    "DATAFLOW_APPLICATION_ID",
]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A clean ``DATAFLOW_*`` environment."""
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_defaults(env: pytest.MonkeyPatch) -> None:
    settings = Settings.resolve()
    assert settings.url.is_memory
    assert settings.auto_migrate is True
    assert settings.existing_schema_mode is False
    assert settings.read_only is False
    assert settings.pool_size == 10
    assert settings.pool_timeout == 30.0
    assert settings.command_timeout is None
    assert settings.cache is None
    assert settings.echo is False
    assert settings.application_id is None


def test_the_database_url_comes_from_the_environment(env: pytest.MonkeyPatch) -> None:
    env.setenv("DATAFLOW_DATABASE_URL", "postgresql://admin:MySecret#123$@localhost:5432/db")
    settings = Settings.resolve()
    assert settings.url.dialect == "postgresql"
    assert settings.url.password == "MySecret#123$"


def test_an_explicit_url_wins_over_the_environment(env: pytest.MonkeyPatch) -> None:
    env.setenv("DATAFLOW_DATABASE_URL", "postgresql://u:p@h/d")
    assert Settings.resolve("sqlite:///x.db").url.database == "x.db"


def test_settings_come_from_the_environment(env: pytest.MonkeyPatch) -> None:
    env.setenv("DATAFLOW_AUTO_MIGRATE", "false")
    env.setenv("DATAFLOW_EXISTING_SCHEMA_MODE", "yes")
    env.setenv("DATAFLOW_READ_ONLY", "1")
    env.setenv("DATAFLOW_POOL_SIZE", "4")
    env.setenv("DATAFLOW_POOL_TIMEOUT", "2.5")
    env.setenv("DATAFLOW_COMMAND_TIMEOUT", "7")
    env.setenv("DATAFLOW_CACHE_URL", "redis://localhost:6379/0")
    env.setenv("DATAFLOW_ECHO", "on")
    env.setenv("DATAFLOW_APPLICATION_ID", "billing")
    settings = Settings.resolve()
    assert settings.auto_migrate is False
    assert settings.existing_schema_mode is True
    assert settings.read_only is True
    assert settings.pool_size == 4
    assert settings.pool_timeout == 2.5
    assert settings.command_timeout == 7.0
    assert settings.cache == "redis://localhost:6379/0"
    assert settings.echo is True
    assert settings.application_id == "billing"


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("true", True),
        ("TRUE", True),
        (" yes ", True),
        ("on", True),
        ("1", True),
        ("false", False),
        ("No", False),
        ("off", False),
        ("0", False),
    ],
)
def test_boolean_spellings(env: pytest.MonkeyPatch, raw: str, value: bool) -> None:
    env.setenv("DATAFLOW_READ_ONLY", raw)
    assert Settings.resolve().read_only is value


def test_keyword_arguments_win_over_the_environment(env: pytest.MonkeyPatch) -> None:
    env.setenv("DATAFLOW_READ_ONLY", "true")
    env.setenv("DATAFLOW_POOL_SIZE", "4")
    env.setenv("DATAFLOW_CACHE_URL", "redis://x")
    settings = Settings.resolve(read_only=False, pool_size=2, cache="memory://")
    assert settings.read_only is False
    assert settings.pool_size == 2
    assert settings.cache == "memory://"


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("DATAFLOW_READ_ONLY", "maybe"),
        ("DATAFLOW_AUTO_MIGRATE", "2"),
        ("DATAFLOW_POOL_SIZE", "ten"),
        ("DATAFLOW_POOL_SIZE", "2.5"),
        ("DATAFLOW_POOL_TIMEOUT", "soon"),
    ],
)
def test_bad_environment_values_name_the_variable(
    env: pytest.MonkeyPatch, name: str, raw: str
) -> None:
    env.setenv(name, raw)
    with pytest.raises(ConfigurationError) as info:
        Settings.resolve()
    assert info.value.code == "DF-CONFIG-ENV"
    assert info.value.details == {"variable": name}


@pytest.mark.parametrize("size", [0, -1, True])
def test_pool_size_must_be_a_positive_integer(env: pytest.MonkeyPatch, size: Any) -> None:
    with pytest.raises(ConfigurationError):
        Settings.resolve(pool_size=size)


def test_pool_size_zero_from_the_environment_is_refused(env: pytest.MonkeyPatch) -> None:
    env.setenv("DATAFLOW_POOL_SIZE", "0")
    with pytest.raises(ConfigurationError):
        Settings.resolve()


def test_a_bad_url_in_the_environment_is_a_configuration_error(env: pytest.MonkeyPatch) -> None:
    env.setenv("DATAFLOW_DATABASE_URL", "nosuchdb://x")
    with pytest.raises(ConfigurationError):
        Settings.resolve()


@pytest.mark.parametrize(
    ("url", "password"),
    [
        ("mysql://app:S3cret#!@db.example.com:3306/shop", "S3cret#!"),
        ("mariadb://app:p@ss:w0rd$@db:3306/shop", "p@ss:w0rd$"),
        ("mysql://app:50%25off@db/shop", "50%off"),
    ],
)
def test_mysql_urls_with_special_characters(url: str, password: str) -> None:
    parsed = parse_url(url)
    assert parsed.dialect == "mysql"
    assert parsed.password == password
    assert parsed.database == "shop"
    assert password not in parsed.redacted()
