"""GDPR helpers: export every row that references a data subject, and anonymise the
personal fields of those rows.

A *subject* is identified by a model and its key (``{"model": "Customer", "id": 7}``), or
by field values (``{"match": {"email": "a@x.io"}}``, in one model or in every model that
has those fields). The rows that reference it are found by following references from the
subject's rows to the rows that point at them, transitively: foreign keys the database
declares, fields named ``<model>_<key>`` (``customer_id``), and references declared in
the ``references`` parameter.

On audited models the export includes each record's audit entries, and the
anonymisation replaces the personal values in them too (in the same transaction), so the
trail keeps who changed what and when, but not the personal data.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..dialects import Params
from ..errors import ModelError, SchemaError, ValidationError
from ..models import Field, FieldKind, ModelDef
from ..models._model import suggest
from ..models._naming import snake_case
from ..query import parse_update
from . import _audit
from ._base import ExecContext, Node, OutputSpec, Param, Problems
from ._system import Connections, SystemNode, ensure_tables, run_child

if TYPE_CHECKING:
    from .._dataflow import DataFlow
    from ..adapters import Connection

__all__ = ["GDPRAnonymizeNode", "GDPRExportNode", "anonymous_value"]

#: The most rows one export or anonymisation handles by default.
DEFAULT_MAX_ROWS = 100_000
_MAX_ROWS_LIMIT = 10_000_000
#: Values per ``$in`` when looking for the rows that reference a set of rows.
_CHUNK = 500
#: Field kinds a reference can hold (values compared with ``$in``).
_KEY_KINDS = frozenset(
    {FieldKind.STR, FieldKind.INT, FieldKind.UUID, FieldKind.DECIMAL, FieldKind.DATE}
)
#: Kinds whose anonymised value can be made unique per row.
_UNIQUE_KINDS = frozenset(
    {
        FieldKind.STR,
        FieldKind.INT,
        FieldKind.FLOAT,
        FieldKind.DECIMAL,
        FieldKind.UUID,
        FieldKind.BYTES,
        FieldKind.DATE,
        FieldKind.DATETIME,
    }
)


@dataclass(frozen=True)
class _Edge:
    """Rows of ``child`` whose ``child_field`` equals ``parent_field`` of a ``parent`` row
    reference that row."""

    child: ModelDef
    child_field: Field
    parent: ModelDef
    parent_field: Field
    source: str  # "foreign_key", "convention" or "declared"

    def to_dict(self) -> dict[str, str]:
        return {
            "from": f"{self.child.name}.{self.child_field.name}",
            "to": f"{self.parent.name}.{self.parent_field.name}",
            "source": self.source,
        }


def _models(db: DataFlow) -> dict[str, ModelDef]:
    return {name: db.get_model(name) for name in db.list_models()}


def _hint(name: str, candidates: Sequence[str]) -> tuple[str, list[str]]:
    close = suggest(name, list(candidates))
    return (f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""), close


class _GDPRNode(SystemNode):
    """Parameters and validation shared by the export and the anonymisation."""

    @classmethod
    def _declare_parameters(cls) -> dict[str, Param]:
        return {
            "model": Param(
                "model",
                "str",
                default=None,
                doc="the subject's model (with 'id' or 'match'); without it, 'match' is "
                "looked for in every model that has its fields",
            ),
            "id": Param("id", "any", default=None, doc="the subject's primary key (with 'model')"),
            "match": Param(
                "match",
                "dict",
                default=None,
                doc="field values identifying the subject, e.g. {'email': 'a@x.io'}",
            ),
            "references": Param(
                "references",
                "dict",
                default=None,
                doc="more references: {'Model.field': 'Target' or 'Target.field'}",
            ),
            "follow_foreign_keys": Param(
                "follow_foreign_keys",
                "bool",
                default=True,
                doc="follow the foreign keys the database declares",
            ),
            "follow_conventions": Param(
                "follow_conventions",
                "bool",
                default=True,
                doc="treat a field named <model>_<key> (customer_id) as a reference",
            ),
            "max_rows": Param(
                "max_rows",
                "int",
                default=DEFAULT_MAX_ROWS,
                doc="refuse (rather than truncate) when more rows than this are found",
            ),
        }

    @classmethod
    def _validate(cls, params: dict[str, Any], problems: Problems) -> None:
        models = _models(cls.dataflow)
        limit = params.get("max_rows")
        if limit is not None and not 1 <= limit <= _MAX_ROWS_LIMIT:
            problems.add(
                "DF-PARAM-RANGE",
                f"{cls.type_name}: max_rows must be between 1 and {_MAX_ROWS_LIMIT}, got {limit}",
                ("max_rows",),
            )
        params["_subjects"] = _subject(cls, params, models, problems)
        params["_declared"] = _declared_edges(cls, params.get("references"), models, problems)

    @classmethod
    def _edges(
        cls, params: Mapping[str, Any], models: Mapping[str, ModelDef], found: list[_Edge]
    ) -> list[_Edge]:
        """Every reference followed: foreign keys, declared ones, conventional names."""
        edges = list(found)
        edges += params.get("_declared") or []
        if params.get("follow_conventions"):
            edges += _convention_edges(models)
        seen: set[tuple[str, str, str, str]] = set()
        out = []
        for e in edges:
            key = (e.child.name, e.child_field.name, e.parent.name, e.parent_field.name)
            if key not in seen:
                seen.add(key)
                out.append(e)
        return out

    async def _collect(
        self, ctx: ExecContext, held: Connections, params: Mapping[str, Any]
    ) -> tuple[dict[str, dict[Any, dict[str, Any]]], list[dict[str, Any]], list[_Edge]]:
        """The subject's rows and every row referencing them, by model and key."""
        cls = type(self)
        db = cls.dataflow
        models = _models(db)
        await ensure_tables(ctx, db, models.values())
        found = await _foreign_key_edges(db, held, models) if params["follow_foreign_keys"] else []
        edges = cls._edges(params, models, found)
        limit = params["max_rows"]
        rows: dict[str, dict[Any, dict[str, Any]]] = {}
        subjects: list[dict[str, Any]] = []
        queue: deque[tuple[ModelDef, list[dict[str, Any]]]] = deque()
        total = 0

        def add(model: ModelDef, candidates: list[dict[str, Any]]) -> list[dict[str, Any]]:
            nonlocal total
            have = rows.setdefault(model.name, {})
            fresh = []
            for row in candidates:
                key = _row_key(model, row)
                if key not in have:
                    have[key] = row
                    fresh.append(row)
            total += len(fresh)
            if total > limit:
                raise ValidationError(
                    f"{cls.type_name}: more than max_rows={limit} rows reference the subject; "
                    "raise max_rows to handle them all (nothing was changed)",
                    code="DF-PARAM-RANGE",
                    details={"param": "max_rows", "max_rows": limit},
                )
            return fresh

        for model, filter_doc in params["_subjects"]:
            fresh = add(model, await _list(ctx, held, db, model, filter_doc))
            plan = db._plan(model)
            for row in fresh:
                key = plan.pk_output(row) if plan.pk_fields else None
                subjects.append({"model": model.name, "id": key})
            queue.append((model, fresh))
        by_parent: dict[str, list[_Edge]] = {}
        for e in edges:
            by_parent.setdefault(e.parent.name, []).append(e)
        while queue:
            parent, parent_rows = queue.popleft()
            for e in by_parent.get(parent.name, ()):
                values = list(
                    dict.fromkeys(
                        r[e.parent_field.name]
                        for r in parent_rows
                        if r.get(e.parent_field.name) is not None
                    )
                )
                for start in range(0, len(values), _CHUNK):
                    chunk = values[start : start + _CHUNK]
                    children = await _list(
                        ctx, held, db, e.child, {e.child_field.name: {"$in": chunk}}
                    )
                    fresh = add(e.child, children)
                    if fresh:
                        queue.append((e.child, fresh))
        return rows, subjects, edges


