"""Per-model, per-dialect statement plans, computed once and reused by every node call."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..dialects import Dialect, Params, RowDecoder
from ..errors import ValidationError
from ..models import DATABASE_DEFAULT, MISSING, Field, FieldKind, ModelDef
from ..query import Bound
from ..query import Node as FilterNode
from ._base import tenant_required

if TYPE_CHECKING:
    from ..adapters import Connection

__all__ = ["GivenKeys", "ModelPlan"]

# Inline checks that accept a value as it is; anything else goes to the field's validator.
_FAST_CHECKS = {
    FieldKind.STR: "type({v}) is str",
    FieldKind.INT: "type({v}) is int and -9223372036854775808 <= {v} <= 9223372036854775807",
    FieldKind.BOOL: "type({v}) is bool",
    FieldKind.FLOAT: "type({v}) is float and {v} == {v}",
}


class ModelPlan:
    """Precomputed SQL fragments and codecs for one model on one dialect."""

    def __init__(
        self, model: ModelDef, dialect: Dialect, identity: frozenset[str] = frozenset()
    ) -> None:
        self.model = model
        self.dialect = dialect
        self.fields: list[Field] = list(model.fields.values())
        self.table = dialect.table(model)
        self.select = dialect.select_list(self.fields)
        self.decode: RowDecoder = dialect.row_decoder(self.fields)
        self.pk_fields = [model.fields[k] for k in model.primary_key]
        # Insert columns: the writable fields (with the identity columns records give
        # explicitly, in a plan made by ``with_identity``), then the stamped columns.
        self.writable: list[Field] = [f for f in self.fields if not f.auto or f.name in identity]
        #: The identity columns this plan's inserts give explicitly.
        self.identity: list[Field] = [f for f in self.fields if f.name in identity]
        #: The database numbers inserted records (the key comes back from the insert).
        self.auto_id = model.auto_id and not identity.intersection(model.primary_key)
        self._identity_plans: dict[frozenset[str], ModelPlan] = {}
        stamped = [*model.stamps, *(["version"] if model.versioned else [])]
        #: ``tenant_id`` on a multi-tenant model: stamped on every insert, and compared
        #: with the bound tenant in every WHERE.
        self.tenant_field = model.fields["tenant_id"] if model.multi_tenant else None
        self._time_stamps: list[Field] = [model.fields[n] for n in stamped]
        self.stamp_fields: list[Field] = self._time_stamps + (
            [self.tenant_field] if self.tenant_field is not None else []
        )
        self.updated_at = model.fields["updated_at"] if "updated_at" in model.stamps else None
        self.insert_fields: list[Field] = self.writable + self.stamp_fields
        self.insert_encoders: list[Callable[[Any], Any] | None] = [
            dialect.encoder(f) for f in self.writable
        ]
        self._insert_one: dict[bool, str] = {}
        self._writable_names = frozenset(f.name for f in self.writable)
        self._encode_rows: Callable[[Any], list[tuple[Any, ...]] | None] | None = None
        self._row_specs = [
            (f.name, f, enc, f.default is not MISSING or f.nullable)
            for f, enc in zip(self.writable, self.insert_encoders, strict=True)
        ]
        self.soft_delete_field = model.fields.get("deleted_at") if model.soft_delete else None
        # Registered columns the database fills in when a record omits them.
        self.db_defaults = [f for f in self.writable if f.default is DATABASE_DEFAULT]
        self._decoders: dict[tuple[str, ...], RowDecoder] = {}

    def with_identity(self, names: frozenset[str]) -> ModelPlan:
        """The plan for inserts that give the identity columns ``names`` explicitly."""
        if not names:
            return self
        plan = self._identity_plans.get(names)
        if plan is None:
            plan = self._identity_plans[names] = ModelPlan(self.model, self.dialect, names)
        return plan

    def given_identity(self, record: Mapping[str, Any]) -> frozenset[str]:
        """The identity columns a validated record gives."""
        return frozenset(n for n in self.model.identity_names if n in record)

    def identity_tops(self, rows: Sequence[Sequence[Any]]) -> list[tuple[Field, Any]]:
        """The largest value each identity column this plan gives takes in the encoded
        ``rows`` (``insert_fields`` order; ``DATABASE_DEFAULT`` where a record leaves it
        to the database).

        Raises:
            ValidationError: ``DF-PARAM-RANGE`` for a 0 where the database would number
                the record instead of storing 0 (MySQL), before anything is written.
        """
        tops = []
        for f in self.identity:
            i = self.insert_fields.index(f)
            values = [r[i] for r in rows if r[i] is not DATABASE_DEFAULT]
            if not values:
                continue
            if self.dialect.identity_zero_generates and 0 in values:
                at = next(n for n, r in enumerate(rows) if r[i] == 0)
                which = "the record" if len(rows) == 1 else f"data[{at}]"
                raise ValidationError(
                    f"{self.model.name}: {which} gives {f.name!r} = 0, and this database "
                    "numbers a record whose AUTO_INCREMENT column is 0 rather than storing 0; "
                    "give another value, or leave it out",
                    code="DF-PARAM-RANGE",
                    details={"model": self.model.name, "field": f.name, "index": at},
                )
            tops.append((f, max(values)))
        return tops

    async def resync_identity(self, conn: Connection, tops: list[tuple[Field, Any]]) -> None:
        """Move the sequences of identity columns given explicitly past the largest values
        given (``identity_tops``), so the next generated value does not collide
        (PostgreSQL; the other databases keep their counters themselves)."""
        for f, top in tops:
            p = Params(self.dialect)
            sql = self.dialect.identity_resync_sql(self.model, f, top, p)
            if sql is not None:
                await conn.fetch(sql, p.values)

    def given_keys(self) -> GivenKeys:
        """For inserting encoded rows one by one; see :class:`GivenKeys`."""
        return GivenKeys(self)

    def pipeline_sql(self, where: str, stages: Any, params: Any) -> tuple[str, list[Field]]:
        """One statement for an aggregation pipeline over the rows ``where`` selects."""
        d = self.dialect
        columns = ", ".join(f"{d.column(f)} AS {d.quote(f.name)}" for f in self.fields)
        base = f"SELECT {columns} FROM {self.table} WHERE {where}"
        key = [(replace(f, column=f.name), False) for f in self.pk_fields]
        sql, fields = d.pipeline_sql(base, stages, params, key)
        if not stages:  # an empty pipeline: the records as they are
            fields = [replace(f, column=f.name) for f in self.fields]
        return sql, fields

    def decoder_for(self, fields: Sequence[Field]) -> RowDecoder:
        key = tuple(f.name for f in fields)
        dec = self._decoders.get(key)
        if dec is None:
            dec = self._decoders[key] = self.dialect.row_decoder(fields)
        return dec

    def insert_one(self) -> str:
        """The single-row INSERT, with RETURNING when the connected server has it."""
        returning = self.dialect.insert_returning
        sql = self._insert_one.get(returning)
        if sql is None:
            sql = self._insert_one[returning] = self.dialect.insert_sql(
                self.model,
                self.insert_fields,
                1,
                1,
                returning=self.fields if returning else None,
            )
        return sql

    def stamp(self, now: Any, tenant: str | None = None) -> tuple[Any, ...]:
        """Encoded values of the stamp columns (created_at, updated_at[, version]
        [, tenant_id])."""
        enc = self.dialect.encode
        out = tuple(1 if f.name == "version" else enc(f, now) for f in self._time_stamps)
        if self.tenant_field is not None:
            if tenant is None:
                raise tenant_required(self.model)
            out += (enc(self.tenant_field, tenant),)
        return out

    def tenant_sql(self, params: Params, tenant: str | None) -> str | None:
        """The ``tenant_id = ?`` condition that scopes every statement on a multi-tenant
        model to the bound tenant; None for other models.

        Raises:
            TenantError: ``DF-TENANT-REQUIRED`` for a multi-tenant model and no tenant.
        """
        f = self.tenant_field
        if f is None:
            return None
        if tenant is None:
            raise tenant_required(self.model)
        d = self.dialect
        return d.compare_sql(f, d.column(f), "=", params.add_field(f, tenant))

    def update_stamps(self, params: Any, now: Any) -> list[str]:
        """SET fragments every UPDATE adds: ``updated_at``, and the version increment."""
        d = self.dialect
        sets = []
        if self.updated_at is not None:
            sets.append(f"{d.column(self.updated_at)} = {params.add_field(self.updated_at, now)}")
        if self.model.versioned:
            vcol = d.column(self.model.fields["version"])
            sets.append(f"{vcol} = {vcol} + 1")
        return sets

    def encode_insert_row(self, values: dict[str, Any], stamp: tuple[Any, ...]) -> list[Any]:
        """Driver values for ``insert_fields`` from a validated record and a stamp."""
        out = []
        for f, enc in zip(self.writable, self.insert_encoders, strict=True):
            v = values.get(f.name)
            out.append(v if enc is None or v is None or v is DATABASE_DEFAULT else enc(v))
        out.extend(stamp)
        return out

    def without_defaults(self, row: Sequence[Any]) -> tuple[tuple[Field, ...], tuple[Any, ...]]:
        """The insert columns and values of an encoded row, less the columns left to the
        database's default."""
        keep = [i for i, v in enumerate(row) if v is not DATABASE_DEFAULT]
        return (
            tuple(self.insert_fields[i] for i in keep),
            tuple(row[i] for i in keep),
        )

    def encode_rows(self, data: Any) -> list[tuple[Any, ...]] | None:
        """Validate and encode records in one pass (``writable`` column order).

        The fast path for bulk writes; returns None as soon as a record needs the detailed
        validator (an unknown or missing field, a bad value), which then reports it.
        """
        if self.db_defaults:
            return None  # records may leave columns to the database: validated one by one
        if self._encode_rows is None:
            self._encode_rows = self._compile_row_encoder()
        try:
            return self._encode_rows(data)
        except Exception:  # a value the detailed validator will explain
            return None

    def _compile_row_encoder(self) -> Callable[[Any], list[tuple[Any, ...]] | None]:
        # Generated once per model: inline type checks for the common kinds, the field's
        # own validator otherwise. Field names enter the code only as repr() literals.
        ns: dict[str, Any] = {"M": MISSING, "names": self._writable_names}
        body = []
        out = []
        for i, (name, f, enc, optional) in enumerate(self._row_specs):
            ns[f"c{i}"] = f._check
            fast = _FAST_CHECKS.get(f.kind, "False")
            body.append(f"        v{i} = get({name!r}, M)")
            body.append(f"        if not ({fast.format(v=f'v{i}')}):")
            body.append(f"            if v{i} is M:")
            if not optional:
                body.append("                return None")
            elif f.default is MISSING or f.default is None:
                body.append(f"                v{i} = None")
            elif isinstance(f.default, dict | list):  # a fresh copy for every record
                ns[f"default{i}"] = f.default_value
                body.append(f"                v{i} = default{i}()")
            else:
                ns[f"default{i}"] = f.default
                body.append(f"                v{i} = default{i}")
            body.append(f"            elif v{i} is None:")
            body.append("                pass" if f.nullable else "                return None")
            body.append("            else:")
            body.append(f"                v{i} = c{i}(v{i})")
            if enc is not None:
                ns[f"e{i}"] = enc
                out.append(f"None if v{i} is None else e{i}(v{i})")
            else:
                out.append(f"v{i}")
        source = "\n".join(
            [
                "def encode_rows(data):",
                "    rows = []",
                "    append = rows.append",
                "    for record in data:",
                "        if not names.issuperset(record):",
                "            return None",
                "        get = record.get",
                *body,
                "        append((" + "".join(v + ", " for v in out) + "))",
                "    return rows",
            ]
        )
        exec(source, ns)
        fn: Callable[[Any], list[tuple[Any, ...]] | None] = ns["encode_rows"]
        return fn

    def where(
        self,
        node: FilterNode | Bound | None,
        params: Params,
        *,
        include_deleted: bool = False,
        tenant: str | None = None,
    ) -> str:
        """The WHERE condition for a filter, with soft-deleted rows excluded by default,
        ANDed with the tenant condition on a multi-tenant model (so a filter can only
        narrow the tenant's rows, never reach another's)."""
        cond = self.dialect.compile_filter(node, params)
        if self.soft_delete_field is not None and not include_deleted:
            col = self.dialect.column(self.soft_delete_field)
            cond = f"{col} IS NULL" if cond == "1=1" else f"{cond} AND {col} IS NULL"
        scope = self.tenant_sql(params, tenant)
        if scope is not None:
            cond = scope if cond == "1=1" else f"({cond}) AND {scope}"
        return cond

    def pk_values(self, value: Any, *, param: str = "id") -> list[Any]:
        """Validated primary-key values from an ``id`` parameter (scalar, list or dict)."""
        fields = self.pk_fields
        if not fields:
            reason = self.model.read_only_reason or "it has no primary key"
            raise ValidationError(
                f"{self.model.name} records cannot be addressed by {param}: {reason}; "
                "select them with a filter instead",
                code="DF-PARAM-CONFLICT",
                details={"param": param, "model": self.model.name},
            )
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

    def pk_where(self, values: Sequence[Any], params: Params, tenant: str | None = None) -> str:
        """The condition selecting one record by key (and, on a multi-tenant model, only
        the bound tenant's: another tenant's key matches nothing)."""
        cond = " AND ".join(
            f"{self.dialect.column(f)} = {params.add_field(f, v)}"
            for f, v in zip(self.pk_fields, values, strict=True)
        )
        scope = self.tenant_sql(params, tenant)
        return cond if scope is None else f"{cond} AND {scope}"

    def pk_output(self, row: dict[str, Any]) -> Any:
        if len(self.pk_fields) == 1:
            return row[self.pk_fields[0].name]
        return {f.name: row[f.name] for f in self.pk_fields}


class GivenKeys:
    """Records inserted one by one, some giving identity values and some leaving them to
    the database: a record the database numbers after records that gave larger values gets
    a number after theirs, as on every database (the sequence is moved before it)."""

    def __init__(self, plan: ModelPlan) -> None:
        self._plan = plan
        self._at = [plan.insert_fields.index(f) for f in plan.identity]
        self._tops: dict[str, tuple[Field, Any]] = {}

    async def before(self, conn: Connection, row: Sequence[Any]) -> None:
        """Call before inserting ``row``."""
        if not self._at:
            return
        if self._tops and any(row[i] is DATABASE_DEFAULT for i in self._at):
            await self._plan.resync_identity(conn, list(self._tops.values()))
            self._tops.clear()
        for f, top in self._plan.identity_tops([row]):
            if f.name not in self._tops or self._tops[f.name][1] < top:
                self._tops[f.name] = (f, top)
