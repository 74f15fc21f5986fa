"""Parse aggregation pipelines into stages (pure): ``$match $group $sort $limit $skip
$project $count $unwind``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import FilterError, UnsupportedError
from ..models import Field, FieldKind, ModelDef
from ..models._model import suggest
from ._ast import Node
from ._filter import parse_filter

__all__ = ["ACCUMULATORS", "STAGES", "Accumulator", "Stage", "parse_pipeline"]

STAGES: dict[str, str] = {
    "$match": "keep the documents that match a filter",
    "$group": "group by _id ('$field', a document of fields, or null) and accumulate",
    "$sort": "order by fields: {'total': -1, '_id': 1}",
    "$limit": "keep the first n documents",
    "$skip": "skip the first n documents",
    "$project": "keep fields {'name': 1, '_id': 0}, drop them {'notes': 0}, or rename "
    "{'total': '$amount'}",
    "$count": "replace the documents by one {name: count}",
    "$unwind": "one document per element of a list field: '$tags' or {'path': '$tags', "
    "'preserveNullAndEmptyArrays': true, 'includeArrayIndex': 'i'}",
}
ACCUMULATORS: dict[str, str] = {
    "$sum": "the sum of a numeric field (1 counts documents); NULLs are skipped, none is 0",
    "$avg": "the mean of a numeric field; NULLs are skipped, none is null",
    "$min": "the smallest value; NULLs are skipped",
    "$max": "the largest value; NULLs are skipped",
    "$count": "the number of documents in the group",
    "$first": "the value of the group's first document (in the order of a preceding $sort)",
    "$last": "the value of the group's last document (in the order of a preceding $sort)",
    "$push": "a list of the values, in document order (nulls included)",
    "$addToSet": "a list of the distinct values (in no particular order)",
}
_NOT_YET = {
    "$lookup",
    "$addFields",
    "$set",
    "$unset",
    "$facet",
    "$bucket",
    "$stdDevPop",
    "$stdDevSamp",
}
_NUMERIC = (FieldKind.INT, FieldKind.FLOAT, FieldKind.DECIMAL)
# $push/$addToSet build JSON arrays: values JSON holds exactly.
_LISTABLE = {FieldKind.STR: str, FieldKind.INT: int, FieldKind.FLOAT: float, FieldKind.BOOL: bool}
_ITEM_KINDS = {str: FieldKind.STR, int: FieldKind.INT, float: FieldKind.FLOAT, bool: FieldKind.BOOL}


@dataclass(frozen=True)
class Accumulator:
    """``output: {op: source}``; ``source`` None means "1" (count) for $sum/$count.

    ``order`` is the documents' order for $first, $last and $push (field, descending)."""

    output: str
    op: str
    source: Field | None
    kind: FieldKind
    order: tuple[tuple[Field, bool], ...] = ()


@dataclass
class Stage:
    """One pipeline stage; ``fields`` are the documents' fields after it."""

    op: str
    fields: dict[str, Field]
    match: Node | None = None
    group_key: list[tuple[str, Field]] = field(default_factory=list)
    group_key_is_document: bool = False
    accumulators: list[Accumulator] = field(default_factory=list)
    sort: list[tuple[Field, bool]] = field(default_factory=list)
    number: int = 0
    project: list[tuple[str, str]] = field(default_factory=list)  # (output, source)
    count_name: str = ""
    unwind: Field | None = None
    preserve_empty: bool = False
    array_index: str | None = None


def _shape(fields: dict[str, Field], name: str = "stage") -> ModelDef:
    return ModelDef(name=name, table_name=name, fields=fields, primary_key=())


def _source(value: Any, fields: dict[str, Field], path: str) -> Field:
    if not isinstance(value, str) or not value.startswith("$"):
        raise FilterError(
            f"{path}: expected a field reference such as '$qty', got {value!r}",
            code="DF-FILTER-PIPELINE",
        )
    name = value[1:]
    if name not in fields:
        close = suggest(name, fields)
        hint = f"; did you mean {' or '.join(repr('$' + c) for c in close)}?" if close else ""
        raise FilterError(
            f"{path}: unknown field {value!r}{hint}",
            code="DF-FILTER-UNKNOWN-FIELD",
            details={"field": name, "suggestions": close},
        )
    return fields[name]