def _subject(
    cls: type[Node], params: dict[str, Any], models: Mapping[str, ModelDef], problems: Problems
) -> list[tuple[ModelDef, dict[str, Any]]]:
    """Where the subject's rows are: ``[(model, filter)]``."""
    name = params.get("model")
    key = params.get("id")
    match = params.get("match")
    has_id = key is not None or problems.provided("id")
    has_match = match is not None or problems.provided("match")
    model = None
    if name is not None:
        model = models.get(name)
        if model is None:
            hint, close = _hint(name, list(models))
            problems.add(
                "DF-MODEL-UNKNOWN",
                f"{cls.type_name}: no model named {name!r}{hint}",
                ("model",),
                {"model": name, "suggestions": close},
            )
            return []
    if has_id and has_match:
        problems.add(
            "DF-PARAM-CONFLICT", f"{cls.type_name}: give either 'id' or 'match', not both", ("id",)
        )
        return []
    if not has_id and not has_match:
        problems.add(
            "DF-GDPR-SUBJECT",
            f"{cls.type_name}: identify the subject with 'model' and 'id' "
            "(e.g. {'model': 'Customer', 'id': 7}) or with 'match' (e.g. "
            "{'match': {'email': 'a@x.io'}})",
            ("id",),
        )
        return []
    if has_id:
        if model is None:
            problems.add(
                "DF-GDPR-SUBJECT",
                f"{cls.type_name}: 'id' needs 'model', the model whose key it is",
                ("model",),
            )
            return []
        if key is None:  # a connection fills it
            return []
        try:
            values = cls.dataflow._plan(model).pk_values(key)
        except ValidationError as exc:
            problems.error(exc, ("id",))
            return []
        pk = [model.fields[n] for n in model.primary_key]
        return [(model, {f.name: v for f, v in zip(pk, values, strict=True)})]
    return _match(cls, match, model, models, problems)


