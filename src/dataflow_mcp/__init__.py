"""DataFlow's MCP server: agents discover, register and query databases, safely.

dataflow-mcp --database-url postgresql://reader@db/shop     (stdio)
python -m dataflow_mcp --transport http --token $TOKEN       (streamable HTTP)
"""

from ._config import ServerConfig, parse_config
from ._main import main, serve
from ._server import create_server

__all__ = ["ServerConfig", "create_server", "main", "parse_config", "serve"]
