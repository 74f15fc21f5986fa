"""The eleven generated node kinds."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from ..adapters import Connection
from ..dialects import Params
from ..errors import (
    FilterError,
    MultipleRecordsError,
    NotFoundError,
    OptimisticLockError,
    TenantError,
    UniqueViolation,
    UnsupportedError,
    ValidationError,
)
from ..models import DATABASE_DEFAULT, MISSING, Field, FieldKind
from ..query import (
    And,
    Bound,
    Const,
    In,
    Or,
    parse_fields,
    parse_filter,
    parse_order_by,
    parse_pipeline,
    parse_update,
    prepare_filter,
)
from ..query import Node as FilterNode
from . import _audit
from ._base import ExecContext, Node, OutputSpec, Param, Problems, type_check
from ._plan import ModelPlan

__all__ = ["NODE_CLASSES"]

_BOOL = frozenset({"bool"})


def _plan(cls: type[Node]) -> ModelPlan:
    return cls.dataflow._plan(cls.model)


def _check_types(cls: type[Node], params: dict[str, Any], problems: Problems) -> None:
    declared = cls.parameters()
    bad: set[str] = set()
    for name, value in list(params.items()):
        p = declared[name]
        if value is None and not p.required:
            params[name] = p.default
            continue
        if not type_check(value, p.type):
            bad.add(name)
            problems.add(
                "DF-PARAM-TYPE",
                f"{cls.type_name}: parameter {name!r} expects {p.type}, got {type(value).__name__}",
                (name,),
                {"param": name, "expected": p.type},
            )
            params.pop(name)
    for name, p in declared.items():
        if name not in params and name not in bad:
            if p.required and not problems.provided(name):
                problems.add(
                    "DF-PARAM-MISSING",
                    f"{cls.type_name}: required parameter {name!r} is missing ({p.doc})",
                    (name,),
                    {"param": name},
                )
            elif not p.required:
                params.setdefault(name, p.default)


def _filter(
    cls: type[Node], params: dict[str, Any], name: str, problems: Problems
) -> FilterNode | Bound | None:
    doc = params.get(name)
    if doc is None:
        return None
    if problems.pending:
        prefix = name + "."
        connected = {
            p[len(prefix) :].split(".")[0] for p in problems.pending if p.startswith(prefix)
        }
        if connected:
            doc = {k: v for k, v in doc.items() if k not in connected}
    try:
        return prepare_filter(doc, cls.model, parse_filter)
    except (FilterError, UnsupportedError) as exc:
        if isinstance(exc, UnsupportedError):
            if not problems.collect:
                raise
            problems.items.append(_diag(problems, exc.code, exc.message, (name,)))
            return None
        problems.error(exc, (name,))
        return None


def _diag(problems: Problems, code: str, message: str, path: tuple[str | int, ...]) -> Any:
    from ..errors import Diagnostic

    return Diagnostic(code, message, path=("params", *path), node_id=problems.node_id)


def _id_or_filter(cls: type[Node], params: dict[str, Any], problems: Problems) -> None:
    has_id = params.get("id") is not None or problems.provided("id")
    has_filter = params.get("filter") is not None or problems.provided("filter")
    if has_id and has_filter:
        problems.add(
            "DF-PARAM-CONFLICT", f"{cls.type_name}: give either 'id' or 'filter', not both", ("id",)
        )
    elif not has_id and not has_filter:
        problems.add(
            "DF-PARAM-MISSING",
            f"{cls.type_name}: give 'id' (the record id) or 'filter'",
            ("id",),
            {"param": "id"},
        )
    if params.get("id") is not None:
        try:
            params["id"] = _plan(cls).pk_values(params["id"])
        except ValidationError as exc:
            problems.error(exc, ("id",))
    params["_filter"] = _filter(cls, params, "filter", problems)


_MAX_COUNT = 2**62  # limits and offsets beyond this are not numbers any database takes


def _int_param(
    cls: type[Node], params: dict[str, Any], name: str, problems: Problems, minimum: int = 0
) -> None:
    value = params.get(name)
    if value is not None and not minimum <= value <= _MAX_COUNT:
        problems.add(
            "DF-PARAM-RANGE",
            f"{cls.type_name}: {name!r} must be between {minimum} and {_MAX_COUNT}, got {value}",
            (name,),
        )
        params.pop(name, None)


def _validate_record(
    cls: type[Node],
    record: Mapping[str, Any],
    problems: Problems,
    path: tuple[str | int, ...],
    *,
    partial: bool = False,
    fill_defaults: bool = True,
    identity: bool = False,
) -> dict[str, Any]:
    """The validated values of ``record``; with ``identity`` (inserts), auto-increment
    columns may be given (None leaves them to the database)."""
    model = cls.model
    out: dict[str, Any] = {}
    writable = model.writable_fields
    settable = model.insertable_fields if identity else writable
    for key, value in record.items():
        f = settable.get(key) if isinstance(key, str) else None
        if f is not None and f.identity and value is None:
            continue  # numbered by the database
        if f is None and key == "tenant_id" and model.multi_tenant:
            # A record may name its tenant; the node refuses any but the bound one.
            if not (problems.pending and problems.provided(".".join(map(str, (*path, key))))):
                try:
                    out[key] = model.fields[key].validate(value, where=f"{cls.type_name}: ")
                except ValidationError as exc:
                    problems.error(exc, (*path, key))
            continue
        if f is None:
            if isinstance(key, str) and key in model.fields:
                problems.add(
                    "DF-PARAM-READ-ONLY-FIELD",
                    f"{cls.type_name}: {key!r} is maintained by DataFlow; remove it",
                    (*path, key),
                    {"field": key},
                )
                continue
            from ..models._model import suggest

            close = suggest(str(key), writable)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            problems.add(
                "DF-PARAM-UNKNOWN-FIELD",
                f"{cls.type_name}: unknown field {key!r} on model {model.name}{hint}",
                (*path, str(key)),
                {"field": key, "suggestions": close, "model": model.name},
            )
            continue
        if problems.pending and problems.provided(".".join(str(p) for p in (*path, key))):
            continue
        try:
            out[key] = f.validate(value, where=f"{cls.type_name}: ")
        except ValidationError as exc:
            problems.error(exc, (*path, key))
    if partial:
        return out
    for name, f in writable.items():
        if name in out or name in record:  # given (a bad value was reported above)
            continue
        if f.default is not None and f.default is not MISSING:
            if fill_defaults:
                out[name] = f.default_value()
        elif f.nullable:
            if fill_defaults:
                out[name] = None
        elif (
            not problems.pending
            or not (
                problems.provided(".".join(str(p) for p in (*path, name)))
                # a connection into BulkCreate's field fills it into every record
                or (path[:1] == ("data",) and problems.provided(name))
            )
        ):
            problems.add(
                "DF-PARAM-MISSING",
                f"{cls.type_name}: required field {name!r} ({f.type_name}) is missing",
                (*path, name),
                {"field": name},
            )
    return out


async def _insert_row(
    conn: Connection, plan: ModelPlan, values: dict[str, Any], tenant: str | None = None
) -> dict[str, Any]:
    d = plan.dialect
    encoded = plan.encode_insert_row(values, plan.stamp(d.now(), tenant))
    sql = plan.insert_one()
    if plan.db_defaults and DATABASE_DEFAULT in encoded:
        keyless = any(values.get(f.name) is DATABASE_DEFAULT for f in plan.pk_fields)
        if keyless and not d.insert_returning:
            raise UnsupportedError(
                f"{plan.model.name}: the key would come from a database default, and this "
                "server cannot return it (no INSERT ... RETURNING); give the key",
                details={"model": plan.model.name, "dialect": d.name},
            )
        columns, kept = plan.without_defaults(encoded)
        encoded = list(kept)
        returning = plan.fields if d.insert_returning else None
        sql = d.insert_sql(plan.model, columns, 1, 1, returning=returning)
    if d.insert_returning:
        rows = await conn.fetch(sql, encoded)
        return plan.decode(rows[0])
    # No RETURNING (MySQL): the new key is the generated id, or the key given.
    new_id = await conn.insert(sql, encoded)
    key = [new_id] if plan.auto_id else [values[f.name] for f in plan.pk_fields]
    return await _row_by_key(conn, plan, key, tenant)


async def _row_by_key(
    conn: Connection, plan: ModelPlan, key: list[Any], tenant: str | None = None
) -> dict[str, Any]:
    p = Params(plan.dialect)
    rows = await conn.fetch(
        f"SELECT {plan.select} FROM {plan.table} WHERE {plan.pk_where(key, p, tenant)}", p.values
    )
    return plan.decode(rows[0])


async def _update_returning(
    conn: Connection,
    plan: ModelPlan,
    sql: str,
    values: list[Any],
    key: list[Any],
    sets: list[Any],
    tenant: str | None = None,
) -> dict[str, Any] | None:
    """Run an UPDATE of one row and return the row after it (None when nothing matched)."""
    d = plan.dialect
    if d.update_returning:
        rows = await conn.fetch(sql + d.returning_sql(plan.fields), values)
        return plan.decode(rows[0]) if rows else None
    if not await conn.execute(sql, values):  # rows matched, not rows changed
        return None
    new_key = list(key)  # the update may itself have changed the key
    for i, f in enumerate(plan.pk_fields):
        for item in sets:
            if item.field is f and item.op == "set":
                new_key[i] = item.value
    return await _row_by_key(conn, plan, new_key, tenant)


def _row_selector(
    cls: type[Node],
    plan: ModelPlan,
    params: dict[str, Any],
    p: Params,
    *,
    include_deleted: bool = False,
    tenant: str | None = None,
) -> str:
    if params.get("id") is not None:
        cond = plan.pk_where(params["id"], p, tenant)
        if plan.soft_delete_field is not None and not include_deleted:
            cond += f" AND {plan.dialect.column(plan.soft_delete_field)} IS NULL"
        return cond
    return plan.where(params.get("_filter"), p, include_deleted=include_deleted, tenant=tenant)


async def _one_row(
    cls: type[Node],
    conn: Connection,
    plan: ModelPlan,
    params: dict[str, Any],
    *,
    lock: bool = False,
    include_deleted: bool = False,
    tenant: str | None = None,
) -> dict[str, Any] | None:
    p = Params(plan.dialect)
    where = _row_selector(cls, plan, params, p, include_deleted=include_deleted, tenant=tenant)
    sql = f"SELECT {plan.select} FROM {plan.table} WHERE {where}"
    sql += plan.dialect.limit_sql(2, None, p)
    if lock:
        sql += plan.dialect.lock_suffix()
    rows = await conn.fetch(sql, p.values)
    if len(rows) > 1:
        raise MultipleRecordsError(
            f"{cls.type_name}: the filter matches more than one {plan.model.name}; make it "
            "match one record, or use the List / Bulk nodes",
            details={"model": plan.model.name},
        )
    return plan.decode(rows[0]) if rows else None


def _not_found(cls: type[Node], params: dict[str, Any]) -> NotFoundError:
    what = f"id {_plain_id(params['id'])!r}" if params.get("id") is not None else "the filter"
    return NotFoundError(
        f"{cls.type_name}: no {cls.model.name} matches {what}",
        details={"model": cls.model.name, "id": _plain_id(params.get("id"))},
    )


def _plain_id(values: Sequence[Any] | None) -> Any:
    if values is None:
        return None
    return values[0] if len(values) == 1 else list(values)


def _own_tenant(cls: type[Node], value: Any, tenant: str | None, where: str) -> None:
    """Refuse a record that names a tenant other than the bound one (before any SQL)."""
    if tenant is not None and value is not None and value != tenant:
        raise TenantError(
            f"{cls.type_name}: {where} sets tenant_id to another tenant than the bound one; "
            "records always belong to the tenant the workflow runs for: remove tenant_id, "
            "or run the workflow for that tenant",
            code="DF-TENANT-MISMATCH",
            details={"model": cls.model.name, "where": where},
        )


# -- the node kinds -------------------------------------------------------------------------


class CreateNode(Node):
    kind = "Create"
    writes = True
    description = "Insert one record and return it with its id and automatic columns."

    @classmethod
    def _declare_parameters(cls) -> dict[str, Param]:
        return {
            n: Param(
                n,
                f.type_name,
                required=f.required,
                default=None if f.default is MISSING else f.default,
                doc=(
                    f"the {n} field ({f.type_name}); the database numbers the record when "
                    "it is left out"
                    if f.identity
                    else f"the {n} field ({f.type_name})"
                ),
            )
            for n, f in cls.model.insertable_fields.items()
        }

    @classmethod
    def _declare_outputs(cls) -> OutputSpec:
        return {n: f.type_name for n, f in cls.model.fields.items()}

    @classmethod
    def canonical(cls, params: Mapping[str, Any], problems: Problems) -> dict[str, Any]:
        return dict(params)

    @classmethod
    def normalize(cls, params: Mapping[str, Any], problems: Problems) -> dict[str, Any]:
        return _validate_record(cls, params, problems, (), identity=True)

    async def run(self, ctx: ExecContext, params: dict[str, Any]) -> dict[str, Any]:
        cls = type(self)
        plan = _plan(cls)
        tenant = ctx.tenant_for(cls.model, cls.type_name)
        _own_tenant(cls, params.get("tenant_id"), tenant, "the record")
        tops: list[tuple[Field, Any]] = []
        if not params.keys().isdisjoint(cls.model.identity_names):  # a key is given
            plan = plan.with_identity(plan.given_identity(params))
            tops = plan.identity_tops([[params.get(f.name) for f in plan.insert_fields]])
        if cls.model.audit_log or tops:
            async with ctx.atomic() as conn:
                row = await _insert_row(conn, plan, params, tenant)
                await plan.resync_identity(conn, tops)
                if cls.model.audit_log:
                    await _audit.record(ctx, conn, plan, [("create", None, row)])
            return row
        async with ctx.connection() as conn:
            return await _insert_row(conn, plan, params, tenant)


class ReadNode(Node):
    kind = "Read"
    description = "Read one record by id or by a filter that matches at most one record."

    @classmethod
    def _declare_parameters(cls) -> dict[str, Param]:
        pk = _plan(cls).pk_fields
        return {
            "id": Param(
                "id", pk[0].type_name if len(pk) == 1 else "any", doc="the record's primary key"
            ),
            "filter": Param(
                "filter",
                "filter",
                doc="a filter matching at most one record",
                aliases=("conditions",),
            ),
            "raise_on_not_found": Param(
                "raise_on_not_found",
                "bool",
                default=True,
                doc="raise NotFound instead of returning found=False",
            ),
            "include_deleted": Param(
                "include_deleted", "bool", default=False, doc="also read soft-deleted records"
            ),
        }

    @classmethod
    def _declare_outputs(cls) -> OutputSpec:
        return {**{n: f.type_name for n, f in cls.model.fields.items()}, "found": "bool"}

    @classmethod
    def normalize(cls, params: Mapping[str, Any], problems: Problems) -> dict[str, Any]:
        out = cls.canonical(params, problems)
        _check_types(cls, out, problems)
        _id_or_filter(cls, out, problems)
        return out

    async def run(self, ctx: ExecContext, params: dict[str, Any]) -> dict[str, Any]:
        cls = type(self)
        plan = _plan(cls)
        tenant = ctx.tenant_for(cls.model, cls.type_name)
        async with ctx.connection() as conn:
            row = await _one_row(
                cls, conn, plan, params, include_deleted=params["include_deleted"], tenant=tenant
            )
        if row is None:
            if params["raise_on_not_found"]:
                raise _not_found(cls, params)
            return {"found": False}
        row["found"] = True
        return row


async def _target_key(
    cls: type[Node],
    conn: Any,
    plan: ModelPlan,
    params: dict[str, Any],
    *,
    tenant: str | None = None,
    include_deleted: bool = False,
) -> Any:
    """The key of the record an Update or Delete acts on: its ``id``, or the key of the one
    record its filter matches, read and locked inside the caller's transaction."""
    if params.get("id") is not None:
        return params["id"]
    row = await _one_row(
        cls, conn, plan, params, lock=True, include_deleted=include_deleted, tenant=tenant
    )
    if row is None:
        raise _not_found(cls, params)
    return [row[f.name] for f in plan.pk_fields]


