"""Per-model, per-dialect statement plans, computed once and reused by every node call."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..dialects import Dialect, Params, RowDecoder
from ..errors import ValidationError
from ..models import MISSING, Field, ModelDef
from ..query import Node as FilterNode

__all__ = ["ModelPlan"]


class ModelPlan:
    """Precomputed SQL fragments and codecs for one model on one dialect."""

    def __init__(self, model: ModelDef, dialect: Dialect) -> None:
        self.model = model
        self.dialect = dialect
        self.fields: list[Field] = list(model.fields.values())
        self.table = dialect.table(model)
        self.select = dialect.select_list(self.fields)
        self.decode: RowDecoder = dialect.row_decoder(self.fields)
        self.pk_fields = [model.fields[k] for k in model.primary_key]
        # Insert columns: the writable fields, then the columns stamped at write time.
        self.writable: list[Field] = [f for f in self.fields if not f.auto]
        stamped = ["created_at", "updated_at"] + (["version"] if model.versioned else [])
        self.stamp_fields: list[Field] = [model.fields[n] for n in stamped]
        self.insert_fields: list[Field] = self.writable + self.stamp_fields
        self.insert_encoders: list[Callable[[Any], Any] | None] = [
            dialect.encoder(f) for f in self.writable
        ]
        self.insert_one = dialect.insert_sql(
            model,
            self.insert_fields,
            1,
            1,
            returning=self.fields if dialect.supports_returning else None,
        )
        self._writable_names = frozenset(f.name for f in self.writable)
        self._row_specs = [
            (f.name, f, enc, f.default is not MISSING or f.nullable)
            for f, enc in zip(self.writable, self.insert_encoders, strict=True)
        ]
        self.soft_delete_field = model.fields.get("deleted_at") if model.soft_delete else None
        self._decoders: dict[tuple[str, ...], RowDecoder] = {}

    def decoder_for(self, fields: Sequence[Field]) -> RowDecoder:
        key = tuple(f.name for f in fields)
        dec = self._decoders.get(key)
        if dec is None:
            dec = self._decoders[key] = self.dialect.row_decoder(fields)
        return dec

    def stamp(self, now: Any) -> tuple[Any, ...]:
        """Encoded values of the stamp columns (created_at, updated_at[, version])."""
        enc = self.dialect.encode
        values = [enc(self.stamp_fields[0], now), enc(self.stamp_fields[1], now)]
        if len(self.stamp_fields) > 2:
            values.append(1)
        return tuple(values)

    def encode_insert_row(self, values: dict[str, Any], stamp: tuple[Any, ...]) -> list[Any]:
        """Driver values for ``insert_fields`` from a validated record and a stamp."""
        out = []
        for f, enc in zip(self.writable, self.insert_encoders, strict=True):
            v = values.get(f.name)
            out.append(enc(v) if enc is not None and v is not None else v)
        out.extend(stamp)
        return out

    def encode_rows(self, data: Any) -> list[tuple[Any, ...]] | None:
        """Validate and encode records in one pass (``writable`` column order).

        The fast path for bulk writes; returns None as soon as a record needs the detailed
        validator (an unknown or missing field, a bad value), which then reports it.
        """
        names = self._writable_names
        specs = self._row_specs
        rows: list[tuple[Any, ...]] = []
        append = rows.append
        try:
            for record in data:
                if not names.issuperset(record):
                    return None
                values = []
                for name, f, enc, optional in specs:
                    v = record.get(name, MISSING)
                    if v is MISSING:
                        if not optional:
                            return None
                        v = f.default_value() if f.default is not MISSING else None
                    elif v is not None:
                        v = f._check(v)
                    elif not f.nullable:
                        return None
                    values.append(enc(v) if enc is not None and v is not None else v)
                append(tuple(values))
        except Exception:  # a value the detailed validator will explain
            return None
        return rows

    def where(
        self, node: FilterNode | None, params: Params, *, include_deleted: bool = False
    ) -> str:
        """The WHERE condition for a filter, with soft-deleted rows excluded by default."""
        cond = self.dialect.compile_filter(node, params)
        if self.soft_delete_field is not None and not include_deleted:
            col = self.dialect.column(self.soft_delete_field)
            cond = f"{col} IS NULL" if cond == "1=1" else f"{cond} AND {col} IS NULL"
        return cond

    def pk_values(self, value: Any, *, param: str = "id") -> list[Any]:
        """Validated primary-key values from an ``id`` parameter (scalar, list or dict)."""
        fields = self.pk_fields
        if len(fields) == 1:
            if isinstance(value, dict) and fields[0].name in value and len(value) == 1:
                value = value[fields[0].name]
            return [fields[0].validate(value, where=f"{param}: ")]
        if isinstance(value, dict):
            missing = [f.name for f in fields if f.name not in value]
            if missing or len(value) != len(fields):
                raise ValidationError(
                    f"{param} of {self.model.name} is a composite key; give "
                    f"{{{', '.join(repr(f.name) + ': ...' for f in fields)}}}",
                    code="DF-PARAM-TYPE",
                    details={"param": param, "primary_key": [f.name for f in fields]},
                )
            return [f.validate(value[f.name], where=f"{param}: ") for f in fields]
        if isinstance(value, list | tuple) and len(value) == len(fields):
            return [f.validate(v, where=f"{param}: ") for f, v in zip(fields, value, strict=True)]
        raise ValidationError(
            f"{param} of {self.model.name} is a composite key; give a dict of "
            f"{', '.join(f.name for f in fields)}",
            code="DF-PARAM-TYPE",
            details={"param": param, "primary_key": [f.name for f in fields]},
        )

    def pk_where(self, values: Sequence[Any], params: Params) -> str:
        return " AND ".join(
            f"{self.dialect.column(f)} = {params.add_field(f, v)}"
            for f, v in zip(self.pk_fields, values, strict=True)
        )

    def pk_output(self, row: dict[str, Any]) -> Any:
        if len(self.pk_fields) == 1:
            return row[self.pk_fields[0].name]
        return {f.name: row[f.name] for f in self.pk_fields}
