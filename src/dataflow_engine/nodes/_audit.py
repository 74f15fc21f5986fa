"""The audit log: one row per record a write node creates, updates or deletes, written on
the write's own connection inside its transaction (a rolled-back write leaves no row).

Values are stored as JSON in the form each model field gives them (Decimal, date-times,
UUIDs as text, bytes as base64, enums as their stored text, non-finite floats as text) and
read back to the field's Python type by :func:`decode_values`.

The bulk paths here are the audited (and version-checked) variants of the bulk nodes: they
read the affected rows first, locked where the dialect can (``FOR UPDATE``), write by key,
and read the rows back, so every record gets its exact ``before`` and ``after``.

On a multi-tenant model every statement here carries the bound tenant's condition (the
keys alone would reach another tenant's rows), and an entry records the bound tenant; with
no tenant bound they raise ``DF-TENANT-REQUIRED`` rather than send an unscoped statement.

:func:`record_entries` finds the entries of given records (for the GDPR export) and
:func:`redact` replaces field values in them (for the GDPR anonymisation).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import enum
import functools
import hashlib
import json
import math
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from ..adapters import Connection
from ..dialects import Params
from ..errors import OptimisticLockError, ValidationError
from ..models import DATABASE_DEFAULT, Field, FieldKind, ModelDef, build_model
from ..models._fields import enum_db_value, enum_from_db
from ..query import In, SetItem
from ._base import ExecContext, tenant_required
from ._plan import ModelPlan

__all__ = [
    "AUDIT_TABLE",
    "audit_columns",
    "audit_model",
    "bulk_create",
    "bulk_delete",
    "bulk_update",
    "decode_record_id",
    "decode_values",
    "entry_output",
    "fetch_row",
    "key_digest",
    "key_text",
    "record",
    "record_entries",
    "record_upsert",
    "redact",
    "rows_by_keys",
    "upsert_before",
]

#: The engine-owned table holding the audit log (one per database).
AUDIT_TABLE = "dataflow_audit_log"

#: Rows per statement when the bulk paths address rows by key.
_KEYS_PER_STATEMENT = 500
_MAX_PARAMS = 30000

#: ``(action, before, after)``: ``before`` is None for a create, ``after`` for a hard delete.
Change = tuple[str, Mapping[str, Any] | None, Mapping[str, Any] | None]


@functools.cache
def audit_model() -> ModelDef:
    """The audit table: who changed which record how, and when.

    ``record_id`` is the record's key as JSON; ``record_key`` a digest of it, indexed (a
    key's JSON may be longer than MySQL indexes).
    """

    class DataflowAuditLog:
        model: str
        record_key: str
        record_id: str
        action: str
        before: dict | None  # type: ignore[type-arg]
        after: dict | None  # type: ignore[type-arg]
        tenant_id: str | None
        actor: str | None
        at: dt.datetime
        __dataflow__ = {
            "table": AUDIT_TABLE,
            "indexes": [["model", "record_key"], ["at"], ["tenant_id"]],
        }

    built = build_model(DataflowAuditLog)
    # Entries are written once and never updated: ``at`` is their only time stamp.
    fields = {n: f for n, f in built.fields.items() if n not in built.stamps}
    return replace(built, fields=fields, stamps=())


@functools.cache
def audit_columns() -> tuple[str, ...]:
    """The columns an audit table must have to take rows (the model is built on first
    use, not at import)."""
    return tuple(f.column for f in audit_model().fields.values())


_WRITTEN = [
    "model",
    "record_key",
    "record_id",
    "action",
    "before",
    "after",
    "tenant_id",
    "actor",
    "at",
]


# -- values as JSON --------------------------------------------------------------------------


def _float_out(value: float) -> Any:
    return value if math.isfinite(value) else repr(value)  # "inf" / "-inf": not JSON numbers


_ENCODE: dict[FieldKind, Callable[[Any], Any]] = {
    FieldKind.FLOAT: _float_out,
    FieldKind.DECIMAL: str,
    FieldKind.DATETIME: lambda v: v.isoformat(),
    FieldKind.DATE: lambda v: v.isoformat(),
    FieldKind.TIME: lambda v: v.isoformat(),
    FieldKind.UUID: str,
    FieldKind.BYTES: lambda v: base64.b64encode(v).decode("ascii"),
    FieldKind.ENUM: enum_db_value,
}


def _float_in(value: Any, f: Field) -> Any:
    if f.item_type is float and isinstance(value, list):  # list[float]: JSON may give 1
        return [float(x) if isinstance(x, int) and not isinstance(x, bool) else x for x in value]
    return value


_DECODE: dict[FieldKind, Callable[[Any, Field], Any]] = {
    FieldKind.INT: lambda v, f: int(v),
    FieldKind.FLOAT: lambda v, f: float(v),
    FieldKind.DECIMAL: lambda v, f: Decimal(v),
    FieldKind.DATETIME: lambda v, f: dt.datetime.fromisoformat(v),
    FieldKind.DATE: lambda v, f: dt.date.fromisoformat(v),
    FieldKind.TIME: lambda v, f: dt.time.fromisoformat(v),
    FieldKind.UUID: lambda v, f: uuid.UUID(v),
    FieldKind.BYTES: lambda v, f: base64.b64decode(v, validate=True),
    FieldKind.ENUM: lambda v, f: enum_from_db(f.python_type, v),
    FieldKind.JSON: _float_in,
}


def encode_value(f: Field, value: Any) -> Any:
    """A field's value as JSON data (None stays None)."""
    if value is None:
        return None
    enc = _ENCODE.get(f.kind)
    return value if enc is None else enc(value)