class UpdateNode(Node):
    kind = "Update"
    writes = True
    description = "Update one record, by id or by a filter matching exactly one record."

    @classmethod
    def _declare_parameters(cls) -> dict[str, Param]:
        params = {
            "id": Param("id", "any", doc="the record's primary key"),
            "filter": Param(
                "filter",
                "filter",
                doc="a filter matching exactly one record",
                aliases=("conditions",),
            ),
            "fields": Param(
                "fields",
                "update",
                required=True,
                doc="new values, or update operators ($set, $inc, ...)",
                aliases=("updates",),
            ),
        }
        if cls.model.versioned:
            params["version"] = Param(
                "version", "int", required=True, doc="the version you read (optimistic locking)"
            )
        return params

    @classmethod
    def _declare_outputs(cls) -> OutputSpec:
        return {**{n: f.type_name for n, f in cls.model.fields.items()}, "updated": "bool"}

    @classmethod
    def normalize(cls, params: Mapping[str, Any], problems: Problems) -> dict[str, Any]:
        out = cls.canonical(params, problems)
        _check_types(cls, out, problems)
        _id_or_filter(cls, out, problems)
        _int_param(cls, out, "version", problems, minimum=1)
        if out.get("fields") is not None and not problems.provided("fields"):
            doc = out["fields"]
            connected = {p.split(".")[1] for p in problems.pending if p.startswith("fields.")}
            if connected:
                doc = {k: v for k, v in doc.items() if k not in connected}
            try:
                out["_set"] = parse_update(doc, cls.model, param="fields") if doc else []
            except FilterError as exc:
                problems.error(exc, ("fields",))
        return out

    async def run(self, ctx: ExecContext, params: dict[str, Any]) -> dict[str, Any]:
        cls = type(self)
        plan = _plan(cls)
        d = plan.dialect
        now = d.now()
        # By id with UPDATE ... RETURNING it is one statement; otherwise a transaction
        # holds the row from the write to the read-back (no other writer in between).
        audited = cls.model.audit_log
        single = params.get("id") is not None and d.update_returning and not audited
        scope = ctx.connection() if single else ctx.atomic()
        tenant = ctx.tenant_for(cls.model, cls.type_name)
        async with scope as conn:
            key = await _target_key(cls, conn, plan, params, tenant=tenant)
            before = (
                await _audit.fetch_row(conn, plan, key, lock=True, tenant=tenant)
                if audited
                else None
            )
            p = Params(d)
            sets = [d.set_sql(item, p, now) for item in params["_set"]]
            sets += plan.update_stamps(p, now)
            where = _row_selector(cls, plan, {"id": key}, p, tenant=tenant)
            if cls.model.versioned:
                vcol = d.column(cls.model.fields["version"])
                where += f" AND {vcol} = {p.add(params['version'])}"
            sql = f"UPDATE {plan.table} SET {', '.join(sets)} WHERE {where}"
            updated = await _update_returning(
                conn, plan, sql, p.values, key, params["_set"], tenant
            )
            if updated is None:
                if cls.model.versioned:
                    current = await _one_row(cls, conn, plan, {"id": key}, tenant=tenant)
                    if current is not None:
                        raise OptimisticLockError(
                            f"{cls.type_name}: {cls.model.name} {_plain_id(key)!r} "
                            f"is at version {current['version']}, not {params['version']}; "
                            "read it again and retry",
                            details={
                                "model": cls.model.name,
                                "expected": params["version"],
                                "actual": current["version"],
                                "id": _plain_id(key),
                            },
                        )
                raise _not_found(cls, params)
            if before is not None:
                await _audit.record(ctx, conn, plan, [("update", before, updated)])
        updated["updated"] = True
        return updated


