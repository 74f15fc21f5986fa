"""Models found by reading source code, never by importing or running it.

A ``@<anything>.model`` class (``@db.model``, ``@app.db.model``) is read with parso: its
annotations are translated to the few types a model field can have (``str``, ``int | None``,
``list[str]``, ``Optional[Decimal]``, an Enum class declared in the workspace, ...), literal
defaults are read with ``ast.literal_eval``, and a synthetic class made of those is given
to the engine's own ``build_model``. So a model the editor knows is exactly the model the
program will get, with the same fields, node names and checks.

What cannot be read from the text is taken at its most permissive: an annotation naming
a type the workspace does not declare becomes a free-form JSON field, a default that is
not a literal (``= datetime.now()``) makes the field optional.
"""

from __future__ import annotations

import ast
import datetime as dt
import enum
import os
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import parso

from dataflow_engine import DataFlow, DataFlowError
from dataflow_engine.models import MISSING, ModelDef
from dataflow_engine.models._fields import DATABASE_DEFAULT
from dataflow_engine.models._model import build_model

from ._document import Span

_PARSO: Any = parso  # untyped: its trees are handled as Any

__all__ = [
    "SKIP_DIRS",
    "ClassSpec",
    "ModelSet",
    "ModelSource",
    "SourceModels",
    "line_starts",
    "python_files",
    "read_models",
    "read_project_models",
]

_TYPES: dict[str, Any] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "bytes": bytes,
    "dict": dict,
    "Dict": dict,
    "list": list,
    "List": list,
    "Decimal": Decimal,
    "datetime": dt.datetime,
    "date": dt.date,
    "time": dt.time,
    "UUID": uuid.UUID,
    "Any": dict,
    "JSON": dict,
}
_ENUM_BASES = {"Enum", "StrEnum", "IntEnum", "Flag", "IntFlag"}
#: Text worth parsing: a model decorator or an Enum declaration.
_INTERESTING = re.compile(r"@[\w.]*\bmodel\b|\bEnum\b|\bStrEnum\b|\bIntEnum\b")


class _Opaque:
    """A default written as an expression: the field has a default, value unknown."""


@dataclass
class ModelSource:
    """A model class as written: where, and what the engine made of it."""

    name: str
    uri: str
    name_span: Span
    class_span: Span
    model: ModelDef | None = None
    error: DataFlowError | None = None


@dataclass
class SourceModels:
    """What one Python file declares: models and Enum classes."""

    models: list[ModelSource] = field(default_factory=list)
    enums: dict[str, type[enum.Enum]] = field(default_factory=dict)
    specs: list[ClassSpec] = field(default_factory=list)


def _decorator_names(cls: Any) -> list[str]:
    return [str(d.children[1].get_code(include_prefix=False)) for d in cls.get_decorators()]


def _is_model(cls: Any) -> bool:
    return any(n == "model" or n.endswith(".model") for n in _decorator_names(cls))


def _bases(cls: Any) -> list[str]:
    arglist = cls.get_super_arglist()
    if arglist is None:
        return []
    items = arglist.children if arglist.type == "arglist" else [arglist]
    return [
        c.get_code(include_prefix=False).rsplit(".", 1)[-1]
        for c in items
        if c.type != "operator" and c.type != "argument"
    ]


def _body(cls: Any) -> Iterator[Any]:
    suite = cls.get_suite()
    for stmt in suite.children if suite.type == "suite" else [suite]:
        if stmt.type == "simple_stmt":
            yield from (c for c in stmt.children if c.type not in ("newline", "operator"))


_LITERAL_ERRORS = (ValueError, SyntaxError, TypeError, MemoryError, RecursionError)


def _literal(node: Any) -> Any:
    return ast.literal_eval(node.get_code(include_prefix=False).strip())


def _read_enum(cls: Any) -> type[enum.Enum] | None:
    members: list[tuple[str, Any]] = []
    auto = 0
    for stmt in _body(cls):
        if stmt.type != "expr_stmt" or len(stmt.children) != 3:
            continue
        target, op, value = stmt.children
        if target.type != "name" or op.get_code(include_prefix=False) != "=":
            continue
        name = target.value
        if name.startswith("_"):
            continue
        code = value.get_code(include_prefix=False)
        if code.endswith("auto()"):
            auto += 1
            members.append((name, name.lower() if "StrEnum" in _bases(cls) else auto))
            continue
        try:
            members.append((name, _literal(value)))
        except _LITERAL_ERRORS:
            continue
    if not members:
        return None
    try:
        return enum.Enum(cls.name.value, members)  # type: ignore[return-value]
    except (TypeError, ValueError):
        return None