def decode_value(f: Field, value: Any) -> Any:
    """The field's Python value from its JSON form; the JSON value itself when it does not
    fit the field (the model changed since the entry was written)."""
    if value is None:
        return None
    dec = _DECODE.get(f.kind)
    if dec is None:
        return value
    try:
        return dec(value, f)
    except (ValueError, TypeError, KeyError, binascii.Error):
        return value


def encode_values(model: ModelDef, row: Mapping[str, Any]) -> dict[str, Any]:
    """A record's fields as JSON data."""
    return {n: encode_value(f, row[n]) for n, f in model.fields.items() if n in row}


def decode_values(model: ModelDef | None, data: Any) -> Any:
    """A record read back from an audit entry, each field as its Python type (as stored,
    when the model is not registered here)."""
    if model is None or not isinstance(data, Mapping):
        return data
    fields = model.fields
    return {k: decode_value(fields[k], v) if k in fields else v for k, v in data.items()}


# -- record keys -----------------------------------------------------------------------------


def _key_part(value: Any) -> Any:
    """One key value in its canonical JSON form: equal keys give equal text (a date-time in
    UTC, a Decimal without trailing zeros)."""
    if isinstance(value, enum.Enum):
        return enum_db_value(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, bool) or value is None or isinstance(value, int | float | str):
        return value
    raise ValidationError(
        f"a record id cannot be {type(value).__name__}; give the key's value (a composite "
        "key as a dict of its fields)",
        code="DF-PARAM-TYPE",
        details={"param": "record_id", "given": type(value).__name__},
    )


def key_text(pk: Sequence[Field] | Sequence[str], values: Sequence[Any]) -> str:
    """A record's key as canonical JSON: the value for a one-field key, an object of field
    name to value for a composite one."""
    names = [f if isinstance(f, str) else f.name for f in pk]
    if len(names) == 1:
        data: Any = _key_part(values[0])
    else:
        data = {n: _key_part(v) for n, v in zip(names, values, strict=True)}
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def key_digest(text: str) -> str:
    """The indexed form of a key's JSON text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def decode_record_id(model: ModelDef | None, text: str) -> Any:
    """A key's Python value from its JSON text (a dict for a composite key)."""
    try:
        data = json.loads(text)
    except ValueError:
        return text
    if model is None:
        return data
    pk = [model.fields[k] for k in model.primary_key if k in model.fields]
    if len(pk) == 1 and not isinstance(data, dict):
        return decode_value(pk[0], data)
    return decode_values(model, data)


# -- writing entries -------------------------------------------------------------------------


