"""Parse aggregation pipelines into stages (pure): ``$match $group $sort $limit $skip
$project $count``."""

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
    "$project": "keep only these fields: {'name': 1, '_id': 0}",
    "$count": "replace the documents by one {name: count}",
}
ACCUMULATORS: dict[str, str] = {
    "$sum": "the sum of a numeric field (1 counts documents); NULLs are skipped, none is 0",
    "$avg": "the mean of a numeric field; NULLs are skipped, none is null",
    "$min": "the smallest value; NULLs are skipped",
    "$max": "the largest value; NULLs are skipped",
    "$count": "the number of documents in the group",
}
_NOT_YET = {
    "$unwind",
    "$lookup",
    "$addFields",
    "$set",
    "$unset",
    "$facet",
    "$bucket",
    "$first",
    "$last",
    "$push",
    "$addToSet",
    "$stdDevPop",
    "$stdDevSamp",
}
_NUMERIC = (FieldKind.INT, FieldKind.FLOAT, FieldKind.DECIMAL)


@dataclass(frozen=True)
class Accumulator:
    """``output: {op: source}``; ``source`` None means "1" (count) for $sum/$count."""

    output: str
    op: str
    source: Field | None
    kind: FieldKind


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
    project: list[str] = field(default_factory=list)
    count_name: str = ""


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
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 2**62:
        raise FilterError(f"{path} takes a non-negative integer", code="DF-FILTER-PIPELINE")
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
            stage = _group(body, fields, path)
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
                stage.sort.append((f, direction == -1))
        elif op in ("$limit", "$skip"):
            stage.number = _count(body, f"{path}.{op}")
        elif op == "$project":
            stage = _project(body, fields, path)
        else:  # $count
            if not isinstance(body, str) or not body or body.startswith("$") or "." in body:
                raise FilterError(
                    f"{path}: $count takes an output field name", code="DF-FILTER-PIPELINE"
                )
            stage.count_name = body
            stage.fields = {body: Field(body, FieldKind.INT, int)}
        if stages and stages[-1].group_key_is_document and op not in ("$limit", "$skip", "$count"):
            raise UnsupportedError(
                f"{path}: {op} after a $group whose _id is a document is not available in "
                "this release",
                details={"operator": op},
            )
        stages.append(stage)
        fields = stage.fields
    return stages


def _group(body: Any, fields: dict[str, Field], path: str) -> Stage:
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
        stage.group_key_is_document = True
        for name, ref in key.items():
            f = _source(ref, fields, f"{path}._id.{name}")
            stage.group_key.append((str(name), f))
        out["_id"] = Field("_id", FieldKind.JSON, dict, nullable=True)
    else:
        f = _source(key, fields, f"{path}._id")
        stage.group_key.append(("_id", f))
        out["_id"] = Field("_id", f.kind, f.python_type, nullable=True)
    for name, spec in body.items():
        if name == "_id":
            continue
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
            stage.accumulators.append(Accumulator(str(name), "count", None, FieldKind.INT))
            out[str(name)] = Field(str(name), FieldKind.INT, int)
            continue
        src = _source(arg, fields, f"{path}.{name}.{acc}")
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
        stage.accumulators.append(Accumulator(str(name), acc[1:], src, kind))
        out[str(name)] = Field(
            str(name), kind, ptype, nullable=acc != "$sum", item_type=src.item_type
        )
    stage.fields = out
    return stage


def _project(body: Any, fields: dict[str, Field], path: str) -> Stage:
    if not isinstance(body, Mapping) or not body:
        raise FilterError(f"{path}: $project takes {{'field': 1, ...}}", code="DF-FILTER-PIPELINE")
    keep = [str(k) for k, v in body.items() if v in (1, True) and k != "_id"]
    drop_id = body.get("_id", 1) in (0, False)
    if any(v not in (0, 1, True, False) for v in body.values()):
        raise UnsupportedError(
            f"{path}: computed $project fields are not available in this "
            "release; use 1 to keep a field",
            details={"operator": "$project"},
        )
    if any(v in (0, False) for k, v in body.items() if k != "_id"):
        raise UnsupportedError(
            f"{path}: excluding fields other than _id is not available in this release",
            details={"operator": "$project"},
        )
    names = ([] if drop_id or "_id" not in fields else ["_id"]) + keep
    for name in keep:
        _source("$" + name, fields, path)
    stage = Stage("$project", {n: fields[n] for n in names})
    stage.project = names
    return stage