def _match(
    cls: type[Node],
    match: Any,
    model: ModelDef | None,
    models: Mapping[str, ModelDef],
    problems: Problems,
) -> list[tuple[ModelDef, dict[str, Any]]]:
    connected = {p.split(".")[1] for p in problems.pending if p.startswith("match.")}
    if problems.provided("match") and not connected:
        return []  # the whole document comes from a connection
    match = dict(match or {})
    names = list(dict.fromkeys([*match, *connected]))
    if not names:
        problems.add(
            "DF-GDPR-SUBJECT",
            f"{cls.type_name}: match must name at least one field, e.g. {{'email': 'a@x.io'}}",
            ("match",),
        )
        return []
    for field_name, value in match.items():
        if value is None or isinstance(value, Mapping | list | tuple):
            problems.add(
                "DF-GDPR-SUBJECT",
                f"{cls.type_name}: match.{field_name} must be a plain value (match compares "
                "for equality; operators and null are not accepted)",
                ("match", str(field_name)),
            )
            return []
    candidates = [model] if model is not None else list(models.values())
    out: list[tuple[ModelDef, dict[str, Any]]] = []
    for m in candidates:
        if not all(isinstance(n, str) and n in m.fields for n in names):
            if model is not None:
                bad = next(n for n in names if not isinstance(n, str) or n not in m.fields)
                hint, close = _hint(str(bad), list(m.fields))
                problems.add(
                    "DF-PARAM-UNKNOWN-FIELD",
                    f"{cls.type_name}: model {m.name} has no field {bad!r}{hint}",
                    ("match", str(bad)),
                    {"field": str(bad), "model": m.name, "suggestions": close},
                )
            continue
        doc: dict[str, Any] = {}
        try:
            for n, value in match.items():
                if n not in connected:
                    doc[n] = m.fields[n].validate(value, where=f"{cls.type_name}: match.")
        except ValidationError as exc:
            if model is not None:
                problems.error(exc, ("match",))
            continue  # this model's field holds other values: it is not where the subject is
        out.append((m, doc))
    if not out and model is None:
        problems.add(
            "DF-PARAM-UNKNOWN-FIELD",
            f"{cls.type_name}: no model has field(s) {', '.join(map(repr, names))} with values "
            "like these; name the model with 'model', or match on fields a model has",
            ("match",),
            {"fields": [str(n) for n in names]},
        )
    return out


