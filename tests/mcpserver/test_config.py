"""Server options: command line over DATAFLOW_* variables over defaults; fail closed."""

from __future__ import annotations

import pytest

from dataflow_engine.errors import ConfigurationError
from dataflow_mcp import ServerConfig, parse_config


def test_defaults_are_safe() -> None:
    config = parse_config([], {})
    assert config == ServerConfig()
    assert not config.allow_writes and config.transport == "stdio"


def test_arguments_win_over_variables() -> None:
    env = {"DATAFLOW_MCP_MAX_ROWS": "10", "DATAFLOW_DATABASE_URL": "sqlite:///a.db"}
    config = parse_config(["--max-rows", "20", "--allow-writes"], env)
    assert (config.max_rows, config.database_url, config.allow_writes) == (
        20,
        "sqlite:///a.db",
        True,
    )
    assert parse_config([], {"DATAFLOW_MCP_ALLOW_WRITES": "yes"}).allow_writes


@pytest.mark.parametrize(
    ("argv", "env", "named"),
    [
        (["--no-such-option"], {}, "--no-such-option"),
        ([], {"DATAFLOW_MCP_MAXROWS": "5"}, "DATAFLOW_MCP_MAXROWS"),
        ([], {"DATAFLOW_MCP_MAX_ROWS": "abc"}, "max_rows"),
        (["--max-rows", "0"], {}, "max_rows"),
        (["--statement-timeout", "-1"], {}, "statement_timeout"),
        ([], {"DATAFLOW_MCP_ALLOW_WRITES": "maybe"}, "DATAFLOW_MCP_ALLOW_WRITES"),
        (["--transport", "carrier-pigeon"], {}, "transport"),
        (["--transport", "http", "--host", "0.0.0.0"], {}, "token"),
    ],
)
def test_bad_options_stop_the_server(argv: list[str], env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_config(argv, env)
    assert named in info.value.message