def _count(value: Any, path: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise FilterError(f"{path} takes a non-negative integer", code="DF-FILTER-PIPELINE")
    if value > 2**62:
        raise FilterError(
            f"{path} takes at most 2**62 ({value} is out of range)", code="DF-FILTER-PIPELINE"
        )
    return value


def parse_pipeline(pipeline: Any, model: ModelDef) -> list[Stage]:
    """Parse a pipeline against a model.

    Raises:
        FilterError: an unknown stage, accumulator or field (with suggestions), or a
            malformed stage.
        UnsupportedError: a MongoDB stage or accumulator this release cannot compile.
    """
    if not isinstance(pipeline, list | tuple):
        raise FilterError(
            "aggregate takes a list of stages, e.g. [{'$match': {...}}, {'$group': {...}}]",
            code="DF-FILTER-PIPELINE",
        )
    # Stages read the base rows through their field names, not column names.
    fields = {n: replace(f, column=n) for n, f in model.fields.items()}
    # The documents' order, for $first/$last/$push: the primary key at first, a $sort's
    # keys (then the key, while it is there) after one, unknown after $group or $unwind.
    key = [(fields[k], False) for k in model.primary_key]
    order: list[tuple[Field, bool]] | None = key
    stages: list[Stage] = []
    for i, raw in enumerate(pipeline):
        path = f"aggregate[{i}]"
        if not isinstance(raw, Mapping) or len(raw) != 1:
            raise FilterError(
                f"{path}: a stage is an object with one operator", code="DF-FILTER-PIPELINE"
            )
        ((op, body),) = raw.items()
        if op in _NOT_YET:
            raise UnsupportedError(
                f"{path}: stage {op} is not available in this release", details={"operator": op}
            )
        if op not in STAGES:
            close = suggest(str(op), STAGES)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise FilterError(
                f"{path}: unknown stage {op!r}{hint}",
                code="DF-FILTER-UNKNOWN-OPERATOR",
                details={"operator": op, "suggestions": close},
            )
        stage = Stage(op, fields)
        if op == "$match":
            stage.match = parse_filter(body, _shape(fields))
        elif op == "$group":
            stage = _group(body, fields, path, order)
        elif op == "$sort":
            if not isinstance(body, Mapping) or not body:
                raise FilterError(
                    f"{path}: $sort takes {{'field': 1 or -1}}", code="DF-FILTER-PIPELINE"
                )
            for name, direction in body.items():
                f = _source("$" + str(name), fields, path)
                if direction not in (1, -1) or isinstance(direction, bool):
                    raise FilterError(
                        f"{path}: sort direction must be 1 or -1", code="DF-FILTER-PIPELINE"
                    )
                if f.kind is FieldKind.JSON:
                    raise FilterError(
                        f"{path}: cannot $sort by JSON field {f.name!r} (MongoDB and SQL "
                        "order arrays and documents differently)",
                        code="DF-FILTER-TYPE",
                        details={"field": f.name},
                    )
                stage.sort.append((f, direction == -1))
            # The key breaks ties, so "first" means one document on every database.
            sorted_by = [f for f, _ in stage.sort]
            stage.sort += [k for k in key if k[0] not in sorted_by]
            order = list(stage.sort)
        elif op in ("$limit", "$skip"):
            stage.number = _count(body, f"{path}.{op}")
        elif op == "$project":
            stage = _project(body, fields, path)
        elif op == "$unwind":
            stage = _unwind(body, fields, path)
        else:  # $count
            if not isinstance(body, str) or not body or body.startswith("$") or "." in body:
                raise FilterError(
                    f"{path}: $count takes an output field name", code="DF-FILTER-PIPELINE"
                )
            stage.count_name = body
            stage.fields = {body: Field(body, FieldKind.INT, int)}
        stages.append(stage)
        fields = stage.fields
        if op in ("$group", "$unwind", "$count"):
            order, key = None, []
        elif order is not None and any(fields.get(f.name) != f for f, _ in order):
            order = None  # a $project dropped or renamed a field the order needs
        key = [k for k in key if fields.get(k[0].name) == k[0]]
    return stages


def _group(
    body: Any, fields: dict[str, Field], path: str, order: list[tuple[Field, bool]] | None
) -> Stage:
    if not isinstance(body, Mapping) or "_id" not in body:
        raise FilterError(
            f"{path}: $group needs an _id ('$field', {{...}} or null)", code="DF-FILTER-PIPELINE"
        )
    stage = Stage("$group", {})
    key = body["_id"]
    out: dict[str, Field] = {}
    if key is None:
        out["_id"] = Field("_id", FieldKind.STR, str, nullable=True)
    elif isinstance(key, Mapping):
        # A document _id: one column per part, named "_id.<part>", nested on output.
        if not key:
            raise FilterError(f"{path}: an _id document needs a field", code="DF-FILTER-PIPELINE")
        stage.group_key_is_document = True
        for name, ref in key.items():
            if not isinstance(name, str) or not name or "." in name or name.startswith("$"):
                raise FilterError(
                    f"{path}._id: {name!r} cannot name a part of _id", code="DF-FILTER-PIPELINE"
                )
            f = _source(ref, fields, f"{path}._id.{name}")
            stage.group_key.append((f"_id.{name}", f))
            out[f"_id.{name}"] = replace(f, name=f"_id.{name}", column=f"_id.{name}", nullable=True)
    else:
        f = _source(key, fields, f"{path}._id")
        stage.group_key.append(("_id", f))
        out["_id"] = Field("_id", f.kind, f.python_type, nullable=True, item_type=f.item_type)
    for name, spec in body.items():
        if name == "_id":
            continue
        if not isinstance(name, str) or not name or "." in name or name.startswith("$"):
            raise FilterError(
                f"{path}: {name!r} cannot name an output field", code="DF-FILTER-PIPELINE"
            )
        if not isinstance(spec, Mapping) or len(spec) != 1:
            raise FilterError(
                f"{path}.{name}: an accumulator such as {{'$sum': '$qty'}}",
                code="DF-FILTER-PIPELINE",
            )
        ((acc, arg),) = spec.items()
        if acc in _NOT_YET:
            raise UnsupportedError(
                f"{path}.{name}: accumulator {acc} is not available in this release",
                details={"operator": acc},
            )
        if acc not in ACCUMULATORS:
            close = suggest(str(acc), ACCUMULATORS)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise FilterError(
                f"{path}.{name}: unknown accumulator {acc!r}{hint}",
                code="DF-FILTER-UNKNOWN-OPERATOR",
                details={"operator": acc, "suggestions": close},
            )
        if acc == "$count" or (acc == "$sum" and arg == 1):
            stage.accumulators.append(Accumulator(name, "count", None, FieldKind.INT))
            out[name] = Field(name, FieldKind.INT, int)
            continue
        src = _source(arg, fields, f"{path}.{name}.{acc}")
        if acc in ("$first", "$last", "$push") and order is None:
            raise FilterError(
                f"{path}.{name}: {acc} needs the documents in a known order; put a "
                "$sort before this $group",
                code="DF-FILTER-PIPELINE",
                details={"operator": acc},
            )
        if acc in ("$first", "$last"):
            stage.accumulators.append(Accumulator(name, acc[1:], src, src.kind, tuple(order or ())))
            out[name] = replace(src, name=name, column=name, nullable=True, primary_key=False)
            continue
        if acc in ("$push", "$addToSet"):
            item = _LISTABLE.get(src.kind)
            if item is None:
                raise UnsupportedError(
                    f"{path}.{name}: {acc} of {src.type_name} fields is not available; it "
                    "collects str, int, float and bool values",
                    details={"operator": acc, "field": src.name},
                )
            op = "push" if acc == "$push" else "addToSet"
            stage.accumulators.append(
                Accumulator(name, op, src, FieldKind.JSON, tuple(order or ()))
            )
            out[name] = Field(name, FieldKind.JSON, list, item_type=item)
            continue
        if src.kind in (FieldKind.JSON, FieldKind.BYTES, FieldKind.BOOL):
            raise FilterError(
                f"{path}.{name}: {acc} does not apply to {src.type_name} fields",
                code="DF-FILTER-TYPE",
            )
        if acc in ("$sum", "$avg") and src.kind not in _NUMERIC:
            raise FilterError(
                f"{path}.{name}: {acc} needs a numeric field; {src.name!r} is {src.type_name}",
                code="DF-FILTER-TYPE",
            )
        if acc == "$avg":
            kind, ptype = (
                (FieldKind.DECIMAL, src.python_type)
                if src.kind is FieldKind.DECIMAL
                else (FieldKind.FLOAT, float)
            )
        else:
            kind, ptype = src.kind, src.python_type
        stage.accumulators.append(Accumulator(name, acc[1:], src, kind))
        out[name] = Field(name, kind, ptype, nullable=acc != "$sum", item_type=src.item_type)
    stage.fields = out
    return stage


def _project(body: Any, fields: dict[str, Field], path: str) -> Stage:
    """Inclusion ({'a': 1}), exclusion ({'a': 0}) or renaming ({'total': '$amount'});
    ``_id`` is kept unless excluded, as in MongoDB."""
    if not isinstance(body, Mapping) or not body:
        raise FilterError(f"{path}: $project takes {{'field': 1, ...}}", code="DF-FILTER-PIPELINE")
    ids = [n for n in fields if n == "_id" or n.startswith("_id.")]
    keep_id = body.get("_id", 1) not in (0, False)
    spec = {str(k): v for k, v in body.items() if k != "_id"}
    for name, value in spec.items():
        if not (value in (0, 1) or (isinstance(value, str) and value.startswith("$"))):
            raise UnsupportedError(
                f"{path}.{name}: computed $project fields are not available in this release; "
                "use 1 to keep a field, 0 to drop it, or '$other' to rename one",
                details={"operator": "$project"},
            )
    excluded = [n for n, v in spec.items() if v in (0, False) and not isinstance(v, str)]
    included = [n for n in spec if n not in excluded]
    if excluded and included:
        raise FilterError(
            f"{path}: $project either keeps fields (1, '$field') or drops them (0), not both "
            "(except _id)",
            code="DF-FILTER-PIPELINE",
        )
    pairs: list[tuple[str, str]] = []
    if excluded or not spec:
        for name in excluded:
            _source("$" + name, fields, path)
        pairs = [(n, n) for n in fields if n not in excluded and (keep_id or n not in ids)]
    else:
        pairs = [(n, n) for n in ids] if keep_id else []
        for name in included:
            value = spec[name]
            src = _source(value if isinstance(value, str) else "$" + name, fields, path)
            if not name or name.startswith("$") or "." in name:
                raise FilterError(
                    f"{path}: {name!r} cannot name an output field", code="DF-FILTER-PIPELINE"
                )
            pairs.append((name, src.name))
    if not pairs:
        raise FilterError(f"{path}: $project leaves no field", code="DF-FILTER-PIPELINE")
    out = {
        o: fields[s] if o == s else replace(fields[s], name=o, column=o, primary_key=False)
        for o, s in pairs
    }
    stage = Stage("$project", out)
    stage.project = pairs
    return stage


def _unwind(body: Any, fields: dict[str, Field], path: str) -> Stage:
    spec = {"path": body} if isinstance(body, str) else body
    if not isinstance(spec, Mapping) or "path" not in spec:
        raise FilterError(
            f"{path}: $unwind takes '$field' or {{'path': '$field', ...}}",
            code="DF-FILTER-PIPELINE",
        )
    unknown = set(spec) - {"path", "preserveNullAndEmptyArrays", "includeArrayIndex"}
    if unknown:
        raise FilterError(
            f"{path}: unknown $unwind option(s) {sorted(unknown)}", code="DF-FILTER-PIPELINE"
        )
    target = _source(spec["path"], fields, f"{path}.path")
    if target.kind is not FieldKind.JSON or target.python_type is not list:
        raise FilterError(
            f"{path}: $unwind takes a list field; {target.name!r} is {target.type_name}",
            code="DF-FILTER-TYPE",
            details={"field": target.name},
        )
    preserve = spec.get("preserveNullAndEmptyArrays", False)
    index = spec.get("includeArrayIndex")
    if not isinstance(preserve, bool):
        raise FilterError(
            f"{path}: preserveNullAndEmptyArrays takes true or false", code="DF-FILTER-PIPELINE"
        )
    if index is not None and (
        not isinstance(index, str) or not index or index.startswith("$") or "." in index
    ):
        raise FilterError(
            f"{path}: includeArrayIndex takes a new field name", code="DF-FILTER-PIPELINE"
        )
    if index in fields:
        raise FilterError(
            f"{path}: includeArrayIndex {index!r} would replace an existing field",
            code="DF-FILTER-PIPELINE",
        )
    item = target.item_type
    element = (
        Field(target.name, _ITEM_KINDS[item], item, nullable=True, column=target.name)
        if item in _ITEM_KINDS
        else Field(target.name, FieldKind.JSON, list, nullable=True, column=target.name)
    )
    out = {n: (element if n == target.name else f) for n, f in fields.items()}
    if index is not None:
        out[index] = Field(index, FieldKind.INT, int, nullable=True, column=index)
    stage = Stage("$unwind", out)
    stage.unwind = target
    stage.preserve_empty = preserve
    stage.array_index = index
    return stage