def _model_field(
    cls: type[Node],
    text: Any,
    models: Mapping[str, ModelDef],
    problems: Problems,
    path: tuple[str | int, ...],
    *,
    field_required: bool,
) -> tuple[ModelDef, Field | None] | None:
    """``"Model.field"`` (or ``"Model"`` when the field may be omitted)."""
    if not isinstance(text, str) or not text or text.count(".") > 1:
        problems.add(
            "DF-GDPR-REFERENCE",
            f"{cls.type_name}: {text!r:.80} must be 'Model.field'"
            + ("" if field_required else " or 'Model'"),
            path,
        )
        return None
    name, _, field_name = text.partition(".")
    model = models.get(name)
    if model is None:
        hint, close = _hint(name, list(models))
        problems.add(
            "DF-MODEL-UNKNOWN",
            f"{cls.type_name}: no model named {name!r}{hint}",
            path,
            {"model": name, "suggestions": close},
        )
        return None
    if not field_name:
        if field_required:
            problems.add(
                "DF-GDPR-REFERENCE", f"{cls.type_name}: {text!r} must be 'Model.field'", path
            )
            return None
        return model, None
    f = model.fields.get(field_name)
    if f is None:
        hint, close = _hint(field_name, list(model.fields))
        problems.add(
            "DF-PARAM-UNKNOWN-FIELD",
            f"{cls.type_name}: model {model.name} has no field {field_name!r}{hint}",
            path,
            {"field": field_name, "model": model.name, "suggestions": close},
        )
        return None
    return model, f


def _declared_edges(
    cls: type[Node], references: Any, models: Mapping[str, ModelDef], problems: Problems
) -> list[_Edge]:
    if not references:
        return []
    edges = []
    for source, target in references.items():
        path: tuple[str | int, ...] = ("references", str(source))
        child = _model_field(cls, source, models, problems, path, field_required=True)
        parent = _model_field(cls, target, models, problems, path, field_required=False)
        if child is None or parent is None:
            continue
        child_model, child_field = child
        parent_model, parent_field = parent
        assert child_field is not None
        if parent_field is None:
            pk = parent_model.primary_key
            if len(pk) != 1:
                problems.add(
                    "DF-GDPR-REFERENCE",
                    f"{cls.type_name}: {parent_model.name} has "
                    f"{'a composite key' if pk else 'no primary key'}; name the field the "
                    f"reference points at, e.g. '{parent_model.name}.<field>'",
                    path,
                )
                continue
            parent_field = parent_model.fields[pk[0]]
        if child_field.kind not in _KEY_KINDS or child_field.kind is not parent_field.kind:
            problems.add(
                "DF-GDPR-REFERENCE",
                f"{cls.type_name}: {source} ({child_field.type_name}) cannot refer to "
                f"{parent_model.name}.{parent_field.name} ({parent_field.type_name}); a "
                "reference joins two fields of the same str, int, UUID, Decimal or date type",
                path,
            )
            continue
        edges.append(_Edge(child_model, child_field, parent_model, parent_field, "declared"))
    return edges


def _convention_edges(models: Mapping[str, ModelDef]) -> list[_Edge]:
    """``Order.customer_id`` refers to ``Customer.id``: a field named after a model and
    its single-field key, of the key's type."""
    targets: dict[str, tuple[ModelDef, Field]] = {}
    for m in models.values():
        if len(m.primary_key) == 1:
            pk = m.fields[m.primary_key[0]]
            if pk.kind in _KEY_KINDS:
                targets[f"{snake_case(m.name)}_{pk.name}"] = (m, pk)
    edges = []
    for child in models.values():
        for f in child.fields.values():
            found = targets.get(f.name)
            if found is not None and found[0] is not child and found[1].kind is f.kind:
                edges.append(_Edge(child, f, found[0], found[1], "convention"))
    return edges