class DeleteNode(Node):
    kind = "Delete"
    writes = True
    description = "Delete one record by id or filter (soft delete when the model has it)."

    @classmethod
    def _declare_parameters(cls) -> dict[str, Param]:
        params = {
            "id": Param("id", "any", doc="the record's primary key"),
            "filter": Param(
                "filter",
                "filter",
                doc="a filter matching exactly one record",
                aliases=("conditions",),
            ),
        }
        if cls.model.soft_delete:
            params["hard"] = Param(
                "hard", "bool", default=False, doc="remove the row instead of marking it deleted"
            )
        return params

    @classmethod
    def _declare_outputs(cls) -> OutputSpec:
        return {"id": "any", "deleted": "bool"}

    @classmethod
    def normalize(cls, params: Mapping[str, Any], problems: Problems) -> dict[str, Any]:
        out = cls.canonical(params, problems)
        _check_types(cls, out, problems)
        _id_or_filter(cls, out, problems)
        return out

    async def run(self, ctx: ExecContext, params: dict[str, Any]) -> dict[str, Any]:
        cls = type(self)
        plan = _plan(cls)
        d = plan.dialect
        # By id it is one statement; by filter, a locked read and the write.
        audited = cls.model.audit_log
        by_id = params.get("id") is not None and not audited
        scope = ctx.connection() if by_id else ctx.atomic()
        tenant = ctx.tenant_for(cls.model, cls.type_name)
        soft = plan.soft_delete_field is not None and not params.get("hard")
        async with scope as conn:
            # A hard delete also reaches soft-deleted records (to purge them).
            key = await _target_key(
                cls, conn, plan, params, tenant=tenant, include_deleted=not soft
            )
            before = (
                await _audit.fetch_row(conn, plan, key, lock=True, tenant=tenant)
                if audited
                else None
            )
            p = Params(d)
            pk_select = plan.pk_fields
            if soft:
                f = plan.soft_delete_field
                assert f is not None
                set_sql = f"{d.column(f)} = {p.add_field(f, d.now())}"
                where = _row_selector(cls, plan, {"id": key}, p, tenant=tenant)
                sql = f"UPDATE {plan.table} SET {set_sql} WHERE {where}"
                returning = d.update_returning
            else:
                where = _row_selector(
                    cls, plan, {"id": key}, p, include_deleted=True, tenant=tenant
                )
                sql = f"DELETE FROM {plan.table} WHERE {where}"
                returning = d.delete_returning
            if returning:
                rows = await conn.fetch(sql + d.returning_sql(pk_select), p.values)
                found = plan.decoder_for(pk_select)(rows[0]) if rows else None
            else:
                n = await conn.execute(sql, p.values)
                found = dict(zip([f.name for f in pk_select], key, strict=True)) if n else None
            if found is not None and before is not None:
                after = await _audit.fetch_row(conn, plan, key, tenant=tenant) if soft else None
                await _audit.record(ctx, conn, plan, [("delete", before, after)])
        if found is None:
            raise _not_found(cls, params)
        return {"id": plan.pk_output(found), "deleted": True}


# -- List ------------------------------------------------------------------------------------


def _cursor_value(f: Field, value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if hasattr(value, "value") and f.kind is FieldKind.ENUM:
        return value.value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    return value


def _encode_cursor(keys: Sequence[tuple[Field, bool]], row: dict[str, Any]) -> str:
    payload = {
        "k": [[f.name, int(desc)] for f, desc in keys],
        "v": [_cursor_value(f, row[f.name]) for f, _ in keys],
    }
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, keys: Sequence[tuple[Field, bool]], type_name: str) -> list[Any]:
    bad = ValidationError(
        f"{type_name}: the cursor is invalid or was made for a different order_by; pass "
        "the next_cursor of a List with the same filter and order_by",
        code="DF-PARAM-CURSOR",
    )
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if payload["k"] != [[f.name, int(desc)] for f, desc in keys]:
            raise bad
        values = []
        for (f, _), v in zip(keys, payload["v"], strict=True):
            if v is not None and f.kind is FieldKind.BYTES:
                v = base64.b64decode(v)
            values.append(None if v is None else f.validate(v))
        return values
    except ValidationError:
        raise bad from None
    except Exception:
        raise bad from None


def _keyset_sql(
    plan: ModelPlan, keys: Sequence[tuple[Field, bool]], values: Sequence[Any], p: Params
) -> str:
    """Rows strictly after ``values`` in ``keys`` order (NULLs first ascending)."""
    d = plan.dialect
    ors = []
    for i, (f, desc) in enumerate(keys):
        if desc and values[i] is None:
            continue  # nothing sorts after NULL when descending (and no parameter is bound)
        ands = []
        for (pf, _), pv in zip(keys[:i], values[:i], strict=True):
            col = d.column(pf)
            ands.append(f"{col} IS NULL" if pv is None else f"{col} = {p.add_field(pf, pv)}")
        col, v = d.column(f), values[i]
        if not desc:
            after = (
                f"{col} IS NOT NULL" if v is None else d.compare_sql(f, col, ">", p.add_field(f, v))
            )
        else:
            after = d.compare_sql(f, col, "<", p.add_field(f, v))
            if f.nullable:
                after = f"({after} OR {col} IS NULL)"
        ands.append(after)
        ors.append("(" + " AND ".join(ands) + ")")
    return "(" + " OR ".join(ors) + ")" if ors else "1=0"


