"""Model definitions as plain JSON, and back (pure): what the model registry stores.

The definition holds everything a node needs (names, columns, kinds, keys, options,
enum members), so another process rebuilds the same model without the class that
declared it. The checksum is over the canonical JSON text, so it changes when, and only
when, the definition does.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
import uuid
from decimal import Decimal
from typing import Any

from ..errors import ModelError
from ._fields import DATABASE_DEFAULT, MISSING, Field, FieldKind
from ._model import ModelDef

__all__ = ["checksum", "model_from_definition", "model_to_definition"]

FORMAT = 1

_PLAIN_TYPES: dict[str, Any] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "Decimal": Decimal,
    "datetime": dt.datetime,
    "date": dt.date,
    "time": dt.time,
    "UUID": uuid.UUID,
    "bytes": bytes,
    "dict": dict,
    "list": list,
    "object": object,
}


def _type_name(python_type: Any) -> str | None:
    if python_type is None:
        return None
    for name, known in _PLAIN_TYPES.items():
        if python_type is known:
            return name
    return getattr(python_type, "__name__", str(python_type))


def _default(field: Field) -> Any:
    value = field.default
    if value is MISSING:
        return {"missing": True}
    if value is DATABASE_DEFAULT:
        return {"database": True}
    if isinstance(value, enum.Enum):
        return {"enum": value.name}
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return {"iso": value.isoformat(), "type": _type_name(type(value))}
    if isinstance(value, Decimal | uuid.UUID):
        return {"text": str(value), "type": _type_name(type(value))}
    if isinstance(value, bytes):
        return {"hex": value.hex()}
    return {"value": value}


def model_to_definition(model: ModelDef) -> dict[str, Any]:
    """A JSON-friendly definition of ``model``, complete enough to rebuild it."""
    fields = []
    for f in model.fields.values():
        entry: dict[str, Any] = {
            "name": f.name,
            "kind": f.kind.value,
            "type": _type_name(f.python_type),
            "nullable": f.nullable,
            "default": _default(f),
            "primary_key": f.primary_key,
            "auto": f.auto,
            "column": f.column,
            "item_type": _type_name(f.item_type),
            "indexed": f.indexed,
            "unique": f.unique,
            "db_type": f.db_type,
        }
        if f.identity and not (model.auto_id and f.primary_key):
            # Only when it is not implied by auto_id, so other definitions keep their
            # checksums.
            entry["identity"] = True
        if f.kind is FieldKind.ENUM:
            entry["members"] = [[m.name, m.value] for m in f.python_type]
        fields.append(entry)
    definition: dict[str, Any] = {
        "format": FORMAT,
        "name": model.name,
        "table": model.table_name,
        "schema": model.schema,
        "primary_key": list(model.primary_key),
        "fields": fields,
        "soft_delete": model.soft_delete,
        "versioned": model.versioned,
        "indexes": [list(g) for g in model.indexes],
        "unique": [list(g) for g in model.unique],
        "read_only": model.read_only,
        "read_only_reason": model.read_only_reason,
        "database": model.database,
        "auto_id": model.auto_id,
        "stamps": list(model.stamps),
        "managed": model.managed,
    }
    # Only when set, so the definitions (and checksums) of other models do not change.
    if model.multi_tenant:
        definition["multi_tenant"] = True
    if model.audit_log:
        definition["audit_log"] = True
    if model.personal:
        definition["personal"] = list(model.personal)
    return definition


def checksum(definition: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON text of a definition."""
    text = json.dumps(definition, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _python_type(entry: dict[str, Any], model: str) -> Any:
    if entry["kind"] == FieldKind.ENUM.value:
        members = [(name, value) for name, value in entry["members"]]
        return enum.Enum(entry["type"] or f"{model}{entry['name']}", members)
    try:
        return _PLAIN_TYPES[entry["type"]]
    except KeyError:
        raise ModelError(
            f"model {model}: the registry names an unknown type {entry['type']!r} for "
            f"{entry['name']!r}",
            code="DF-MODEL-FIELD-TYPE",
            details={"model": model, "field": entry["name"]},
        ) from None


def _restore_default(spec: dict[str, Any], python_type: Any) -> Any:
    if spec.get("missing"):
        return MISSING
    if spec.get("database"):
        return DATABASE_DEFAULT
    if "enum" in spec:
        return python_type[spec["enum"]]
    if "iso" in spec:
        return _PLAIN_TYPES[spec["type"]].fromisoformat(spec["iso"])
    if "text" in spec:
        return _PLAIN_TYPES[spec["type"]](spec["text"])
    if "hex" in spec:
        return bytes.fromhex(spec["hex"])
    return spec.get("value")


def model_from_definition(definition: dict[str, Any]) -> ModelDef:
    """Rebuild a model from :func:`model_to_definition`'s output.

    Raises:
        ModelError: ``DF-MODEL-FIELD-TYPE`` for a definition this version cannot read.
    """
    name = definition["name"]
    if definition.get("format") != FORMAT:
        raise ModelError(
            f"model {name}: registry format {definition.get('format')!r} is not {FORMAT}",
            code="DF-MODEL-FIELD-TYPE",
            details={"model": name},
        )
    fields: dict[str, Field] = {}
    for entry in definition["fields"]:
        python_type = _python_type(entry, name)
        fields[entry["name"]] = Field(
            entry["name"],
            FieldKind(entry["kind"]),
            python_type,
            nullable=entry["nullable"],
            default=_restore_default(entry["default"], python_type),
            primary_key=entry["primary_key"],
            auto=entry["auto"],
            identity=bool(entry.get("identity"))
            or (definition["auto_id"] and entry["primary_key"] and entry["auto"]),
            column=entry["column"],
            item_type=_PLAIN_TYPES.get(entry["item_type"]) if entry["item_type"] else None,
            indexed=entry["indexed"],
            unique=entry["unique"],
            db_type=entry["db_type"],
        )
    return ModelDef(
        name=name,
        table_name=definition["table"],
        fields=fields,
        primary_key=tuple(definition["primary_key"]),
        soft_delete=definition["soft_delete"],
        versioned=definition["versioned"],
        multi_tenant=bool(definition.get("multi_tenant", False)),
        audit_log=bool(definition.get("audit_log", False)),
        personal=tuple(definition.get("personal", ())),
        indexes=[tuple(g) for g in definition["indexes"]],
        unique=[tuple(g) for g in definition["unique"]],
        read_only=definition["read_only"],
        read_only_reason=definition["read_only_reason"],
        database=definition["database"],
        schema=definition["schema"],
        auto_id=definition["auto_id"],
        stamps=tuple(definition["stamps"]),
        managed=definition["managed"],
    )