async def _foreign_key_edges(
    db: DataFlow, held: Connections, models: Mapping[str, ModelDef]
) -> list[_Edge]:
    """Single-column foreign keys between the tables of the models (of one database),
    from the catalog."""
    by_database: dict[str, dict[str, ModelDef]] = {}
    for m in models.values():
        by_database.setdefault(m.database, {})[m.table_name] = m
    edges = []
    for by_table in by_database.values():
        first = next(iter(by_table.values()))
        conn = await held.get(db, first)
        adapter = db._database(first).adapter
        for table in await adapter.discover(conn, None, list(by_table)):
            child = by_table.get(table.name)
            if child is None:
                continue
            columns = {f.column: f for f in child.fields.values()}
            for fk in table.foreign_keys:
                parent = by_table.get(fk.ref_table)
                if parent is None or len(fk.columns) != 1:
                    continue  # composite foreign keys are not followed
                child_field = columns.get(fk.columns[0])
                parent_field = next(
                    (f for f in parent.fields.values() if f.column == fk.ref_columns[0]), None
                )
                if child_field is not None and parent_field is not None:
                    edges.append(_Edge(child, child_field, parent, parent_field, "foreign_key"))
    return edges


async def _list(
    ctx: ExecContext, held: Connections, db: DataFlow, model: ModelDef, filter_doc: dict[str, Any]
) -> list[dict[str, Any]]:
    """Rows of ``model`` matching ``filter_doc``, soft-deleted ones included, read through
    the model's List node (so tenancy and every other model feature apply), from the
    database itself (never a replica that may lag)."""
    node_cls = db.nodes[model.node_names["List"]]
    params: dict[str, Any] = {"filter": filter_doc}
    if "include_deleted" in node_cls.parameters():
        params["include_deleted"] = True
    prepared = node_cls.prepare(params, node_id=f"{model.name} rows")
    out = await run_child(node_cls, ctx, prepared, await held.get(db, model))
    records: list[dict[str, Any]] = out["records"]
    return records


def _row_key(model: ModelDef, row: Mapping[str, Any]) -> Any:
    names = model.primary_key or tuple(model.fields)
    return json.dumps([row.get(n) for n in names], default=str, sort_keys=True)


async def _audit_entries(
    ctx: ExecContext, held: Connections, db: DataFlow, model: ModelDef, rows: Sequence[Any]
) -> list[dict[str, Any]]:
    """The audit entries of these rows of an audited model, oldest first, as
    ``db.audit_trail`` gives them; with a tenant bound, only that tenant's (as
    ``db.audit_trail`` shows a tenant its own trail)."""
    conn = await held.get(db, model)
    try:
        await db._require_audit_table(model, conn)
    except SchemaError as exc:
        if exc.code == "DF-SCHEMA-AUDIT-TABLE-MISSING":
            return []  # nothing was ever audited in that database
        raise
    plan = db._plan(model)
    keys = [[row[f.name] for f in plan.pk_fields] for row in rows]
    found = await _audit.record_entries(ctx, conn, plan, keys)
    entries = sorted(
        (e for per_record in found.values() for e in per_record), key=lambda e: e["id"]
    )
    tenant = ctx.tenant_id
    return [
        _audit.entry_output(model, e) for e in entries if tenant is None or e["tenant_id"] == tenant
    ]