def _annotation(expr: ast.expr, enums: dict[str, type[enum.Enum]]) -> Any:
    """The type an annotation names, as far as a model field cares."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):  # "forward ref"
        try:
            return _annotation(ast.parse(expr.value, mode="eval").body, enums)
        except SyntaxError:
            return dict
    if isinstance(expr, ast.Constant) and expr.value is None:
        return type(None)
    if isinstance(expr, ast.Name | ast.Attribute):
        name = expr.id if isinstance(expr, ast.Name) else expr.attr
        if name in enums:
            return enums[name]
        return _TYPES.get(name, dict)
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.BitOr):
        left, right = _annotation(expr.left, enums), _annotation(expr.right, enums)
        if right is type(None):
            return left | None
        if left is type(None):
            return right | None
        return dict
    if isinstance(expr, ast.Subscript):
        outer = expr.value
        name = outer.id if isinstance(outer, ast.Name) else getattr(outer, "attr", "")
        if name == "Optional":
            return _annotation(expr.slice, enums) | None
        if name == "Union" and isinstance(expr.slice, ast.Tuple):
            parts = [_annotation(e, enums) for e in expr.slice.elts]
            rest = [p for p in parts if p is not type(None)]
            if len(rest) == 1 and len(parts) == 2:
                return rest[0] | None
            return dict
        if name in ("list", "List"):
            item = _annotation(expr.slice, enums)
            return list[item] if item in (str, int, float, bool) else list  # type: ignore[valid-type]
        if name in ("dict", "Dict"):
            return dict
        if name in ("ClassVar", "Final"):
            return None
        if name == "Annotated" and isinstance(expr.slice, ast.Tuple) and expr.slice.elts:
            return _annotation(expr.slice.elts[0], enums)
    return dict


@dataclass(frozen=True)
class ClassSpec:
    """A model class as written, as plain text: what building it needs."""

    name: str
    fields: tuple[tuple[str, str, str | None], ...]  # (name, annotation, default or None)
    options: str | None  # the text of ``__dataflow__ = {...}``


def _spec(cls: Any) -> ClassSpec:
    fields: list[tuple[str, str, str | None]] = []
    options = None
    for stmt in _body(cls):
        if stmt.type != "expr_stmt":
            continue
        target = stmt.children[0]
        if target.type != "name":
            continue
        rest = stmt.children[1]
        if rest.type == "annassign":
            parts = rest.children
            default = parts[3].get_code(include_prefix=False) if len(parts) >= 4 else None
            fields.append((target.value, parts[1].get_code(include_prefix=False), default))
        elif target.value == "__dataflow__" and len(stmt.children) == 3:
            options = stmt.children[2].get_code(include_prefix=False)
    return ClassSpec(cls.name.value, tuple(fields), options)


def _model_class(spec: ClassSpec, enums: dict[str, type[enum.Enum]]) -> tuple[type, set[str]]:
    """A synthetic class the engine's ``build_model`` reads as it reads the real one,
    and the fields whose default is an expression."""
    annotations: dict[str, Any] = {}
    namespace: dict[str, Any] = {}
    opaque: set[str] = set()
    for name, annotation, default in spec.fields:
        try:
            expr = ast.parse(annotation.strip(), mode="eval").body
        except SyntaxError:
            continue
        kind = _annotation(expr, enums)
        if kind is None:
            continue
        annotations[name] = kind
        if default is None:
            continue
        try:
            namespace[name] = ast.literal_eval(default.strip())
        except _LITERAL_ERRORS:
            member = default.strip().rsplit(".", 1)
            enum_type = getattr(kind, "__args__", (kind,))[0]
            if (
                len(member) == 2
                and isinstance(enum_type, type)
                and issubclass(enum_type, enum.Enum)
                and member[1] in enum_type.__members__
            ):
                namespace[name] = enum_type[member[1]]
            else:
                opaque.add(name)
    if spec.options is not None:
        try:
            namespace["__dataflow__"] = ast.literal_eval(spec.options.strip())
        except _LITERAL_ERRORS:
            pass
    namespace["__annotations__"] = annotations
    namespace["__module__"] = "dataflow_lsp.workspace"
    return type(spec.name, (), namespace), opaque


def _build(spec: ClassSpec, enums: dict[str, type[enum.Enum]]) -> ModelDef | DataFlowError:
    synthetic, opaque = _model_class(spec, enums)
    try:
        model = build_model(synthetic)
    except DataFlowError as exc:
        return exc
    for name in opaque:
        f = model.fields.get(name)
        if f is not None and f.default is MISSING:
            f.default = DATABASE_DEFAULT
    return model


def _span(lines: list[int], node: Any) -> Span:
    (l1, c1), (l2, c2) = node.start_pos, node.end_pos
    return Span(lines[l1 - 1] + c1, lines[l2 - 1] + c2)


def line_starts(text: str) -> list[int]:
    """The offset at which each line starts (parso's lines: ``\\n``, ``\\r\\n``, ``\\r``)."""
    starts = [0]
    for match in re.finditer(r"\r\n|\r|\n", text):
        starts.append(match.end())
    return starts


def _classes(module: Any) -> Iterator[Any]:
    stack: list[Any] = [module]
    while stack:
        node = stack.pop()
        for child in reversed(getattr(node, "children", ())):
            if child.type == "classdef":
                yield child
                stack.append(child)
            elif child.type in (
                "decorated",
                "async_stmt",
                "suite",
                "if_stmt",
                "try_stmt",
            ) or child.type in ("funcdef", "async_funcdef"):
                stack.append(child)


def read_models(
    uri: str, text: str, module: Any | None = None, *, lines: list[int] | None = None
) -> SourceModels:
    """The Enum classes and model classes a Python file declares (models not built yet:
    their Enum types may live in another file; :class:`ModelSet` builds them)."""
    found = SourceModels()
    if not _INTERESTING.search(text):
        return found
    if module is None:
        module = _PARSO.parse(text, version="3.11")
    lines = lines if lines is not None else line_starts(text)
    for cls in _classes(module):
        bases = _bases(cls)
        if any(b in _ENUM_BASES for b in bases):
            made = _read_enum(cls)
            if made is not None:
                found.enums[cls.name.value] = made
        elif _is_model(cls):
            found.models.append(
                ModelSource(cls.name.value, uri, _span(lines, cls.name), _span(lines, cls))
            )
            found.specs.append(_spec(cls))
    return found


class ModelSet:
    """Every model of the workspace (and, optionally, of a database's registry), kept
    current as files change, with a private ``DataFlow`` whose node types the validator
    resolves. The DataFlow never connects: it is only a registry of models and nodes."""

    def __init__(self) -> None:
        self._files: dict[str, SourceModels] = {}
        self._external: list[ModelDef] = []
        self._db: DataFlow | None = None
        self.sources: dict[str, ModelSource] = {}
        self.version = 0

    def update(self, uri: str, found: SourceModels) -> bool:
        """Record what a file declares; True when the project's models changed."""
        old = self._files.get(uri)
        if old is None and not found.models and not found.enums:
            return False
        if old is not None and _same(old, found):
            # Moved, not changed: keep the built models, take the new positions.
            for before, after in zip(old.models, found.models, strict=True):
                after.model, after.error = before.model, before.error
                if self.sources.get(after.name) is before:
                    self.sources[after.name] = after
            self._files[uri] = found
            return False
        if found.models or found.enums:
            self._files[uri] = found
        else:
            self._files.pop(uri, None)
        self._rebuild()
        return True

    def forget(self, uri: str) -> bool:
        if self._files.pop(uri, None) is None:
            return False
        self._rebuild()
        return True

    def uris(self) -> list[str]:
        """The files that declare models or Enum classes."""
        return list(self._files)

    def declared(self, uri: str) -> list[ModelSource]:
        """The model classes a file declares (built or refused)."""
        found = self._files.get(uri)
        return list(found.models) if found is not None else []

    def add_external(self, models: Iterable[ModelDef]) -> None:
        """Models read from a database's registry (a workspace class of the same name
        wins)."""
        self._external = list(models)
        self._rebuild()

    @property
    def dataflow(self) -> DataFlow:
        if self._db is None:
            self._rebuild()
        assert self._db is not None
        return self._db

    def models(self) -> dict[str, ModelDef]:
        return {name: self.dataflow.get_model(name) for name in self.dataflow.list_models()}

    def _rebuild(self) -> None:
        enums: dict[str, type[enum.Enum]] = {}
        for found in self._files.values():
            enums.update(found.enums)
        db = DataFlow("sqlite:///:memory:", existing_schema_mode=True, read_only=True)
        sources: dict[str, ModelSource] = {}
        for found in self._files.values():
            for source, spec in zip(found.models, found.specs, strict=True):
                built = _build(spec, enums)
                if isinstance(built, DataFlowError):
                    source.model, source.error = None, built
                    continue
                source.model, source.error = built, None
                if built.name not in sources:
                    sources[built.name] = source
                    db._register(built)
        for model in self._external:
            if model.name not in sources:
                db._register(model)
        if self._db is not None:
            self._db.close()
        self._db = db
        self.sources = sources
        self.version += 1

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def _same(a: SourceModels, b: SourceModels) -> bool:
    def shape(s: SourceModels) -> tuple[Any, ...]:
        return (
            [m.name for m in s.models],
            s.specs,
            {k: [(m.name, m.value) for m in v] for k, v in s.enums.items()},
        )

    return shape(a) == shape(b)


#: Folders never read for models: environments, caches, build output.
SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".venv",
        "venv",
        "node_modules",
        "__pycache__",
        "site-packages",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        "build",
        "dist",
        ".tox",
    }
)


def python_files(root: Path, limit: int = 5_000) -> Iterator[Path]:
    """The Python files under ``root`` (a file is itself), skipping environments and
    caches, at most ``limit``."""
    if root.is_file():
        yield root
        return
    seen = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith(".py"):
                seen += 1
                if seen > limit:
                    return
                yield Path(dirpath, name)


def read_project_models(paths: Iterable[Path]) -> ModelSet:
    """The models declared under ``paths`` (files or folders), read without running
    any of it: what ``dataflow schema export`` and the language server know.

    Example::

        models = read_project_models([Path("src")])
        schema = workflow_json_schema(models.dataflow.nodes)
    """
    models = ModelSet()
    for root in paths:
        for path in python_files(root):
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            uri = path.resolve().as_uri()
            models.update(uri, read_models(uri, text))
    return models