class ListNode(Node):
    kind = "List"
    description = "List records with a filter, order, projection and pagination."

    @classmethod
    def _declare_parameters(cls) -> dict[str, Param]:
        params = {
            "filter": Param(
                "filter", "filter", default=None, doc="a filter document", aliases=("conditions",)
            ),
            "order_by": Param(
                "order_by",
                "order_by",
                default=None,
                doc="['-age', 'name'] or [{'age': -1}]",
                aliases=("sort",),
            ),
            "limit": Param("limit", "int", default=None, doc="at most this many records"),
            "offset": Param("offset", "int", default=0, doc="skip this many records"),
            "cursor": Param(
                "cursor", "str", default=None, doc="continue after a previous List's next_cursor"
            ),
            "fields": Param("fields", "list[str]", default=None, doc="return only these fields"),
            "with_total": Param(
                "with_total", "bool", default=False, doc="also count every matching record"
            ),
            "aggregate": Param(
                "aggregate", "list[dict]", default=None, doc="an aggregation pipeline"
            ),
        }
        if cls.model.soft_delete:
            params["include_deleted"] = Param(
                "include_deleted", "bool", default=False, doc="also list soft-deleted records"
            )
        return params

    @classmethod
    def _declare_outputs(cls) -> OutputSpec:
        return {
            "records": "rows",
            "count": "int",
            "total": "int | None",
            "next_cursor": "str | None",
        }

    @classmethod
    def normalize(cls, params: Mapping[str, Any], problems: Problems) -> dict[str, Any]:
        out = cls.canonical(params, problems)
        _check_types(cls, out, problems)
        out.setdefault("include_deleted", False)
        _int_param(cls, out, "limit", problems)
        _int_param(cls, out, "offset", problems)
        out["_filter"] = _filter(cls, out, "filter", problems)
        try:
            out["_order"] = parse_order_by(out.get("order_by"), cls.model)
        except FilterError as exc:
            problems.error(exc, ("order_by",))
        try:
            out["_fields"] = parse_fields(out.get("fields"), cls.model)
        except FilterError as exc:
            problems.error(exc, ("fields",))
        if out.get("aggregate") is not None:
            clash = (
                [k for k in ("order_by", "limit", "cursor", "fields") if out.get(k) is not None]
                + (["offset"] if out.get("offset") else [])
                + (["with_total"] if out.get("with_total") else [])
            )
            if clash:
                problems.add(
                    "DF-PARAM-CONFLICT",
                    f"{cls.type_name}: with 'aggregate', put ordering, paging and projection "
                    f"in the pipeline ($sort, $skip, $limit, $project), not {', '.join(clash)}",
                    ("aggregate",),
                )
            try:
                out["_pipeline"] = parse_pipeline(out["aggregate"], cls.model)
            except (FilterError, UnsupportedError) as exc:
                if not problems.collect:
                    raise
                problems.items.append(_diag(problems, exc.code, exc.message, ("aggregate",)))
        if out.get("cursor") is not None and out.get("offset"):
            problems.add(
                "DF-PARAM-CONFLICT",
                f"{cls.type_name}: 'cursor' and 'offset' cannot be combined",
                ("cursor",),
            )
        return out

    async def run(self, ctx: ExecContext, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("_pipeline") is not None:
            tenant = ctx.tenant_for(type(self).model, type(self).type_name)
            records = await _aggregate_rows(ctx, _plan(type(self)), params, tenant)
            return {"records": records, "count": len(records), "total": None, "next_cursor": None}
        cls = type(self)
        plan = _plan(cls)
        d = plan.dialect
        order = list(params["_order"])
        limit = params["limit"]
        paged = limit is not None or params["cursor"] is not None
        if paged:
            names = {f.name for f, _ in order}
            order += [(f, False) for f in plan.pk_fields if f.name not in names]
        fields = params["_fields"] or plan.fields
        select_fields = list(fields)
        for f, _ in order:
            if paged and f not in select_fields:
                select_fields.append(f)
        tenant = ctx.tenant_for(cls.model, cls.type_name)
        p = Params(d)
        where = plan.where(
            params["_filter"], p, include_deleted=params["include_deleted"], tenant=tenant
        )
        if params["cursor"] is not None:
            values = _decode_cursor(params["cursor"], order, cls.type_name)
            where = f"{where} AND {_keyset_sql(plan, order, values, p)}"
        sql = f"SELECT {d.select_list(select_fields)} FROM {plan.table} WHERE {where}"
        if order:
            sql += f" ORDER BY {d.order_sql(order)}"
        sql += d.limit_sql(None if limit is None else limit + 1, params["offset"], p)
        decode = plan.decoder_for(select_fields)
        total = None
        async with ctx.connection() as conn:
            rows = await conn.fetch(sql, p.values)
            if params["with_total"]:
                tp = Params(d)
                total_where = plan.where(
                    params["_filter"], tp, include_deleted=params["include_deleted"], tenant=tenant
                )
                count_rows = await conn.fetch(
                    f"SELECT COUNT(*) FROM {plan.table} WHERE {total_where}", tp.values
                )
                total = int(count_rows[0][0])
        records = [decode(r) for r in rows]
        next_cursor = None
        if limit is not None and len(records) > limit:
            records = records[:limit]
            if records:  # limit 0 counts nothing and continues nowhere
                next_cursor = _encode_cursor(order, records[-1])
        if len(select_fields) != len(fields):
            keep = [f.name for f in fields]
            records = [{k: r[k] for k in keep} for r in records]
        return {
            "records": records,
            "count": len(records),
            "total": total,
            "next_cursor": next_cursor,
        }


async def _aggregate_rows(
    ctx: ExecContext, plan: ModelPlan, params: dict[str, Any], tenant: str | None
) -> list[dict[str, Any]]:
    d = plan.dialect
    p = Params(d)
    where = plan.where(
        params["_filter"], p, include_deleted=params.get("include_deleted", False), tenant=tenant
    )
    sql, fields = plan.pipeline_sql(where, params["_pipeline"], p)
    async with ctx.connection() as conn:
        rows = await conn.fetch(sql, p.values)
    decoders = [(f.name, _pipeline_decoder(d, f)) for f in fields]
    # A document _id travels as "_id.<part>" columns and is nested again here.
    nested = any(f.name.startswith("_id.") for f in fields)
    out = []
    for raw in rows:
        record = {
            name: None if v is None else dec(v)
            for (name, dec), v in zip(decoders, raw, strict=True)
        }
        if nested:
            parts = {n[4:]: record.pop(n) for n in [n for n in record if n.startswith("_id.")]}
            record = {"_id": parts, **record}
        out.append(record)
    return out


def _pipeline_decoder(d: Any, f: Field) -> Any:
    """Results of SUM, AVG and COUNT come back as the server likes (numeric, Decimal,
    text): bring each to the output field's Python type."""
    if f.kind is FieldKind.INT:
        return int
    if f.kind is FieldKind.FLOAT:
        return float
    decode = d.decoder(f) or (lambda v: v)
    if f.kind is FieldKind.JSON and f.item_type in (bool, float):
        # $push/$addToSet arrays: a database may write booleans as 0/1, doubles as 1.
        item = f.item_type
        return lambda v: [None if x is None else item(x) for x in decode(v)]
    return decode


class CountNode(Node):
    kind = "Count"
    description = "Count the records that match a filter."

    @classmethod
    def _declare_parameters(cls) -> dict[str, Param]:
        params = {
            "filter": Param(
                "filter", "filter", default=None, doc="a filter document", aliases=("conditions",)
            )
        }
        if cls.model.soft_delete:
            params["include_deleted"] = Param(
                "include_deleted", "bool", default=False, doc="also count soft-deleted records"
            )
        return params

    @classmethod
    def _declare_outputs(cls) -> OutputSpec:
        return {"count": "int"}

    @classmethod
    def normalize(cls, params: Mapping[str, Any], problems: Problems) -> dict[str, Any]:
        out = cls.canonical(params, problems)
        _check_types(cls, out, problems)
        out.setdefault("include_deleted", False)
        out["_filter"] = _filter(cls, out, "filter", problems)
        return out

    async def run(self, ctx: ExecContext, params: dict[str, Any]) -> dict[str, Any]:
        plan = _plan(type(self))
        tenant = ctx.tenant_for(plan.model, type(self).type_name)
        p = Params(plan.dialect)
        where = plan.where(
            params["_filter"], p, include_deleted=params["include_deleted"], tenant=tenant
        )
        async with ctx.connection() as conn:
            rows = await conn.fetch(f"SELECT COUNT(*) FROM {plan.table} WHERE {where}", p.values)
        return {"count": int(rows[0][0])}


def _equalities(where: Mapping[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    """The plain equality conditions of a filter (``f: v``, ``f: {$eq: v}``, and those
    inside ``$and``): MongoDB copies them into the document an upsert creates."""
    out: dict[str, Any] = {}
    for key, value in where.items():
        if key == "$and" and isinstance(value, list):
            for part in value:
                if isinstance(part, Mapping):
                    for k, v in _equalities(part, fields).items():
                        out.setdefault(k, v)
        elif isinstance(key, str) and key in fields:
            if isinstance(value, Mapping):
                if set(value) == {"$eq"} and value["$eq"] is not None:
                    out[key] = value["$eq"]
            elif value is not None:
                out[key] = value
    return out


class UpsertNode(Node):
    kind = "Upsert"
    writes = True
    description = (
        "Update the record matching 'where', or create it when none matches "
        "(equality fields of 'where' are copied into the new record)."
    )
    field_documents = ("create", "update")

    @classmethod
    def _declare_parameters(cls) -> dict[str, Param]:
        return {
            "where": Param(
                "where", "filter", required=True, doc="a filter matching at most one record"
            ),
            "create": Param(
                "create", "dict", required=True, doc="the record to create when nothing matches"
            ),
            "update": Param(
                "update",
                "update",
                default=None,
                doc="values or update operators applied when a record matches",
            ),
        }

    @classmethod
    def _declare_outputs(cls) -> OutputSpec:
        return {"record": "row", "action": "str"}

    @classmethod
    def normalize(cls, params: Mapping[str, Any], problems: Problems) -> dict[str, Any]:
        out = cls.canonical(params, problems)
        _check_types(cls, out, problems)
        out["_filter"] = _filter(cls, out, "where", problems)
        where = out.get("where") or {}
        equalities = _equalities(where, cls.model.fields) if isinstance(where, Mapping) else {}
        create = dict(out.get("create") or {})
        for k, v in equalities.items():
            f = cls.model.fields[k]
            if not f.auto or f.identity or (k == "tenant_id" and cls.model.multi_tenant):
                create.setdefault(k, v)
        if out.get("create") is not None or problems.provided("create"):
            out["create"] = _validate_record(cls, create, problems, ("create",), identity=True)
        if out.get("update"):
            try:
                out["_set"] = parse_update(out["update"], cls.model, param="update")
            except FilterError as exc:
                problems.error(exc, ("update",))
        else:
            out["_set"] = []
        return out

    async def run(self, ctx: ExecContext, params: dict[str, Any]) -> dict[str, Any]:
        cls = type(self)
        plan = _plan(cls)
        tenant = ctx.tenant_for(cls.model, cls.type_name)
        where = "create (with where's equalities)"
        _own_tenant(cls, params["create"].get("tenant_id"), tenant, where)
        async with ctx.atomic() as conn:
            # Without a unique constraint on 'where', two upserts could both find nothing
            # and both insert: serialise upserts of this table for the transaction.
            await cls.dataflow._lock_for_upsert(conn, cls.model)
            for attempt in range(2):
                row = await _one_row(cls, conn, plan, params, lock=True, tenant=tenant)
                if row is not None:
                    updated = await self._apply(conn, plan, row, params, tenant)
                    if cls.model.audit_log and params["_set"]:
                        await _audit.record(ctx, conn, plan, [("update", row, updated)])
                    return {"record": updated, "action": "updated"}
                record = params["create"]
                if plan.soft_delete_field is not None:
                    deleted = await _latest_deleted(conn, plan, params["_filter"], tenant)
                    if deleted is not None:
                        audited = cls.model.audit_log
                        gone = (
                            await _audit.fetch_row(conn, plan, deleted, tenant=tenant)
                            if audited
                            else None
                        )
                        restored = await _restore_one(conn, plan, deleted, record, tenant)
                        if audited:
                            await _audit.record(ctx, conn, plan, [("create", gone, restored)])
                        return {"record": restored, "action": "created"}
                insert_plan = plan.with_identity(plan.given_identity(record))
                tops = insert_plan.identity_tops(
                    [[record.get(f.name) for f in insert_plan.insert_fields]]
                )
                try:
                    async with conn.transaction():
                        created = await _insert_row(conn, insert_plan, record, tenant)
                        await insert_plan.resync_identity(conn, tops)
                    if cls.model.audit_log:
                        await _audit.record(ctx, conn, plan, [("create", None, created)])
                    return {"record": created, "action": "created"}
                except UniqueViolation:
                    if attempt:
                        raise
                    # A concurrent writer created it first: update that record instead.
        raise AssertionError("unreachable")  # pragma: no cover

    async def _apply(
        self,
        conn: Connection,
        plan: ModelPlan,
        row: dict[str, Any],
        params: dict[str, Any],
        tenant: str | None,
    ) -> dict[str, Any]:
        if not params["_set"]:
            return row
        d = plan.dialect
        now = d.now()
        p = Params(d)
        sets = [d.set_sql(item, p, now) for item in params["_set"]]
        sets += plan.update_stamps(p, now)
        key = [row[f.name] for f in plan.pk_fields]
        where = plan.pk_where(key, p, tenant)
        sql = f"UPDATE {plan.table} SET {', '.join(sets)} WHERE {where}"
        updated = await _update_returning(conn, plan, sql, p.values, key, params["_set"], tenant)
        assert updated is not None  # the row is locked by this transaction
        return updated


# -- soft-deleted records that an upsert brings back ----------------------------------------


async def _latest_deleted(
    conn: Connection, plan: ModelPlan, node: FilterNode | Bound | None, tenant: str | None
) -> list[Any] | None:
    """The key of the most recently soft-deleted record ``node`` matches (locked)."""
    d = plan.dialect
    soft = plan.soft_delete_field
    assert soft is not None
    p = Params(d)
    where = plan.where(node, p, include_deleted=True, tenant=tenant)
    order = d.order_sql([(soft, True), *((f, False) for f in plan.pk_fields)])
    sql = (
        f"SELECT {d.select_list(plan.pk_fields)} FROM {plan.table} "
        f"WHERE {where} AND {d.column(soft)} IS NOT NULL ORDER BY {order}"
    )
    sql += d.limit_sql(1, None, p) + d.lock_suffix()
    rows = await conn.fetch(sql, p.values)
    if not rows:
        return None
    found = plan.decoder_for(plan.pk_fields)(rows[0])
    return [found[f.name] for f in plan.pk_fields]


def _restore_sql(plan: ModelPlan) -> str:
    """An UPDATE that brings a soft-deleted record back as a new record: every writable
    field from the record, fresh timestamps, ``deleted_at`` cleared (a versioned record's
    version still counts up). Parameters: the writable fields, the timestamps, the key,
    and the tenant on a multi-tenant model."""
    d = plan.dialect
    soft = plan.soft_delete_field
    assert soft is not None
    cols = [*plan.writable, *(plan.model.fields[n] for n in plan.model.stamps)]
    sets = [f"{d.column(f)} = {d.placeholder(i)}" for i, f in enumerate(cols, 1)]
    sets.append(f"{d.column(soft)} = NULL")
    if plan.model.versioned:
        vcol = d.column(plan.model.fields["version"])
        sets.append(f"{vcol} = {vcol} + 1")
    n = len(cols)
    where = [f"{d.column(f)} = {d.placeholder(i)}" for i, f in enumerate(plan.pk_fields, n + 1)]
    tf = plan.tenant_field
    if tf is not None:
        where.append(d.compare_sql(tf, d.column(tf), "=", d.placeholder(n + len(where) + 1)))
    return f"UPDATE {plan.table} SET {', '.join(sets)} WHERE {' AND '.join(where)}"


def _restore_values(
    plan: ModelPlan, record: dict[str, Any], key: Sequence[Any], now: Any, tenant: str | None
) -> list[Any]:
    d = plan.dialect
    values = plan.encode_insert_row(record, ())
    values += [d.encode(plan.model.fields[n], now) for n in plan.model.stamps]
    values += [d.encode(f, v) for f, v in zip(plan.pk_fields, key, strict=True)]
    if plan.tenant_field is not None:
        values.append(d.encode(plan.tenant_field, tenant))
    return values


async def _restore_one(
    conn: Connection,
    plan: ModelPlan,
    key: list[Any],
    record: dict[str, Any],
    tenant: str | None,
) -> dict[str, Any]:
    """Bring the soft-deleted record ``key`` back with ``record``'s values."""
    d = plan.dialect
    sql = _restore_sql(plan)
    values = _restore_values(plan, record, key, d.now(), tenant)
    if d.update_returning:
        rows = await conn.fetch(sql + d.returning_sql(plan.fields), values)
        return plan.decode(rows[0])
    await conn.execute(sql, values)
    new_key = [record.get(f.name, k) for f, k in zip(plan.pk_fields, key, strict=True)]
    return await _row_by_key(conn, plan, new_key, tenant)


# -- bulk -------------------------------------------------------------------------------------


_MAX_PARAMS = 30000


def _validate_rows(
    cls: type[Node], data: Any, problems: Problems, *, identity: bool = False
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if data is None:
        return rows
    for i, record in enumerate(data):
        if not isinstance(record, Mapping):
            problems.add(
                "DF-PARAM-TYPE", f"{cls.type_name}: data[{i}] must be an object", ("data", i)
            )
            continue
        rows.append(_validate_record(cls, record, problems, ("data", i), identity=identity))
    return rows


def _encode_for_insert(
    cls: type[Node], data: Any, problems: Problems, *, fast: bool
) -> tuple[list[tuple[Any, ...]], frozenset[str], list[tuple[int, Any]]]:
    """BulkCreate's records encoded for insert, the identity columns any of them gives
    (``DATABASE_DEFAULT`` in the records that leave one out), and the tenants they name;
    every problem is reported to ``problems``. ``fast`` tries the compiled encoder first.
    """
    plan = _plan(cls)
    encoded = plan.encode_rows(data) if fast else None
    if encoded is not None:
        return encoded, frozenset(), []
    if fast and plan.model.identity_names and isinstance(data, list) and data:
        first = data[0] if isinstance(data[0], Mapping) else {}
        names = frozenset(n for n in plan.model.identity_names if first.get(n) is not None)
        if names:  # the fast path again, with the identity columns given
            encoded = plan.with_identity(names).encode_rows(data)
            if encoded is not None:
                return encoded, names, []
    # The detailed validator names every bad row and field.
    records = _validate_rows(cls, data, problems, identity=True)
    tenants = [(i, r["tenant_id"]) for i, r in enumerate(records) if "tenant_id" in r]
    given = [plan.given_identity(r) for r in records]
    names = frozenset().union(*given)
    identity_plan = plan.with_identity(names)
    if any(g != names for g in given):
        # Some records leave an identity column to the database: it numbers them, one
        # INSERT per record naming only the columns the record gives.
        for r, g in zip(records, given, strict=True):
            for n in names - g:
                r[n] = DATABASE_DEFAULT
    return [tuple(identity_plan.encode_insert_row(r, ())) for r in records], names, tenants


class BulkCreateNode(Node):
    kind = "BulkCreate"
    writes = True
    description = "Insert many records atomically (all or none)."

    @classmethod
    def _declare_parameters(cls) -> dict[str, Param]:
        return {
            "data": Param("data", "list[dict]", required=True, doc="the records to insert"),
            "batch_size": Param("batch_size", "int", default=1000, doc="rows per INSERT statement"),
            "on_conflict": Param(
                "on_conflict",
                "str",
                default="error",
                doc="'error' (default) or 'ignore' rows that violate a unique key",
            ),
            "return_ids": Param(
                "return_ids", "bool", default=False, doc="return the new records' ids"
            ),
        }

    @classmethod
    def _declare_outputs(cls) -> OutputSpec:
        return {"inserted": "int", "ids": "list | None"}

    @classmethod
    def normalize(cls, params: Mapping[str, Any], problems: Problems) -> dict[str, Any]:
        out = cls.canonical(params, problems)
        _check_types(cls, out, problems)
        _int_param(cls, out, "batch_size", problems, minimum=1)
        if out.get("on_conflict") not in ("error", "ignore"):
            problems.add(
                "DF-PARAM-TYPE",
                f"{cls.type_name}: on_conflict must be 'error' or 'ignore', got "
                f"{out.get('on_conflict')!r}",
                ("on_conflict",),
            )
        if not problems.provided("data"):
            data = out.get("data") or []
            out["_rows"], out["_identity"], out["_tenants"] = _encode_for_insert(
                cls, data, problems, fast=not problems.pending
            )
        return out

    async def run(self, ctx: ExecContext, params: dict[str, Any]) -> dict[str, Any]:
        cls = type(self)
        plan = _plan(cls).with_identity(params.get("_identity", frozenset()))
        d = plan.dialect
        tenant = ctx.tenant_for(cls.model, cls.type_name)
        for i, value in params.get("_tenants", ()):
            _own_tenant(cls, value, tenant, f"data[{i}]")
        stamp = plan.stamp(d.now(), tenant)
        rows = [r + stamp for r in params["_rows"]]
        if not rows:
            return {"inserted": 0, "ids": [] if params["return_ids"] else None}
        tops = plan.identity_tops(rows)
        async with ctx.atomic() as conn:
            result = await self._insert(ctx, conn, plan, rows, params)
            await plan.resync_identity(conn, tops)
        return result

    @classmethod
    async def _insert(
        cls,
        ctx: ExecContext,
        conn: Connection,
        plan: ModelPlan,
        rows: list[tuple[Any, ...]],
        params: dict[str, Any],
    ) -> dict[str, Any]:
        d = plan.dialect
        ignore = params["on_conflict"] == "ignore"
        want_ids = params["return_ids"]
        if plan.model.audit_log:  # the stored records are read back for their entries
            created = await _audit.bulk_create(
                ctx,
                conn,
                plan,
                plan.insert_fields,
                rows,
                ignore=ignore,
                batch_size=params["batch_size"],
            )
            new_ids = [plan.pk_output(r) for r in created] if want_ids else None
            return {"inserted": len(created), "ids": new_ids}
        if (plan.db_defaults or plan.identity) and any(DATABASE_DEFAULT in r for r in rows):
            return await cls._insert_with_defaults(conn, plan, rows, ignore, want_ids)
        columns = plan.insert_fields
        if not ignore and not want_ids:
            copied = await conn.copy_records(
                plan.model.table_name,
                plan.model.schema or d.schema,
                [f.column for f in columns],
                rows,
            )
            if copied is not None:
                return {"inserted": copied, "ids": None}
        if not want_ids and not ignore:
            sql = d.insert_sql(plan.model, columns, 1, 1)
            inserted = await conn.executemany(sql, rows)
            return {"inserted": inserted, "ids": None}
        if not d.insert_returning:
            return await cls._insert_each(conn, plan, rows, ignore, want_ids)
        # Returning the keys counts exactly the rows a conflict did not skip.
        batch = max(1, min(params["batch_size"], _MAX_PARAMS // max(1, len(columns))))
        ids: list[Any] = []
        pk = plan.pk_fields
        decode = plan.decoder_for(pk)
        for start in range(0, len(rows), batch):
            chunk = rows[start : start + batch]
            sql = d.insert_sql(
                plan.model, columns, len(chunk), 1, returning=pk, ignore_conflicts=ignore
            )
            flat = [v for r in chunk for v in r]
            for r in await conn.fetch(sql, flat):
                ids.append(plan.pk_output(decode(r)))
        return {"inserted": len(ids), "ids": ids if want_ids else None}

    @staticmethod
    async def _insert_with_defaults(
        conn: Connection,
        plan: ModelPlan,
        rows: list[tuple[Any, ...]],
        ignore: bool,
        want_ids: bool,
    ) -> dict[str, Any]:
        """Records that leave columns to the database's defaults (registered tables): one
        INSERT per record, in order, naming only the columns the record gives."""
        d = plan.dialect
        pk = plan.pk_fields
        decode = plan.decoder_for(pk)
        ids: list[Any] = []
        inserted = 0
        key_at = plan.insert_fields.index(pk[0]) if pk and pk[0] in plan.insert_fields else None
        numbering = plan.given_keys()
        for row in rows:
            await numbering.before(conn, row)
            columns, values = plan.without_defaults(row)
            returning = pk if d.insert_returning and want_ids else None
            sql = d.insert_sql(
                plan.model, columns, 1, 1, returning=returning, ignore_conflicts=ignore
            )
            if returning:
                found = await conn.fetch(sql, values)
                if found:
                    inserted += 1
                    ids.append(plan.pk_output(decode(found[0])))
                continue
            if want_ids and plan.model.auto_id:  # the key: given, or the generated id
                new_id = await conn.insert(sql, values)
                if new_id is not None:
                    inserted += 1
                    given = row[key_at] if key_at is not None else DATABASE_DEFAULT
                    ids.append(new_id if given is DATABASE_DEFAULT else given)
                continue
            if want_ids:
                raise UnsupportedError(
                    f"{plan.model.name}: return_ids needs INSERT ... RETURNING on this table",
                    details={"model": plan.model.name, "dialect": d.name},
                )
            inserted += await conn.execute(sql, values)
        return {"inserted": inserted, "ids": ids if want_ids else None}

    @staticmethod
    async def _insert_each(
        conn: Connection,
        plan: ModelPlan,
        rows: list[tuple[Any, ...]],
        ignore: bool,
        want_ids: bool,
    ) -> dict[str, Any]:
        """Without RETURNING (MySQL): ids come from each insert's generated key.

        Without ids wanted, one batched statement counts the inserted rows exactly.
        """
        d = plan.dialect
        sql = d.insert_sql(plan.model, plan.insert_fields, 1, 1, ignore_conflicts=ignore)
        if not want_ids:
            return {"inserted": await conn.executemany(sql, rows), "ids": None}
        ids: list[Any] = []
        positions = [] if plan.auto_id else [plan.insert_fields.index(f) for f in plan.pk_fields]
        for row in rows:
            new_id = await conn.insert(sql, row)
            if new_id is None:
                continue  # skipped as a duplicate
            if plan.auto_id:
                ids.append(new_id)
            else:
                ids.append(
                    plan.pk_output(
                        {f.name: row[i] for f, i in zip(plan.pk_fields, positions, strict=True)}
                    )
                )
        return {"inserted": len(ids), "ids": ids}


def _always_true(node: FilterNode | Bound | None) -> bool:
    if isinstance(node, Bound):
        node = node.template.node  # values do not decide it
    if node is None:
        return True
    if isinstance(node, Const):
        return node.value
    if isinstance(node, And):
        return all(_always_true(n) for n in node.items)
    if isinstance(node, Or):
        return any(_always_true(n) for n in node.items)
    return False


def _bulk_filter_guard(cls: type[Node], out: dict[str, Any], problems: Problems) -> None:
    if out.get("all") or problems.provided("filter"):
        return
    parsed = out.get("_filter")
    if not out.get("filter") or (parsed is not None and _always_true(parsed)):
        problems.add(
            "DF-PARAM-UNSAFE-BULK",
            f"{cls.type_name}: an empty filter would affect every record; pass a filter, or "
            "'all': True to really affect them all",
            ("filter",),
        )


class BulkUpdateNode(Node):
    kind = "BulkUpdate"
    writes = True
    description = "Update every record matching a filter in one statement."

    @classmethod
    def _declare_parameters(cls) -> dict[str, Param]:
        params = {
            "filter": Param(
                "filter",
                "filter",
                default=None,
                doc="which records to update",
                aliases=("conditions",),
            ),
            "update": Param(
                "update",
                "update",
                required=True,
                doc="values, or $set $inc $mul $min $max $unset $currentDate",
                aliases=("fields", "updates"),
            ),
            "all": Param(
                "all",
                "bool",
                default=False,
                doc="required to update every record with an empty filter",
            ),
        }
        if cls.model.versioned:
            params["version"] = Param(
                "version",
                "int",
                default=None,
                doc="update only if every selected record is at this version (optimistic "
                "locking; otherwise nothing is written)",
            )
        return params

    @classmethod
    def _declare_outputs(cls) -> OutputSpec:
        return {"updated": "int"}

    @classmethod
    def normalize(cls, params: Mapping[str, Any], problems: Problems) -> dict[str, Any]:
        out = cls.canonical(params, problems)
        _check_types(cls, out, problems)
        out["_filter"] = _filter(cls, out, "filter", problems)
        _bulk_filter_guard(cls, out, problems)
        _int_param(cls, out, "version", problems, minimum=1)
        if out.get("update") is not None and not problems.provided("update"):
            try:
                out["_set"] = parse_update(out["update"], cls.model, param="update")
            except FilterError as exc:
                problems.error(exc, ("update",))
        return out

    async def run(self, ctx: ExecContext, params: dict[str, Any]) -> dict[str, Any]:
        plan = _plan(type(self))
        d = plan.dialect
        if plan.model.audit_log or params.get("version") is not None:
            # The selected rows are read and locked first: versions checked, before kept.
            tenant = ctx.tenant_for(plan.model, type(self).type_name)
            wp = Params(d)
            where = plan.where(params["_filter"], wp, tenant=tenant)
            async with ctx.atomic() as conn:
                n = await _audit.bulk_update(
                    ctx,
                    conn,
                    plan,
                    where,
                    wp.values,
                    params["_set"],
                    version=params.get("version"),
                    node_type=type(self).type_name,
                )
            return {"updated": n}
        now = d.now()
        p = Params(d)
        sets = [d.set_sql(item, p, now) for item in params["_set"]]
        sets += plan.update_stamps(p, now)
        tenant = ctx.tenant_for(plan.model, type(self).type_name)
        where = plan.where(params["_filter"], p, tenant=tenant)
        async with ctx.atomic() as conn:
            n = await conn.execute(
                f"UPDATE {plan.table} SET {', '.join(sets)} WHERE {where}", p.values
            )
        return {"updated": n}


class BulkDeleteNode(Node):
    kind = "BulkDelete"
    writes = True
    description = "Delete every record matching a filter (soft delete when the model has it)."

    @classmethod
    def _declare_parameters(cls) -> dict[str, Param]:
        params = {
            "filter": Param(
                "filter",
                "filter",
                default=None,
                doc="which records to delete",
                aliases=("conditions",),
            ),
            "all": Param(
                "all",
                "bool",
                default=False,
                doc="required to delete every record with an empty filter",
            ),
        }
        if cls.model.soft_delete:
            params["hard"] = Param(
                "hard", "bool", default=False, doc="remove rows instead of marking them deleted"
            )
        params["soft_delete"] = Param(
            "soft_delete",
            "bool",
            default=None,
            doc="true: mark rows deleted (needs a soft-delete model); false: remove them",
        )
        return params

    @classmethod
    def _declare_outputs(cls) -> OutputSpec:
        return {"deleted": "int"}

    @classmethod
    def normalize(cls, params: Mapping[str, Any], problems: Problems) -> dict[str, Any]:
        out = cls.canonical(params, problems)
        _check_types(cls, out, problems)
        out["_filter"] = _filter(cls, out, "filter", problems)
        _bulk_filter_guard(cls, out, problems)
        if out.get("soft_delete") is False:
            out["hard"] = True
        elif out.get("soft_delete") is True and not cls.model.soft_delete:
            problems.add(
                "DF-PARAM-CONFLICT",
                f"{cls.type_name}: soft_delete=True needs a soft-delete model; set "
                f"__dataflow__ = {{'soft_delete': True}} on {cls.model.name}, or drop the "
                "parameter to delete the rows",
                ("soft_delete",),
            )
        return out

    async def run(self, ctx: ExecContext, params: dict[str, Any]) -> dict[str, Any]:
        plan = _plan(type(self))
        d = plan.dialect
        p = Params(d)
        tenant = ctx.tenant_for(plan.model, type(self).type_name)
        if plan.model.audit_log:  # rows read and locked first: each entry has its before
            soft = plan.soft_delete_field is not None and not params.get("hard")
            wp = Params(d)
            where = plan.where(params["_filter"], wp, include_deleted=not soft, tenant=tenant)
            async with ctx.atomic() as conn:
                n = await _audit.bulk_delete(ctx, conn, plan, where, wp.values, soft=soft)
            return {"deleted": n}
        if plan.soft_delete_field is not None and not params.get("hard"):
            f = plan.soft_delete_field
            set_sql = f"{d.column(f)} = {p.add_field(f, d.now())}"
            where = plan.where(params["_filter"], p, tenant=tenant)
            sql = f"UPDATE {plan.table} SET {set_sql} WHERE {where}"
        else:
            where = plan.where(params["_filter"], p, include_deleted=True, tenant=tenant)
            sql = f"DELETE FROM {plan.table} WHERE {where}"
        async with ctx.atomic() as conn:
            n = await conn.execute(sql, p.values)
        return {"deleted": n}


class BulkUpsertNode(Node):
    kind = "BulkUpsert"
    writes = True
    description = (
        "Insert or update many records matched on match_fields, atomically; "
        "works with or without a unique constraint on them."
    )

    @classmethod
    def _declare_parameters(cls) -> dict[str, Param]:
        return {
            "data": Param("data", "list[dict]", required=True, doc="the records"),
            "match_fields": Param(
                "match_fields",
                "list[str]",
                default=None,
                doc="fields that identify a record (default: primary key)",
                aliases=("conflict_columns",),
            ),
            "update_fields": Param(
                "update_fields",
                "list[str]",
                default=None,
                doc="fields to update on a match (default: all given)",
            ),
            "batch_size": Param("batch_size", "int", default=1000, doc="rows per statement"),
        }

    @classmethod
    def _declare_outputs(cls) -> OutputSpec:
        return {"inserted": "int", "updated": "int"}

    @classmethod
    def normalize(cls, params: Mapping[str, Any], problems: Problems) -> dict[str, Any]:
        out = cls.canonical(params, problems)
        _check_types(cls, out, problems)
        _int_param(cls, out, "batch_size", problems, minimum=1)
        model = cls.model
        match = out.get("match_fields") or list(model.primary_key)
        for name in match:
            if name not in model.fields:
                problems.add(
                    "DF-PARAM-UNKNOWN-FIELD",
                    f"{cls.type_name}: match_fields names unknown field {name!r}",
                    ("match_fields",),
                    {"field": name},
                )
        out["match_fields"] = list(match)
        for name in out.get("update_fields") or []:
            if name not in model.writable_fields:
                problems.add(
                    "DF-PARAM-UNKNOWN-FIELD",
                    f"{cls.type_name}: update_fields names unknown field {name!r}",
                    ("update_fields",),
                    {"field": name},
                )
        if problems.provided("data"):
            return out
        rows: list[dict[str, Any]] = []
        for i, record in enumerate(out.get("data") or []):
            if not isinstance(record, Mapping):
                problems.add(
                    "DF-PARAM-TYPE", f"{cls.type_name}: data[{i}] must be an object", ("data", i)
                )
                continue
            given = set(record)
            key_values = {k: record.get(k) for k in match if k in model.fields}
            # A record's tenant_id is the bound tenant's, when the record leaves it out.
            missing = [
                k
                for k, v in key_values.items()
                if v is None and not (k == "tenant_id" and model.multi_tenant)
            ]
            if missing:
                problems.add(
                    "DF-PARAM-MISSING",
                    f"{cls.type_name}: data[{i}] has no value for match field(s) "
                    f"{', '.join(missing)}",
                    ("data", i),
                )
                continue
            body = {k: v for k, v in record.items() if not (k in match and model.fields[k].auto)}
            validated = _validate_record(cls, body, problems, ("data", i), identity=True)
            for k in match:
                f = model.fields.get(k)
                if f is not None and f.auto and record.get(k) is not None:
                    try:
                        validated[k] = f.validate(record[k])
                    except ValidationError as exc:
                        problems.error(exc, ("data", i, k))
            validated["__given__"] = given
            rows.append(validated)
        out["data"] = rows
        return out

    async def run(self, ctx: ExecContext, params: dict[str, Any]) -> dict[str, Any]:
        cls = type(self)
        plan = _plan(cls)
        d = plan.dialect
        model = cls.model
        tenant = ctx.tenant_for(model, cls.type_name)
        match = [model.fields[k] for k in params["match_fields"]]
        # Later duplicates of the same key win, as if applied in order.
        by_key: dict[tuple[Any, ...], dict[str, Any]] = {}
        for i, record in enumerate(params["data"]):
            _own_tenant(cls, record.get("tenant_id"), tenant, f"data[{i}]")
            if tenant is not None and "tenant_id" in params["match_fields"]:
                record = {**record, "tenant_id": tenant}
            by_key[tuple(_hashable(record[f.name]) for f in match)] = record
        if not by_key:
            return {"inserted": 0, "updated": 0}
        now = d.now()
        # Key -> (primary key, deleted_at): a live record, else the latest soft-deleted one.
        existing: dict[tuple[Any, ...], tuple[list[Any], Any]] = {}
        pk = plan.pk_fields
        soft = plan.soft_delete_field
        select_fields = match + [f for f in pk if f not in match]
        if soft is not None:
            select_fields.append(soft)
        decode = plan.decoder_for(select_fields)
        keys = list(by_key)
        async with ctx.atomic() as conn:
            await cls.dataflow._lock_for_upsert(conn, model)
            chunk = max(1, _MAX_PARAMS // max(1, len(match)))
            for start in range(0, len(keys), chunk):
                part = keys[start : start + chunk]
                p = Params(d)
                # Soft-deleted records are read too: a key matching one brings it back.
                scope = plan.where(None, p, include_deleted=True, tenant=tenant)
                if len(match) == 1:
                    lookup = tuple(by_key[k][match[0].name] for k in part)
                    conds = d.in_sql(In(match[0], lookup, False, False), p)
                else:
                    conds = " OR ".join(
                        "("
                        + " AND ".join(
                            d.compare_sql(f, d.column(f), "=", p.add_field(f, by_key[k][f.name]))
                            for f in match
                        )
                        + ")"
                        for k in part
                    )
                # Locking the matches (and, on InnoDB, the gaps where they would go)
                # keeps a concurrent upsert of the same keys from slipping in.
                sql = (
                    f"SELECT {d.select_list(select_fields)} FROM {plan.table} "
                    f"WHERE {scope} AND ({conds}){d.lock_suffix()}"
                )
                for raw in await conn.fetch(sql, p.values):
                    row = decode(raw)
                    found = tuple(_hashable(row[f.name]) for f in match)
                    deleted_at = row[soft.name] if soft is not None else None
                    before = existing.get(found)
                    if before is not None and (
                        deleted_at is not None and (before[1] is None or before[1] > deleted_at)
                    ):
                        continue
                    existing[found] = ([row[f.name] for f in pk], deleted_at)
            audit_before = (
                await _audit.upsert_before(
                    conn, plan, {k: v[0] for k, v in existing.items()}, tenant
                )
                if model.audit_log
                else {}
            )
            # New records, grouped by the identity columns they give (one column list each).
            inserts: dict[frozenset[str], list[dict[str, Any]]] = {}
            updates, restores = [], []
            stamp = plan.stamp(now, tenant)
            computed = [
                f.name for f in match if f.auto and not f.identity and f is not plan.tenant_field
            ]
            missing = [k for k in by_key if k not in existing]
            if computed and missing:
                raise NotFoundError(
                    f"{cls.type_name}: match_fields include {computed[0]!r}, which the database "
                    f"computes, and {len(missing)} record(s) name values that do not exist "
                    f"(first: {missing[0]!r}); an insert cannot choose a computed value",
                    details={"model": model.name, "missing": [list(m) for m in missing[:10]]},
                )
            for key, record in by_key.items():
                given = record["__given__"]
                if key not in existing:
                    inserts.setdefault(plan.given_identity(record), []).append(record)
                elif existing[key][1] is None:
                    updates.append((existing[key][0], record, given))
                else:
                    restores.append(_restore_values(plan, record, existing[key][0], now, tenant))
            for given_identity, new in inserts.items():
                insert_plan = plan.with_identity(given_identity)
                rows = [tuple(insert_plan.encode_insert_row(r, stamp)) for r in new]
                tops = insert_plan.identity_tops(rows)
                sql = d.insert_sql(model, insert_plan.insert_fields, 1, 1)
                await conn.executemany(sql, rows)
                await insert_plan.resync_identity(conn, tops)
            if restores:
                await conn.executemany(_restore_sql(plan), restores)
            if updates:
                chosen = params.get("update_fields")
                match_names = {f.name for f in match}
                groups: dict[tuple[str, ...], list[list[Any]]] = {}
                stamps = [plan.updated_at] if plan.updated_at is not None else []
                for pk_values, record, given in updates:
                    names = tuple(
                        n
                        for n in (chosen or model.writable_fields)
                        if n in given and n not in match_names
                    )
                    values = [d.encode(model.fields[n], record[n]) for n in names]
                    values += [d.encode(f, now) for f in stamps]
                    values += [d.encode(f, v) for f, v in zip(pk, pk_values, strict=True)]
                    if plan.tenant_field is not None:
                        values.append(d.encode(plan.tenant_field, tenant))
                    groups.setdefault(names, []).append(values)
                for names, value_rows in groups.items():
                    cols = [model.fields[n] for n in names] + stamps
                    assignments = ", ".join(
                        f"{d.column(f)} = {d.placeholder(i)}" for i, f in enumerate(cols, 1)
                    )
                    if model.versioned:  # optimistic locking sees every write
                        vcol = d.column(model.fields["version"])
                        assignments += f", {vcol} = {vcol} + 1"
                    pk_match = " AND ".join(
                        f"{d.column(f)} = {d.placeholder(i)}"
                        for i, f in enumerate(pk, len(cols) + 1)
                    )
                    tf = plan.tenant_field
                    if tf is not None:
                        ph = d.placeholder(len(cols) + len(pk) + 1)
                        pk_match += f" AND {d.compare_sql(tf, d.column(tf), '=', ph)}"
                    await conn.executemany(
                        f"UPDATE {plan.table} SET {assignments} WHERE {pk_match}",
                        value_rows,
                    )
            if model.audit_log:
                records = list(by_key.values())
                await _audit.record_upsert(ctx, conn, plan, match, records, audit_before, tenant)
        # A soft-deleted record brought back counts as inserted: it was not there.
        inserted = sum(len(new) for new in inserts.values())
        return {"inserted": inserted + len(restores), "updated": len(updates)}


def _hashable(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return value


NODE_CLASSES: dict[str, type[Node]] = {
    cls.kind: cls
    for cls in (
        CreateNode,
        ReadNode,
        UpdateNode,
        DeleteNode,
        ListNode,
        CountNode,
        UpsertNode,
        BulkCreateNode,
        BulkUpdateNode,
        BulkDeleteNode,
        BulkUpsertNode,
    )
}