class GDPRExportNode(_GDPRNode):
    """Every row that references a data subject, by model: the subject's rows, the rows
    pointing at them, and so on; soft-deleted rows included; and the audit entries of
    those rows of audited models."""

    kind = "GDPRExport"
    description = (
        "Export every row that references a data subject (model + id, or field values), "
        "following foreign keys, <model>_id fields and declared references; soft-deleted "
        "rows included, and the audit entries of audited models' rows."
    )

    @classmethod
    def _declare_outputs(cls) -> OutputSpec:
        return {
            "found": "bool",
            "subjects": "list[dict]",
            "records": "dict",
            "count": "int",
            "references": "list[dict]",
            "audit": "dict",
        }

    async def run(self, ctx: ExecContext, params: dict[str, Any]) -> dict[str, Any]:
        db = type(self).dataflow
        audit: dict[str, list[dict[str, Any]]] = {}
        async with Connections(ctx, transaction=False) as held:
            rows, subjects, edges = await self._collect(ctx, held, params)
            for name, found in rows.items():
                model = db.get_model(name)
                if found and model.audit_log and model.primary_key:
                    entries = await _audit_entries(ctx, held, db, model, list(found.values()))
                    if entries:
                        audit[name] = entries
        records = {name: list(found.values()) for name, found in rows.items() if found}
        return {
            "found": bool(subjects),
            "subjects": subjects,
            "records": records,
            "count": sum(len(r) for r in records.values()),
            "references": [e.to_dict() for e in edges],
            "audit": audit,
        }


class GDPRAnonymizeNode(_GDPRNode):
    """Replaces the personal fields of every row that references a data subject with
    anonymised values, in one transaction. Keys and reference fields are never changed,
    so every reference still holds."""

    kind = "GDPRAnonymize"
    writes = True
    description = (
        "Anonymise the personal fields of every row that references a data subject, in "
        "one transaction; values keep each column's type, NOT NULL and unique constraints."
    )

    @classmethod
    def _declare_parameters(cls) -> dict[str, Param]:
        return {
            **super()._declare_parameters(),
            "personal": Param(
                "personal",
                "dict",
                default=None,
                doc="{'Model': ['field', ...]}: the personal fields to anonymise, for the "
                "models it names (others: their __dataflow__ 'personal' option)",
            ),
        }

    @classmethod
    def _declare_outputs(cls) -> OutputSpec:
        return {
            "found": "bool",
            "subjects": "list[dict]",
            "anonymized": "dict",
            "count": "int",
            "fields": "dict",
            "references": "list[dict]",
        }

    @classmethod
    def _validate(cls, params: dict[str, Any], problems: Problems) -> None:
        super()._validate(params, problems)
        models = _models(cls.dataflow)
        edges = cls._edges(params, models, [])
        params["_personal"] = _personal(cls, params.get("personal"), models, edges, problems)

    async def run(self, ctx: ExecContext, params: dict[str, Any]) -> dict[str, Any]:
        cls = type(self)
        db = cls.dataflow
        personal: dict[str, list[Field]] = params["_personal"]
        anonymized: dict[str, int] = {}
        async with Connections(ctx, transaction=True) as held:
            rows, subjects, edges = await self._collect(ctx, held, params)
            for e in edges:  # foreign keys are known only now
                for model, f in ((e.child, e.child_field), (e.parent, e.parent_field)):
                    if any(p is f for p in personal.get(model.name, ())):
                        raise _linking_field(cls, model, f, e, ("personal", model.name))
            for name, found in rows.items():
                fields = personal.get(name)
                if not fields or not found:
                    continue
                model = db.get_model(name)
                plan = db._plan(model)
                conn = await held.get(db, model)
                redacted = []
                for row in found.values():
                    key = [row[f.name] for f in plan.pk_fields]
                    values = {
                        f.name: anonymous_value(model, f, plan.pk_output(dict(row))) for f in fields
                    }
                    await _anonymize_row(ctx, conn, db, model, row, values)
                    redacted.append((key, values))
                if model.audit_log:  # the trail (this run's entries too) keeps no values
                    await _audit.redact(ctx, conn, plan, redacted)
                anonymized[name] = len(found)
        return {
            "found": bool(subjects),
            "subjects": subjects,
            "anonymized": anonymized,
            "count": sum(anonymized.values()),
            "fields": {name: [f.name for f in fields] for name, fields in personal.items()},
            "references": [e.to_dict() for e in edges],
        }