async def record(
    ctx: ExecContext, conn: Connection, plan: ModelPlan, changes: Sequence[Change]
) -> None:
    """Write one audit entry per change, on ``conn`` (inside the write's transaction).

    Raises:
        SchemaError: the model's database has no usable audit table (existing-schema
            mode, or ``auto_migrate=False``, and nobody created it).
    """
    if not changes:
        return
    model = plan.model
    await ctx.dataflow._require_audit_table(model, conn)
    audit = audit_model()
    d = plan.dialect
    fields = [audit.fields[n] for n in _WRITTEN]
    at = d.now()
    tenant = ctx.tenant_id
    if model.multi_tenant and tenant is None:  # every row was read for the bound tenant
        raise tenant_required(model)
    actor = ctx.actor
    pk = plan.pk_fields
    rows = []
    for action, before, after in changes:
        current = after if after is not None else before
        assert current is not None  # every change has a before or an after
        text = key_text(pk, [current[f.name] for f in pk])
        values = [
            model.name,
            key_digest(text),
            text,
            action,
            None if before is None else encode_values(model, before),
            None if after is None else encode_values(model, after),
            tenant,
            actor,
            at,
        ]
        rows.append([d.encode(f, v) for f, v in zip(fields, values, strict=True)])
    await conn.executemany(d.insert_sql(audit, fields, 1, 1), rows)


# -- rows by key -----------------------------------------------------------------------------


