"""Model definitions built from annotated classes."""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ModelError, ValidationError
from ._fields import MISSING, Field, FieldKind, field_from_annotation
from ._naming import table_name_for

__all__ = ["NODE_KINDS", "ModelDef", "build_model", "suggest", "unknown_field_error"]

#: The eleven node kinds, in the order nodes are generated.
NODE_KINDS: tuple[str, ...] = (
    "Create",
    "Read",
    "Update",
    "Delete",
    "List",
    "Count",
    "Upsert",
    "BulkCreate",
    "BulkUpdate",
    "BulkDelete",
    "BulkUpsert",
)

_OPTIONS = {
    "soft_delete",
    "multi_tenant",
    "audit_log",
    "versioned",
    "database",
    "table",
    "indexes",
    "unique",
    "primary_key",
    "schema",
    "personal",
}

# Parameter names, and keys the Read and Update nodes add to a row in their output.
_RESERVED = {
    "filter",
    "conditions",
    "fields",
    "updates",
    "raise_on_not_found",
    "found",
    "updated",
}


@dataclass(eq=False)
class ModelDef:
    """The definition of a model: its table, fields and options.

    Attributes:
        name: the model name (the class name).
        table_name: the table it maps to.
        fields: every column, auto columns included, in column order.
        primary_key: the key's field names (``("id",)`` by default).
        soft_delete, versioned, multi_tenant, audit_log: enterprise options.
        indexes, unique: lists of field-name lists.
        read_only: True when the table has no primary key (registered tables).
        database: the name of the database the model routes to.
        stamps: the automatic timestamp columns the engine writes (``created_at`` on
            insert, ``updated_at`` on every write); none for registered tables.
        managed: DataFlow owns the table and may create it or add columns; False for a
            table registered from an existing database.
        read_only_reason: why a registered model is read-only.
        personal: the fields holding personal data (``__dataflow__["personal"]``), which
            ``GDPRAnonymizeNode`` anonymises.
    """

    name: str
    table_name: str
    fields: dict[str, Field]
    primary_key: tuple[str, ...]
    soft_delete: bool = False
    versioned: bool = False
    multi_tenant: bool = False
    audit_log: bool = False
    indexes: list[tuple[str, ...]] = field(default_factory=list)
    unique: list[tuple[str, ...]] = field(default_factory=list)
    read_only: bool = False
    database: str = "primary"
    schema: str | None = None
    auto_id: bool = True
    source: Any = None
    stamps: tuple[str, ...] = ("created_at", "updated_at")
    managed: bool = True
    read_only_reason: str = ""
    personal: tuple[str, ...] = ()

    @property
    def node_names(self) -> dict[str, str]:
        """Node kind -> node type name, e.g. ``{"Create": "UserCreateNode", ...}``."""
        return {kind: f"{self.name}{kind}Node" for kind in NODE_KINDS}

    @functools.cached_property
    def writable_fields(self) -> dict[str, Field]:
        """Fields a Create or Update may set (auto columns excluded)."""
        return {n: f for n, f in self.fields.items() if not f.auto}

    @functools.cached_property
    def insertable_fields(self) -> dict[str, Field]:
        """Fields a Create or BulkCreate may set: the writable fields and the
        auto-increment (identity) columns, which the database numbers when omitted."""
        return {n: f for n, f in self.fields.items() if not f.auto or f.identity}

    @functools.cached_property
    def identity_names(self) -> tuple[str, ...]:
        """The names of the auto-increment (identity) fields."""
        return tuple(n for n, f in self.fields.items() if f.identity)

    def field(self, name: str, *, where: str = "") -> Field:
        """The field called ``name``; a ``ModelError`` with suggestions otherwise."""
        try:
            return self.fields[name]
        except KeyError:
            raise unknown_field_error(self, name, where=where) from None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly description of the model."""
        return {
            "name": self.name,
            "table_name": self.table_name,
            "primary_key": list(self.primary_key),
            "fields": {
                n: {
                    "type": f.type_name,
                    "kind": f.kind.value,
                    "nullable": f.nullable,
                    "required": f.required,
                    "auto": f.auto,
                    "primary_key": f.primary_key,
                    "default": None if f.default is MISSING else _plain(f.default),
                }
                for n, f in self.fields.items()
            },
            "options": {
                "soft_delete": self.soft_delete,
                "versioned": self.versioned,
                "multi_tenant": self.multi_tenant,
                "audit_log": self.audit_log,
                "read_only": self.read_only,
                "database": self.database,
                "personal": list(self.personal),
            },
            "nodes": self.node_names,
        }


def _plain(value: Any) -> Any:
    if isinstance(value, str | int | float | bool | dict | list) or value is None:
        return value
    return str(value)


def suggest(name: str, candidates: Iterable[str]) -> list[str]:
    """Up to three close matches for ``name``."""
    import difflib  # only needed when something is wrong

    return difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.6)


def unknown_field_error(model: ModelDef, name: str, *, where: str = "") -> ValidationError:
    """A ``DF-PARAM-UNKNOWN-FIELD`` error listing the closest field names."""
    close = suggest(name, model.fields)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return ValidationError(
        f"{where}unknown field {name!r} on model {model.name}{hint} "
        f"(fields: {', '.join(model.fields)})",
        code="DF-PARAM-UNKNOWN-FIELD",
        details={"model": model.name, "field": name, "suggestions": close},
    )


def _collect_annotations(cls: type) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        if klass is object:
            continue
        try:
            hints = typing.get_type_hints(klass, include_extras=False)
        except Exception as exc:  # a forward reference that cannot be resolved
            raise ModelError(
                f"model {cls.__name__}: cannot resolve annotations of {klass.__name__}: {exc}",
                code="DF-MODEL-FIELD-TYPE",
            ) from exc
        own = inspect.get_annotations(klass)
        for name in own:
            if name.startswith("_") or typing.get_origin(hints.get(name)) is typing.ClassVar:
                continue
            merged[name] = hints[name]
    return merged


def _personal(
    cls: type, options: Mapping[str, Any], fields: Mapping[str, Field]
) -> tuple[str, ...]:
    """The ``personal`` option: field names of the model (``__personal__`` on the class
    is the same list, spelt as a class attribute)."""
    declared = options.get("personal")
    where = "__dataflow__['personal']"
    attribute = getattr(cls, "__personal__", None)
    if attribute is not None:
        if declared is not None:
            raise ModelError(
                f"model {cls.__name__}: the personal fields are declared twice, in "
                "__dataflow__['personal'] and in __personal__; keep __dataflow__['personal']",
                code="DF-MODEL-OPTION",
                details={"option": "personal"},
            )
        declared, where = attribute, "__personal__"
    if declared is None:
        return ()
    if isinstance(declared, str) or not isinstance(declared, list | tuple):
        raise ModelError(
            f"model {cls.__name__}: {where} must be a list of field names, e.g. "
            f"['email', 'name']; got {type(declared).__name__}",
            code="DF-MODEL-OPTION",
            details={"option": "personal"},
        )
    for name in declared:
        if not isinstance(name, str) or name not in fields:
            close = suggest(name, fields) if isinstance(name, str) else []
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise ModelError(
                f"model {cls.__name__}: {where} names {name!r:.80}, which is not a field of "
                f"the model{hint} (fields: {', '.join(fields)})",
                code="DF-MODEL-OPTION",
                details={"option": "personal", "field": str(name)[:200], "suggestions": close},
            )
    return tuple(dict.fromkeys(declared))


def build_model(cls: type) -> ModelDef:
    """Build a :class:`ModelDef` from an annotated class.

    Raises:
        ModelError: an unsupported type, an unknown option, or a bad key/index.
    """
    options: Mapping[str, Any] = getattr(cls, "__dataflow__", {}) or {}
    if not isinstance(options, Mapping):
        raise ModelError(
            f"model {cls.__name__}: __dataflow__ must be a dict", code="DF-MODEL-OPTION"
        )
    for key in options:
        if key not in _OPTIONS:
            close = suggest(key, _OPTIONS)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ModelError(
                f"model {cls.__name__}: unknown __dataflow__ option {key!r}{hint}",
                code="DF-MODEL-OPTION",
                details={"option": key},
            )
    annotations = _collect_annotations(cls)
    if not annotations:
        raise ModelError(
            f"model {cls.__name__} declares no fields; annotate them, e.g. 'name: str'",
            code="DF-MODEL-NO-FIELDS",
        )
    fields: dict[str, Field] = {}
    declared_pk = options.get("primary_key")
    auto_id = "id" not in annotations and declared_pk is None
    if auto_id:
        fields["id"] = Field("id", FieldKind.INT, int, primary_key=True, auto=True, identity=True)
    for name, annotation in annotations.items():
        if name in _RESERVED:
            raise ModelError(
                f"model {cls.__name__}: field name {name!r} is reserved by node parameters; "
                "rename the field",
                code="DF-MODEL-RESERVED-NAME",
                details={"field": name},
            )
        default = MISSING
        for klass in cls.__mro__:
            if name in klass.__dict__:
                default = klass.__dict__[name]
                break
        fields[name] = field_from_annotation(name, annotation, default)
    if declared_pk is not None:
        pk = tuple([declared_pk] if isinstance(declared_pk, str) else declared_pk)
    else:
        pk = ("id",)
    for key in pk:
        if key not in fields:
            raise ModelError(
                f"model {cls.__name__}: primary key field {key!r} is not declared",
                code="DF-MODEL-PRIMARY-KEY",
            )
        fields[key].primary_key = True
        if fields[key].nullable:
            raise ModelError(
                f"model {cls.__name__}: primary key field {key!r} cannot be nullable",
                code="DF-MODEL-PRIMARY-KEY",
            )
    soft_delete = bool(options.get("soft_delete", False))
    versioned = bool(options.get("versioned", False))
    multi_tenant = bool(options.get("multi_tenant", False))
    auto_columns: list[Field] = [
        Field("created_at", FieldKind.DATETIME, dt.datetime, auto=True),
        Field("updated_at", FieldKind.DATETIME, dt.datetime, auto=True),
    ]
    if soft_delete:
        auto_columns.append(
            Field("deleted_at", FieldKind.DATETIME, dt.datetime, nullable=True, auto=True)
        )
    if multi_tenant:
        # Indexed: every statement on the model filters on it.
        auto_columns.append(Field("tenant_id", FieldKind.STR, str, auto=True, indexed=True))
    if versioned:
        auto_columns.append(Field("version", FieldKind.INT, int, auto=True, default=1))
    for col in auto_columns:
        if col.name in fields:
            raise ModelError(
                f"model {cls.__name__}: {col.name!r} is an automatic column; remove the annotation",
                code="DF-MODEL-RESERVED-NAME",
                details={"field": col.name},
            )
        fields[col.name] = col

    def _groups(key: str) -> list[tuple[str, ...]]:
        groups: list[tuple[str, ...]] = []
        declared = options.get(key, []) or []
        if not isinstance(declared, list | tuple) or not all(
            isinstance(g, str) or (isinstance(g, list | tuple) and g) for g in declared
        ):
            raise ModelError(
                f"model {cls.__name__}: __dataflow__[{key!r}] must be a list of field-name "
                "lists, e.g. [['department', 'age']]",
                code="DF-MODEL-OPTION",
                details={"option": key},
            )
        for group in declared:
            names = (group,) if isinstance(group, str) else tuple(group)
            for n in names:
                if n not in fields:
                    raise ModelError(
                        f"model {cls.__name__}: {key} names unknown field {n!r}",
                        code="DF-MODEL-OPTION",
                        details={"field": n},
                    )
                if key == "unique" and len(names) == 1:
                    fields[n].unique = True
                fields[n].indexed = True
            groups.append(names)
        return groups

    indexes = _groups("indexes")
    unique = _groups("unique")
    if multi_tenant and not any(g[0] == "tenant_id" for g in [*indexes, *unique]):
        indexes.append(("tenant_id",))
    table = options.get("table")
    if table is None:
        table = table_name_for(cls.__name__)
    if not isinstance(table, str) or not table:
        raise ModelError(
            f"model {cls.__name__}: __dataflow__['table'] must be a non-empty string",
            code="DF-MODEL-OPTION",
        )
    return ModelDef(
        name=cls.__name__,
        table_name=table,
        fields=fields,
        primary_key=pk,
        soft_delete=soft_delete,
        versioned=versioned,
        multi_tenant=multi_tenant,
        audit_log=bool(options.get("audit_log", False)),
        indexes=indexes,
        unique=unique,
        database=str(options.get("database", "primary")),
        schema=options.get("schema"),
        auto_id=auto_id,
        source=cls,
        personal=_personal(cls, options, fields),
    )
