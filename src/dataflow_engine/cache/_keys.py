"""Cache keys: a stable canonical encoding of a node's normalised parameters, and the
names of the generation counters a model's answers depend on (pure)."""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import os
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._dataflow import DataFlow
    from ..config import DatabaseURL
    from ..models import ModelDef

__all__ = ["Uncacheable", "database_scopes", "digest", "params_key"]

#: Bumped when the key or value layout changes, so old entries are never read.
FORMAT = "1"


class Uncacheable(Exception):
    """A parameter or an answer holds a value the cache cannot encode exactly."""


def _enc(value: Any, out: list[str]) -> None:
    t = type(value)
    if t is str:
        out.append(f"s{len(value)}:")
        out.append(value)
    elif value is None:
        out.append("n")
    elif t is bool:
        out.append("T" if value else "F")
    elif t is int:
        out.append(f"i{value};")
    elif t is float:
        out.append(f"f{value.hex()};")
    elif isinstance(value, Mapping):
        out.append(f"{{{len(value)}")
        for k, v in value.items():
            _enc(k, out)
            _enc(v, out)
    elif t is list or t is tuple:
        out.append(f"[{len(value)}")
        for v in value:
            _enc(v, out)
    elif isinstance(value, enum.Enum):
        cls = type(value)
        out.append(f"e{cls.__module__}.{cls.__qualname__}:{value.name};")
    elif t is Decimal:
        out.append(f"d{value};")
    elif t is dt.datetime:
        out.append(f"t{value.isoformat()};")
    elif t is dt.date:
        out.append(f"D{value.isoformat()};")
    elif t is dt.time:
        out.append(f"h{value.isoformat()};")
    elif t is uuid.UUID:
        out.append(f"u{value.hex};")
    elif t is bytes:
        out.append(f"b{value.hex()};")
    elif isinstance(value, list | tuple):
        _enc(list(value), out)
    else:
        raise Uncacheable(t.__name__)


def params_key(params: Mapping[str, Any]) -> str:
    """The canonical text of a node's normalised parameters (names starting with ``_``
    are derived from the others and left out). Key order is kept: it can matter
    (``order_by=[{"age": -1, "name": 1}]``), and two spellings of one query only cost
    a second entry.

    Raises:
        Uncacheable: a value of a type the encoding does not know.
    """
    out: list[str] = []
    for name, value in params.items():
        if name[:1] != "_":
            _enc(name, out)
            _enc(value, out)
    return "".join(out)


def digest(*parts: str) -> str:
    """A short, stable hash of ``parts`` (never Python's per-process ``hash``)."""
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        data = part.encode("utf-8", "surrogatepass")
        h.update(f"{len(data)}:".encode())
        h.update(data)
    return h.hexdigest()


def _model_url(db: DataFlow, model: ModelDef) -> DatabaseURL:
    settings = db.settings
    named = getattr(settings, "databases", None) or {}
    url: DatabaseURL = named.get(model.database, settings.url)
    return url


def database_scopes(db: DataFlow, model: ModelDef, instance: str) -> tuple[str, str]:
    """``(values, generations)``: what an answer of ``model`` is shared under, and what
    its invalidation is shared under.

    Answers are shared only between connections that certainly see the same rows: the
    same server, database, schema and user (an in-memory SQLite database only within
    its own ``DataFlow``: ``instance``). Generation counters are coarser (the database
    and schema names, without host or user), so a write invalidates the answers of every
    process using that database whichever host name or user it connects with; unrelated
    databases of the same name only invalidate each other's answers a little more often.
    """
    url = _model_url(db, model)
    schema = model.schema or url.schema or ""
    if url.dialect == "sqlite":
        if url.is_memory:
            where = f"sqlite:memory:{instance}"
        else:
            where = "sqlite:" + os.path.realpath(url.database or "")
        return f"{where}|{schema}", f"{where}|{schema}"
    host = f"{url.username or ''}@{url.host or ''}:{url.port or ''}"
    values = f"{url.dialect}://{host}/{url.database or ''}|{schema}"
    generations = f"{url.dialect}:/{url.database or ''}|{schema}"
    return values, generations