def _linking_field(
    cls: type[Node], model: ModelDef, f: Field, edge: _Edge, path: tuple[str | int, ...]
) -> ValidationError:
    link = edge.to_dict()
    return ValidationError(
        f"{cls.type_name}: {model.name}.{f.name} links rows ({link['from']} -> {link['to']}, "
        f"{edge.source.replace('_', ' ')}); anonymising it would break the reference. Leave "
        "it out of the personal fields",
        code="DF-GDPR-FIELD",
        details={"model": model.name, "field": f.name, "path": list(path), "reference": link},
    )


def _personal(
    cls: type[Node],
    declared: Any,
    models: Mapping[str, ModelDef],
    edges: Sequence[_Edge],
    problems: Problems,
) -> dict[str, list[Field]]:
    """The personal fields, by model: the parameter's, else each model's own (the
    ``personal`` model option); every one checked to be anonymisable."""
    wanted: dict[str, tuple[Any, tuple[str | int, ...]]] = {}
    for name, m in models.items():
        if m.personal:
            wanted[name] = (list(m.personal), ("personal",))
    for name, names in (declared or {}).items():
        if name not in models:
            hint, close = _hint(str(name), list(models))
            problems.add(
                "DF-MODEL-UNKNOWN",
                f"{cls.type_name}: personal names no model {name!r}{hint}",
                ("personal", str(name)),
                {"model": str(name), "suggestions": close},
            )
            continue
        wanted[name] = (names, ("personal", name))
    if not wanted and not problems.provided("personal"):
        problems.add(
            "DF-PARAM-MISSING",
            f"{cls.type_name}: declare the personal fields to anonymise on the models, "
            "e.g. __dataflow__ = {'personal': ['email', 'name']}, or in the node's "
            "parameter, e.g. {'personal': {'Customer': ['email', 'name']}}",
            ("personal",),
            {"param": "personal"},
        )
        return {}
    links = {
        (id(m), f.name): e
        for e in edges
        for m, f in ((e.child, e.child_field), (e.parent, e.parent_field))
    }
    out: dict[str, list[Field]] = {}
    for name, (names, path) in wanted.items():
        model = models[name]
        if isinstance(names, str) or not isinstance(names, list | tuple):
            problems.add(
                "DF-PARAM-TYPE",
                f"{cls.type_name}: the personal fields of {name} must be a list of field "
                f"names, e.g. ['email', 'name']; got {type(names).__name__}",
                path,
            )
            continue
        fields: list[Field] = []
        for i, field_name in enumerate(names):
            here = (*path, i) if path[-1] == name else (*path, name, i)
            f = model.fields.get(field_name) if isinstance(field_name, str) else None
            if f is None:
                hint, close = _hint(str(field_name), list(model.writable_fields))
                problems.add(
                    "DF-PARAM-UNKNOWN-FIELD",
                    f"{cls.type_name}: model {name} has no field {field_name!r}{hint}",
                    here,
                    {"field": str(field_name), "model": name, "suggestions": close},
                )
                continue
            why = _not_anonymisable(model, f)
            if why is None and (id(model), f.name) in links:
                exc = _linking_field(cls, model, f, links[(id(model), f.name)], here)
                problems.error(exc, here)
                continue
            if why is not None:
                problems.add(
                    "DF-GDPR-FIELD",
                    f"{cls.type_name}: {name}.{f.name} cannot be anonymised: {why}",
                    here,
                    {"model": name, "field": f.name},
                )
                continue
            if f not in fields:
                fields.append(f)
        if fields:
            out[name] = fields
    return out


def _not_anonymisable(model: ModelDef, f: Field) -> str | None:
    if model.read_only:
        return (
            f"{model.name} is read-only ({model.read_only_reason or 'no primary key'}), so its "
            "rows cannot be updated one by one"
        )
    if f.primary_key:
        return "it is the primary key (rows referring to it would lose their link)"
    if f.auto:
        return "it is maintained by DataFlow"
    if _unique(model, f) and not f.nullable and f.kind not in _UNIQUE_KINDS:
        return f"it is unique, and a {f.type_name} value cannot be made unique for every row"
    return None


def _unique(model: ModelDef, f: Field) -> bool:
    return f.unique or any(f.name in group for group in model.unique)