def _hashable(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return value


def _row_key(plan: ModelPlan, row: Mapping[str, Any]) -> tuple[Any, ...]:
    """A row's key as the driver sees it (comparable with encoded keys)."""
    d = plan.dialect
    return tuple(_hashable(d.encode(f, row[f.name])) for f in plan.pk_fields)


def _encoded_key(plan: ModelPlan, key: Sequence[Any]) -> tuple[Any, ...]:
    d = plan.dialect
    return tuple(_hashable(d.encode(f, v)) for f, v in zip(plan.pk_fields, key, strict=True))


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _keys_sql(
    plan: ModelPlan, keys: Sequence[Sequence[Any]], p: Params, *, encoded: bool = False
) -> str:
    """The condition selecting the rows with these keys (``encoded``: values already in
    the driver's form)."""
    d = plan.dialect
    pk = plan.pk_fields

    def ph(f: Field, v: Any) -> str:
        return p.add(v) if encoded else p.add_field(f, v)

    if len(pk) == 1:
        f = pk[0]
        return f"{d.column(f)} IN ({', '.join(ph(f, k[0]) for k in keys)})"
    return " OR ".join(
        "("
        + " AND ".join(
            d.compare_sql(f, d.column(f), "=", ph(f, v)) for f, v in zip(pk, k, strict=True)
        )
        + ")"
        for k in keys
    )


async def rows_by_keys(
    conn: Connection,
    plan: ModelPlan,
    keys: Sequence[Sequence[Any]],
    *,
    encoded: bool = False,
    lock: bool = False,
    tenant: str | None = None,
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The rows with these keys (soft-deleted ones too), by their encoded key; on a
    multi-tenant model only ``tenant``'s.

    Raises:
        TenantError: ``DF-TENANT-REQUIRED`` for a multi-tenant model and no ``tenant``.
    """
    d = plan.dialect
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    size = max(1, _KEYS_PER_STATEMENT // max(1, len(plan.pk_fields)))
    for part in _chunks(keys, size):
        p = Params(d)
        cond = _keys_sql(plan, part, p, encoded=encoded)
        scope = plan.tenant_sql(p, tenant)
        if scope is not None:
            cond = f"({cond}) AND {scope}"
        sql = f"SELECT {plan.select} FROM {plan.table} WHERE {cond}"
        if lock:
            sql += d.lock_suffix()
        for raw in await conn.fetch(sql, p.values):
            row = plan.decode(raw)
            out[_row_key(plan, row)] = row
    return out


async def fetch_row(
    conn: Connection,
    plan: ModelPlan,
    key: Sequence[Any],
    *,
    lock: bool = False,
    tenant: str | None = None,
) -> dict[str, Any] | None:
    """The row with this key (``lock``: locked until the transaction ends), soft-deleted or
    not; None when there is none."""
    found = await rows_by_keys(conn, plan, [key], lock=lock, tenant=tenant)
    return next(iter(found.values()), None)


def _scoped(plan: ModelPlan, cond: str, p: Params, tenant: str | None) -> str:
    """``cond`` ANDed with the tenant condition on a multi-tenant model."""
    scope = plan.tenant_sql(p, tenant)
    return cond if scope is None else f"({cond}) AND {scope}"


async def _locked_rows(
    conn: Connection, plan: ModelPlan, fields: Sequence[Field], where: str, values: Sequence[Any]
) -> list[dict[str, Any]]:
    d = plan.dialect
    decode = plan.decoder_for(fields)
    sql = f"SELECT {d.select_list(fields)} FROM {plan.table} WHERE {where}{d.lock_suffix()}"
    return [decode(r) for r in await conn.fetch(sql, list(values))]


# -- BulkCreate ------------------------------------------------------------------------------


async def bulk_create(
    ctx: ExecContext,
    conn: Connection,
    plan: ModelPlan,
    columns: Sequence[Field],
    rows: Sequence[Sequence[Any]],
    *,
    ignore: bool,
    batch_size: int,
) -> list[dict[str, Any]]:
    """Insert encoded ``rows`` (``columns`` order) and audit each record inserted; returns
    the stored records (without those a conflict skipped), in order."""
    d = plan.dialect
    model = plan.model
    created: list[dict[str, Any]] = []
    plain = not any(DATABASE_DEFAULT in r for r in rows)
    if d.insert_returning and plain:
        size = max(1, min(batch_size, _MAX_PARAMS // max(1, len(columns))))
        for chunk in _chunks(rows, size):
            sql = d.insert_sql(
                model, columns, len(chunk), 1, returning=plan.fields, ignore_conflicts=ignore
            )
            found = await conn.fetch(sql, [v for r in chunk for v in r])
            created.extend(plan.decode(r) for r in found)
    else:
        keys: list[list[Any]] = []
        numbering = plan.given_keys()
        for row in rows:
            await numbering.before(conn, row)
            keep = [i for i, v in enumerate(row) if v is not DATABASE_DEFAULT]
            cols = [columns[i] for i in keep]
            values = [row[i] for i in keep]
            if d.insert_returning:
                sql = d.insert_sql(
                    model, cols, 1, 1, returning=plan.fields, ignore_conflicts=ignore
                )
                created.extend(plan.decode(r) for r in await conn.fetch(sql, values))
                continue
            new_id = await conn.insert(
                d.insert_sql(model, cols, 1, 1, ignore_conflicts=ignore), values
            )
            if new_id is None:
                continue  # skipped as a duplicate
            # The key as given; an identity key left to the database is the new id.
            keys.append(
                [
                    new_id if v is DATABASE_DEFAULT else v
                    for v in (row[list(columns).index(f)] for f in plan.pk_fields)
                ]
                if not plan.auto_id
                else [new_id]
            )
        if keys:
            stored = await rows_by_keys(conn, plan, keys, encoded=True, tenant=ctx.tenant_id)
            created.extend(stored[tuple(_hashable(v) for v in k)] for k in keys)
    await record(ctx, conn, plan, [("create", None, row) for row in created])
    return created


# -- BulkUpdate and BulkDelete ---------------------------------------------------------------


def _version_conflict(
    node_type: str, plan: ModelPlan, rows: Sequence[dict[str, Any]], expected: int
) -> OptimisticLockError | None:
    stale = [r for r in rows if r["version"] != expected]
    if not stale:
        return None
    first = stale[0]
    key = plan.pk_output(first)
    return OptimisticLockError(
        f"{node_type}: {len(stale)} of the {len(rows)} {plan.model.name} record(s) the filter "
        f"selects are not at version {expected} (first: {key!r} is at version "
        f"{first['version']}); nothing was updated; read them again and retry",
        details={
            "model": plan.model.name,
            "expected": expected,
            "actual": first["version"],
            "id": key,
            "stale": [{"id": plan.pk_output(r), "version": r["version"]} for r in stale[:10]],
            "stale_count": len(stale),
        },
    )


def _new_key(plan: ModelPlan, key: Sequence[Any], items: Sequence[SetItem]) -> list[Any]:
    """A key after an update (only ``$set`` may change a key field)."""
    out = list(key)
    for i, f in enumerate(plan.pk_fields):
        for item in items:
            if item.field is f and item.op == "set":
                out[i] = item.value
    return out


async def bulk_update(
    ctx: ExecContext,
    conn: Connection,
    plan: ModelPlan,
    where: str,
    values: Sequence[Any],
    items: Sequence[SetItem],
    *,
    version: int | None,
    node_type: str,
) -> int:
    """Update the rows ``where`` selects, read and locked first: with ``version``, every
    one of them must be at that version (else ``OptimisticLockError`` and nothing is
    written); on an audited model each gets an entry with its exact before and after."""
    d = plan.dialect
    model = plan.model
    audited = model.audit_log
    pk = plan.pk_fields
    if audited:
        fields = plan.fields
    else:
        fields = [*pk, *([model.fields["version"]] if version is not None else [])]
    rows = await _locked_rows(conn, plan, fields, where, values)
    if version is not None:
        conflict = _version_conflict(node_type, plan, rows, version)
        if conflict is not None:
            raise conflict
    if not rows:
        return 0
    keys = [[r[f.name] for f in pk] for r in rows]
    tenant = ctx.tenant_id
    now = d.now()
    updated = 0
    size = max(1, _KEYS_PER_STATEMENT // len(pk))
    for part in _chunks(keys, size):
        p = Params(d)
        sets = [d.set_sql(item, p, now) for item in items]
        sets += plan.update_stamps(p, now)
        cond = _keys_sql(plan, part, p)
        if version is not None:
            vcol = d.column(model.fields["version"])
            cond = f"({cond}) AND {vcol} = {p.add(version)}"
        cond = _scoped(plan, cond, p, tenant)
        updated += await conn.execute(
            f"UPDATE {plan.table} SET {', '.join(sets)} WHERE {cond}", p.values
        )
    if version is not None and updated != len(keys):  # the rows are locked: not expected
        raise OptimisticLockError(
            f"{node_type}: {plan.model.name} records changed while being updated; retry",
            details={"model": model.name, "expected": version},
        )
    if audited:
        new_keys = [_new_key(plan, k, items) for k in keys]
        after = await rows_by_keys(conn, plan, new_keys, tenant=tenant)
        changes: list[Change] = [
            ("update", before, after.get(_encoded_key(plan, k)))
            for before, k in zip(rows, new_keys, strict=True)
        ]
        await record(ctx, conn, plan, changes)
    return updated


async def bulk_delete(
    ctx: ExecContext,
    conn: Connection,
    plan: ModelPlan,
    where: str,
    values: Sequence[Any],
    *,
    soft: bool,
) -> int:
    """Delete (or mark deleted) the rows ``where`` selects, read and locked first, with an
    audit entry each: ``after`` is the marked row for a soft delete, None for a hard one."""
    d = plan.dialect
    rows = await _locked_rows(conn, plan, plan.fields, where, values)
    if not rows:
        return 0
    keys = [[r[f.name] for f in plan.pk_fields] for r in rows]
    tenant = ctx.tenant_id
    now = d.now()
    deleted = 0
    size = max(1, _KEYS_PER_STATEMENT // len(plan.pk_fields))
    for part in _chunks(keys, size):
        p = Params(d)
        if soft:
            f = plan.soft_delete_field
            assert f is not None
            set_sql = f"{d.column(f)} = {p.add_field(f, now)}"
            where = _scoped(plan, _keys_sql(plan, part, p), p, tenant)
            sql = f"UPDATE {plan.table} SET {set_sql} WHERE {where}"
        else:
            where = _scoped(plan, _keys_sql(plan, part, p), p, tenant)
            sql = f"DELETE FROM {plan.table} WHERE {where}"
        deleted += await conn.execute(sql, p.values)
    after = await rows_by_keys(conn, plan, keys, tenant=tenant) if soft else {}
    changes: list[Change] = [
        ("delete", before, after.get(_encoded_key(plan, k)) if soft else None)
        for before, k in zip(rows, keys, strict=True)
    ]
    await record(ctx, conn, plan, changes)
    return deleted


# -- BulkUpsert ------------------------------------------------------------------------------


async def upsert_before(
    conn: Connection,
    plan: ModelPlan,
    existing: Mapping[tuple[Any, ...], Sequence[Any]],
    tenant: str | None,
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The rows a BulkUpsert is about to update (``existing``: match values -> key; the
    rows are already locked), by the same match values; on a multi-tenant model only
    ``tenant``'s."""
    found = await rows_by_keys(conn, plan, list(existing.values()), tenant=tenant)
    out = {}
    for match_key, key in existing.items():
        row = found.get(_encoded_key(plan, key))
        if row is not None:
            out[match_key] = row
    return out


async def record_upsert(
    ctx: ExecContext,
    conn: Connection,
    plan: ModelPlan,
    match: Sequence[Field],
    records: Sequence[Mapping[str, Any]],
    before: Mapping[tuple[Any, ...], Mapping[str, Any]],
    tenant: str | None,
) -> None:
    """Audit a BulkUpsert after its writes: each record is read back by its match values.
    One that matched a live row before (``before``, by match values) is an update; else a
    create (whose ``before`` is the soft-deleted record it brought back, if any)."""
    d = plan.dialect
    after: dict[tuple[Any, ...], dict[str, Any]] = {}
    size = max(1, _KEYS_PER_STATEMENT // max(1, len(match)))
    for part in _chunks(records, size):
        p = Params(d)
        where = plan.where(None, p, tenant=tenant)  # first: its parameters come first
        if len(match) == 1:
            f = match[0]
            conds = d.in_sql(In(f, tuple(r[f.name] for r in part), False, False), p)
        else:
            conds = " OR ".join(
                "("
                + " AND ".join(
                    d.compare_sql(f, d.column(f), "=", p.add_field(f, r[f.name])) for f in match
                )
                + ")"
                for r in part
            )
        sql = f"SELECT {plan.select} FROM {plan.table} WHERE {where} AND ({conds})"
        for raw in await conn.fetch(sql, p.values):
            row = plan.decode(raw)
            after[tuple(_hashable(row[f.name]) for f in match)] = row
    changes: list[Change] = []
    for r in records:
        match_key = tuple(_hashable(r[f.name]) for f in match)
        current = after.get(match_key)
        if current is None:
            continue
        old = before.get(match_key)
        soft = plan.soft_delete_field
        if old is not None and (soft is None or old[soft.name] is None):
            changes.append(("update", old, current))
        else:
            changes.append(("create", old, current))
    await record(ctx, conn, plan, changes)


# -- the entries of given records (GDPR) -----------------------------------------------------

#: The audit columns read back as entries.
_ENTRY = ["id", "record_id", "action", "before", "after", "tenant_id", "actor", "at"]


def _entries_sql(plan: ModelPlan, digests: Sequence[str], tenant: str | None, p: Params) -> str:
    """The SELECT of the audit entries of ``plan``'s model under these key digests (only
    ``tenant``'s on a multi-tenant model), in write order."""
    audit = audit_model()
    d = plan.dialect
    f = audit.fields
    conds = [
        f"{d.column(f['model'])} = {p.add_field(f['model'], plan.model.name)}",
        f"{d.column(f['record_key'])} IN "
        f"({', '.join(p.add_field(f['record_key'], k) for k in digests)})",
    ]
    if plan.model.multi_tenant:
        if tenant is None:
            raise tenant_required(plan.model)
        t = f["tenant_id"]
        conds.append(d.compare_sql(t, d.column(t), "=", p.add_field(t, tenant)))
    return (
        f"SELECT {d.select_list([f[n] for n in _ENTRY])} FROM {d.table(audit)} "
        f"WHERE {' AND '.join(conds)} ORDER BY {d.order_sql([(f['id'], False)])}"
    )


def _old_key(plan: ModelPlan, data: Any) -> str | None:
    """The key text of a record as an entry's ``before`` holds it."""
    pk = plan.pk_fields
    if not isinstance(data, Mapping) or not all(f.name in data for f in pk):
        return None
    try:
        return key_text(pk, [decode_value(f, data[f.name]) for f in pk])
    except ValidationError:
        return None


async def record_entries(
    ctx: ExecContext, conn: Connection, plan: ModelPlan, keys: Sequence[Sequence[Any]]
) -> dict[str, list[dict[str, Any]]]:
    """The audit entries of the records with these keys (their field values), in write
    order, by each key's JSON text; ``before`` and ``after`` as stored (JSON data).

    A record's entries are those under its key since the latest hard delete of that key
    (a key may have been used by a record deleted earlier), and, for a record whose key
    was changed, those under its earlier key up to the change. On a multi-tenant model
    only the bound tenant's entries are read (the statement carries the tenant).

    Raises:
        TenantError: ``DF-TENANT-REQUIRED`` for a multi-tenant model and no tenant.
    """
    d = plan.dialect
    audit = audit_model()
    decode = d.row_decoder([audit.fields[n] for n in _ENTRY])
    texts = [key_text(plan.pk_fields, k) for k in keys]
    out: dict[str, list[dict[str, Any]]] = {t: [] for t in texts}
    # key text -> (the record's current key text, entries up to this id only or None)
    pending: dict[str, tuple[str, int | None]] = {t: (t, None) for t in texts}
    seen = set(pending)
    while pending:
        found: dict[str, list[dict[str, Any]]] = {}
        names = list(pending)
        for part in _chunks(names, _KEYS_PER_STATEMENT):
            p = Params(d)
            sql = _entries_sql(plan, [key_digest(t) for t in part], ctx.tenant_id, p)
            for raw in await conn.fetch(sql, p.values):
                row = decode(raw)
                found.setdefault(row["record_id"], []).append(row)
        following: dict[str, tuple[str, int | None]] = {}
        for text in names:
            owner, upto = pending[text]
            rows = [r for r in found.get(text, ()) if upto is None or r["id"] < upto]
            start = 0
            for i, r in enumerate(rows):
                if r["action"] == "delete" and r["after"] is None:
                    start = i + 1  # a hard delete: what came before was another record
            own = rows[start:]
            out[owner].extend(own)
            for r in own:
                old = _old_key(plan, r["before"])
                if old is not None and old not in seen:  # the key changed here
                    seen.add(old)
                    following[old] = (owner, r["id"])
        pending = following
    for rows in out.values():
        rows.sort(key=lambda r: r["id"])
    return out


def entry_output(model: ModelDef | None, row: Mapping[str, Any]) -> dict[str, Any]:
    """An entry as ``db.audit_trail`` returns it, each value with its Python type (as
    stored, when its model is no longer registered)."""
    return {
        "model": row.get("model", model.name if model else None),
        "record_id": decode_record_id(model, row["record_id"]),
        "action": row["action"],
        "before": decode_values(model, row["before"]),
        "after": decode_values(model, row["after"]),
        "tenant_id": row["tenant_id"],
        "actor": row["actor"],
        "at": row["at"],
    }


def _replaced(data: Any, values: Mapping[str, Any]) -> Any:
    """``data`` with these fields' values replaced where it has them (itself, when
    nothing changes)."""
    if not isinstance(data, Mapping):
        return data
    changed = {k: v for k, v in values.items() if k in data and data[k] != v}
    return {**data, **changed} if changed else data


async def redact(
    ctx: ExecContext,
    conn: Connection,
    plan: ModelPlan,
    records: Sequence[tuple[Sequence[Any], Mapping[str, Any]]],
) -> int:
    """Replace field values in every audit entry of these records (``(key, {field:
    value})``), in ``before`` and in ``after``, on ``conn`` (inside the caller's
    transaction); the entries themselves (action, actor, time, the other fields) stay.
    Returns how many entries were rewritten.

    Raises:
        SchemaError: the model's database has no usable audit table.
        TenantError: ``DF-TENANT-REQUIRED`` for a multi-tenant model and no tenant.
    """
    if not records:
        return 0
    model = plan.model
    await ctx.dataflow._require_audit_table(model, conn)
    audit = audit_model()
    d = plan.dialect
    f = audit.fields
    wanted = {
        key_text(plan.pk_fields, key): {n: encode_value(model.fields[n], v) for n, v in new.items()}
        for key, new in records
    }
    entries = await record_entries(ctx, conn, plan, [key for key, _ in records])
    rows = []
    for text, found in entries.items():
        for entry in found:
            before = _replaced(entry["before"], wanted[text])
            after = _replaced(entry["after"], wanted[text])
            if before is entry["before"] and after is entry["after"]:
                continue
            values = [d.encode(f["before"], before), d.encode(f["after"], after)]
            values.append(d.encode(f["id"], entry["id"]))
            if model.multi_tenant:
                values.append(d.encode(f["tenant_id"], ctx.tenant_id))
            rows.append(values)
    if not rows:
        return 0
    sets = (
        f"{d.column(f['before'])} = {d.placeholder(1)}, {d.column(f['after'])} = {d.placeholder(2)}"
    )
    where = f"{d.column(f['id'])} = {d.placeholder(3)}"
    if model.multi_tenant:
        t = f["tenant_id"]
        where += f" AND {d.compare_sql(t, d.column(t), '=', d.placeholder(4))}"
    await conn.executemany(f"UPDATE {d.table(audit)} SET {sets} WHERE {where}", rows)
    return len(rows)