_LENGTH = re.compile(r"\(\s*(\d+)\s*\)")


def anonymous_value(model: ModelDef, f: Field, key: Any) -> Any:
    """The anonymised value of field ``f`` in the row with primary key ``key``.

    NULL where the column allows it; otherwise a value of the column's type derived from
    the model, field and key only (never from the personal value), so it is the same
    every time and, where the column is unique, different for every row: text
    ``anon-<hash>`` (an email field gets ``anon-<hash>@anonymized.invalid``), within the
    column's declared length; zero, the epoch, false, empty values, or an enum's first
    member where uniqueness is not needed.
    """
    if f.nullable:
        return None
    unique = _unique(model, f)
    digest = hashlib.sha256(
        json.dumps([model.name, f.name, key], default=str).encode("utf-8")
    ).hexdigest()
    number = int(digest[:12], 16)
    kind = f.kind
    if kind is FieldKind.STR:
        text = f"anon-{digest[:16]}"
        if "email" in f.name.lower():
            text += "@anonymized.invalid"
        limit = _LENGTH.search(f.db_type or "")
        return text[: int(limit.group(1))] if limit else text
    if kind is FieldKind.INT:
        return number if unique else 0
    if kind is FieldKind.FLOAT:
        return float(number) if unique else 0.0
    if kind is FieldKind.DECIMAL:
        return Decimal(number if unique else 0)
    if kind is FieldKind.BOOL:
        return False
    if kind is FieldKind.UUID:
        return uuid.UUID(digest[:32])
    if kind is FieldKind.BYTES:
        return bytes.fromhex(digest[:32]) if unique else b""
    if kind is FieldKind.DATE:
        return dt.date(1970, 1, 1) + dt.timedelta(days=number % 700_000 if unique else 0)
    if kind is FieldKind.DATETIME:
        return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(
            seconds=number % 10**9 if unique else 0
        )
    if kind is FieldKind.TIME:
        return dt.time(0, 0)
    if kind is FieldKind.ENUM:
        return next(iter(f.python_type))
    if kind is FieldKind.JSON:
        return [] if f.python_type is list else {}
    raise ModelError(  # pragma: no cover - every kind is handled above
        f"no anonymised value for {model.name}.{f.name} ({f.type_name})",
        code="DF-GDPR-FIELD",
    )


async def _anonymize_row(
    ctx: ExecContext,
    conn: Connection,
    db: DataFlow,
    model: ModelDef,
    row: Mapping[str, Any],
    values: Mapping[str, Any],
) -> None:
    """Write one row's anonymised ``values``: through the model's BulkUpdate node (so
    audit, tenancy, versions and the cache apply), or, for a soft-deleted row, which no
    generated node updates, with the same UPDATE written here (scoped to the tenant, and
    audited)."""
    plan = db._plan(model)
    key = {f.name: row[f.name] for f in plan.pk_fields}
    if plan.soft_delete_field is None or row.get(plan.soft_delete_field.name) is None:
        node_cls = db.nodes[model.node_names["BulkUpdate"]]
        prepared = node_cls.prepare(
            {"filter": key, "update": {"$set": dict(values)}}, node_id=f"{model.name} anonymise"
        )
        await run_child(node_cls, ctx, prepared, conn)
        return
    d = plan.dialect
    now = d.now()
    p = Params(d)
    items = parse_update({"$set": dict(values)}, model, param="personal")
    sets = [d.set_sql(item, p, now) for item in items] + plan.update_stamps(p, now)
    pk_values = [row[f.name] for f in plan.pk_fields]
    tenant = ctx.tenant_for(model, "GDPRAnonymizeNode")
    where = plan.pk_where(pk_values, p, tenant)
    await conn.execute(f"UPDATE {plan.table} SET {', '.join(sets)} WHERE {where}", p.values)
    if model.audit_log:
        after = await _audit.fetch_row(conn, plan, pk_values, tenant=tenant)
        await _audit.record(ctx, conn, plan, [("update", row, after)])
