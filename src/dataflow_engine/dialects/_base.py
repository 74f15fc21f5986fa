"""The base SQL dialect: shared compilation, overridden per database only where it differs."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from ..errors import IdentifierTooLongError, UnsupportedError
from ..models import Field, FieldKind, ModelDef
from ..models._fields import MISSING as _MISSING
from ..models._fields import enum_db_value, enum_db_values, enum_from_db
from ..query import (
    Accumulator,
    And,
    Bound,
    Compare,
    Const,
    Encoded,
    Exists,
    FieldCompare,
    In,
    JsonElemMatch,
    JsonExists,
    JsonRef,
    JsonSize,
    JsonTest,
    Like,
    Mod,
    Node,
    Not,
    Or,
    OrderItem,
    Regex,
    SetItem,
    Slot,
    Stage,
    bind,
)

__all__ = ["Dialect", "JsonSql", "Params", "RowDecoder"]

RowDecoder = Callable[[Sequence[Any]], dict[str, Any]]

_CMP = {"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


@dataclass(frozen=True, slots=True)
class JsonSql:
    """SQL expressions for one JSON value: the value itself (NULL when the path leads
    nowhere), its type name in the dialect's spelling, and its text or number."""

    json: str
    type: str
    scalar: str


class Params:
    """Collects bound parameters and hands out the dialect's placeholders."""

    __slots__ = ("_dialect", "values")

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self.values: list[Any] = []

    def add(self, value: Any) -> str:
        self.values.append(value)
        return self._dialect.placeholder(len(self.values))

    def add_field(self, field: Field, value: Any) -> str:
        return self.add(self._dialect.encode(field, value))


class _Deferred(Params):
    """Parameters whose placeholders are decided later.

    JSON conditions use one expression (and its path parameters) several times and build
    SQL out of textual order; positional placeholders (``?``, ``%s``) need the values in
    the order they appear. Each value gets a token; ``resolve`` replaces the tokens left to
    right with real placeholders, adding each value (again) at its place.
    """

    __slots__ = ()
    _TOKEN = re.compile("\x00([0-9]+)\x00")

    def add(self, value: Any) -> str:
        self.values.append(value)
        return f"\x00{len(self.values) - 1}\x00"

    def resolve(self, sql: str, params: Params) -> str:
        return self._TOKEN.sub(lambda m: params.add(self.values[int(m.group(1))]), sql)


class Dialect:
    """SQL generation shared by every database.

    Subclasses set the class attributes and override the ``*_sql`` hooks that differ;
    shared code never asks which dialect it is.
    """

    name: ClassVar[str] = "base"
    max_identifier_length: ClassVar[int] = 63
    TYPES: ClassVar[dict[FieldKind, str]] = {
        FieldKind.STR: "TEXT",
        FieldKind.INT: "BIGINT",
        FieldKind.FLOAT: "DOUBLE PRECISION",
        FieldKind.BOOL: "BOOLEAN",
        FieldKind.DECIMAL: "NUMERIC",
        FieldKind.DATETIME: "TIMESTAMPTZ",
        FieldKind.DATE: "DATE",
        FieldKind.TIME: "TIME",
        FieldKind.UUID: "UUID",
        FieldKind.BYTES: "BYTEA",
        FieldKind.JSON: "JSONB",
        FieldKind.ENUM: "TEXT",
    }
    #: ``INSERT ... RETURNING``, ``UPDATE ... RETURNING``, ``DELETE ... RETURNING`` work.
    #: Instance attributes: an adapter may learn them from the server it connects to.
    insert_returning: bool = True
    update_returning: bool = True
    delete_returning: bool = True
    #: ``ORDER BY x NULLS FIRST`` is available.
    supports_nulls_order: ClassVar[bool] = True

    def __init__(self, schema: str | None = None) -> None:
        self.schema = schema

    # -- identifiers -------------------------------------------------------------------

    def quote(self, identifier: str) -> str:
        return '"' + identifier.replace('"', '""') + '"'

    def check_identifier(self, identifier: str, what: str) -> str:
        """Refuse names the database would truncate (never truncate silently)."""
        if self.identifier_length(identifier) > self.max_identifier_length:
            raise IdentifierTooLongError(
                f"{what} name {identifier!r} is {self.identifier_length(identifier)} long; "
                f"{self.name} allows at most {self.max_identifier_length}. Choose a "
                "shorter name (for a model, set __dataflow__['table'])",
                details={
                    "identifier": identifier,
                    "dialect": self.name,
                    "limit": self.max_identifier_length,
                },
            )
        return identifier

    def identifier_length(self, identifier: str) -> int:
        """The length the database limits (bytes of UTF-8 unless a dialect says otherwise)."""
        return len(identifier.encode("utf-8"))

    def generated_name(self, prefix: str, table: str, columns: Sequence[str]) -> str:
        """A constraint or index name; hashed when the readable one would be too long."""
        name = f"{prefix}_{table}_{'_'.join(columns)}"
        if self.identifier_length(name) <= self.max_identifier_length:
            return name
        import hashlib

        digest = hashlib.sha1(name.encode()).hexdigest()[:12]
        stem = table.encode()[:20].decode("utf-8", errors="ignore")
        return self.check_identifier(f"{prefix}_{stem}_{digest}", "index")

    def table(self, model: ModelDef) -> str:
        schema = model.schema or self.schema
        quoted = self.quote(model.table_name)
        return f"{self.quote(schema)}.{quoted}" if schema else quoted

    def column(self, field: Field) -> str:
        return self.quote(field.column)

    def placeholder(self, index: int) -> str:
        return f"${index}"

    # -- values ------------------------------------------------------------------------

    def encoder(self, field: Field) -> Callable[[Any], Any] | None:
        """A function turning a validated Python value into the driver's value, or None."""
        if field.kind is FieldKind.ENUM:
            return enum_db_value
        return None

    def decoder(self, field: Field) -> Callable[[Any], Any] | None:
        """A function turning the driver's value into the field's Python type, or None."""
        if field.kind is FieldKind.ENUM:
            enum_type = field.python_type
            return lambda text: enum_from_db(enum_type, text)
        return None

    def encode(self, field: Field, value: Any) -> Any:
        if value is None:
            return None
        if type(value) is Slot:  # compiling a prepared filter's template
            return Encoded(value, self.encoder(field))
        enc = self.encoder(field)
        return enc(value) if enc is not None else value

    def row_decoder(self, fields: Sequence[Field]) -> RowDecoder:
        """A fast function from a result row (in ``fields`` order) to a dict."""
        # Generated once per column list: one dict display per row is several times faster
        # than zip-and-patch. Field names enter the code only as repr() string literals.
        namespace: dict[str, Any] = {}
        items = []
        for i, f in enumerate(fields):
            key = repr(str(f.name))
            dec = self.decoder(f)
            if dec is None:
                items.append(f"{key}: r[{i}]")
            else:
                namespace[f"d{i}"] = dec
                items.append(f"{key}: (None if r[{i}] is None else d{i}(r[{i}]))")
        source = "def decode(r):\n    return {" + ", ".join(items) + "}\n"
        exec(source, namespace)
        decode: RowDecoder = namespace["decode"]
        return decode

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    # -- filters -----------------------------------------------------------------------

    def compile_filter(self, node: Node | Bound | None, params: Params) -> str:
        """The SQL condition for a filter AST (``1=1`` when there is none), or for a
        prepared filter, from its template's SQL cached for this dialect."""
        if node is None:
            return "1=1"
        if type(node) is Bound:
            offset = len(params.values)
            entry = node.compiled((self.cache_key(), offset), self._template_sql(offset))
            if entry is None:
                return self.compile_filter(node.node, params)
            sql, builders = entry
            params.values.extend([bind(b, node.values) for b in builders])
            return sql
        assert not isinstance(node, Bound)
        return self._compile(node, params, ())

    def _template_sql(self, offset: int) -> Callable[[Node | None], tuple[str, list[Any]]]:
        def compile_template(template: Node | None) -> tuple[str, list[Any]]:
            recorded = Params(self)
            recorded.values = [None] * offset  # placeholders continue the statement's
            return self.compile_filter(template, recorded), recorded.values[offset:]

        return compile_template

    def cache_key(self) -> Any:
        """What the SQL this dialect writes depends on, besides the filter."""
        return type(self)

    def _compile(self, node: Node, params: Params, scope: tuple[JsonSql, ...]) -> str:
        """``scope`` holds the array elements the enclosing ``$elemMatch`` tests bind."""
        if isinstance(node, Compare):
            col = self.column(node.field)
            if node.op == "ne":
                return self.ne_sql(node.field, col, params.add_field(node.field, node.value))
            return self.compare_sql(
                node.field, col, _CMP[node.op], params.add_field(node.field, node.value)
            )
        if isinstance(node, In):
            return self.in_sql(node, params)
        if isinstance(node, Exists):
            col = self.column(node.field)
            return f"{col} IS NOT NULL" if node.exists else f"{col} IS NULL"
        if isinstance(node, Like):
            return self.like_sql(
                self.column(node.field), params.add(node.pattern), node.case_insensitive
            )
        if isinstance(node, Regex):
            return self.regex_sql(self.column(node.field), node.pattern, node.options, params)
        if isinstance(node, And | Or):
            return self._join(
                [self._compile(n, params, scope) for n in node.items],
                " AND " if isinstance(node, And) else " OR ",
            )
        if isinstance(node, Not):
            return f"(({self._compile(node.item, params, scope)}) IS NOT TRUE)"
        if isinstance(node, Const):
            return "1=1" if node.value else "1=0"
        if isinstance(node, Mod):
            col = self.column(node.field)
            return f"{self.mod_sql(col, params.add(node.divisor))} = {params.add(node.remainder)}"
        if isinstance(node, FieldCompare):
            return self.field_compare_sql(node)
        if isinstance(node, JsonTest | JsonExists | JsonSize | JsonElemMatch) and not isinstance(
            params, _Deferred
        ):
            deferred = _Deferred(self)
            return deferred.resolve(self._compile(node, deferred, scope), params)
        if isinstance(node, JsonTest):
            return self._json_test(node, params, scope)
        if isinstance(node, JsonExists):
            return f"({self._json_ref(node.ref, params, scope).json} IS NOT NULL)"
        if isinstance(node, JsonSize):
            value = self._json_ref(node.ref, params, scope)
            return self.json_size_sql(value, params.add(node.size))
        if isinstance(node, JsonElemMatch):
            value = self._json_ref(node.ref, params, scope)
            source, element = self.json_elements_sql(value, f"df_e{len(scope)}")
            cond = self._compile(node.cond, params, (*scope, element))
            return f"EXISTS (SELECT 1 FROM {source} WHERE {cond})"
        raise TypeError(f"unknown filter node {node!r}")  # pragma: no cover

    # -- JSON values -------------------------------------------------------------------

    #: The dialect's names for JSON types, by the names of the query language.
    JSON_TYPES: ClassVar[dict[str, tuple[str, ...]]] = {
        "string": ("string",),
        "number": ("number",),
        "bool": ("boolean",),
        "null": ("null",),
        "object": ("object",),
        "array": ("array",),
    }

    def _json_ref(self, ref: JsonRef, params: Params, scope: tuple[JsonSql, ...]) -> JsonSql:
        if isinstance(ref.root, int):
            base = scope[ref.root]
            return self.json_path_sql(base, ref.path, params) if ref.path else base
        return self.json_column_sql(self.json_source_sql(ref.root), ref.path, params)

    def json_source_sql(self, field: Field) -> str:
        """The JSON value of a JSON field's column (a conversion where the column of a
        registered table holds JSON in another type)."""
        return self.column(field)

    def _json_test(self, node: JsonTest, params: Params, scope: tuple[JsonSql, ...]) -> str:
        """The value matches, or one of its elements does when it is an array."""
        value = self._json_ref(node.ref, params, scope)
        direct = self._json_predicate(value, node, params)
        source, element = self.json_elements_sql(value, f"df_a{len(scope)}")
        each = self._json_predicate(element, node, params)
        return f"({direct} OR EXISTS (SELECT 1 FROM {source} WHERE {each}))"

    def _json_is(self, value: JsonSql, *kinds: str) -> str:
        names = [n for k in kinds for n in self.JSON_TYPES[k]]
        if len(names) == 1:
            return f"{value.type} = '{names[0]}'"
        return f"{value.type} IN ({', '.join(repr(n) for n in names)})"

    def _json_predicate(self, value: JsonSql, node: JsonTest, params: Params) -> str:
        op, arg = node.op, node.value
        if op == "type":
            return f"({self._json_is(value, *arg)})"
        if op == "like":
            test = self.like_sql(value.scalar, params.add(arg), node.options == "i")
            return f"(CASE WHEN {self._json_is(value, 'string')} THEN {test} END)"
        if op == "regex":
            test = self.regex_sql(value.scalar, arg, node.options, params)
            return f"(CASE WHEN {self._json_is(value, 'string')} THEN {test} END)"
        if arg is None:  # eq null
            return f"({self._json_is(value, 'null')})"
        if isinstance(arg, bool):
            test = self.json_bool_sql(value, arg)
            return f"(CASE WHEN {self._json_is(value, 'bool')} THEN {test} END)"
        if isinstance(arg, str):
            test = self.json_text_compare_sql(value.scalar, _CMP[op], params.add(arg))
            return f"(CASE WHEN {self._json_is(value, 'string')} THEN {test} END)"
        if isinstance(arg, int | float):
            return self.json_number_sql(value, _CMP[op], arg, params)
        kind = "array" if isinstance(arg, list) else "object"
        test = self.json_equal_sql(value, arg, params)
        return f"(CASE WHEN {self._json_is(value, kind)} THEN {test} END)"

    def json_column_sql(self, col: str, path: tuple[str | int, ...], params: Params) -> JsonSql:
        """The JSON value at ``path`` inside a JSON column (the column itself for ``()``)."""
        raise UnsupportedError(
            f"JSON paths are not available on {self.name}",
            details={"dialect": self.name, "operator": "dotted path"},
        )

    def json_path_sql(self, base: JsonSql, path: tuple[str | int, ...], params: Params) -> JsonSql:
        """The JSON value at ``path`` inside another JSON value (an array element)."""
        raise UnsupportedError(
            f"$elemMatch is not available on {self.name}",
            details={"dialect": self.name, "operator": "$elemMatch"},
        )

    def json_elements_sql(self, value: JsonSql, alias: str) -> tuple[str, JsonSql]:
        """A FROM item yielding the elements of ``value`` when it is an array (else none),
        and the expressions of one element."""
        raise UnsupportedError(
            f"JSON arrays are not available on {self.name}",
            details={"dialect": self.name, "operator": "$elemMatch"},
        )

    def json_bool_sql(self, value: JsonSql, flag: bool) -> str:
        """Whether a JSON boolean is ``flag``."""
        return f"{value.scalar} = '{'true' if flag else 'false'}'"

    def json_text_compare_sql(self, text: str, op: str, placeholder: str) -> str:
        """Two strings compared by code point."""
        return f"{text} {op} {placeholder}"

    def json_number_sql(self, value: JsonSql, op: str, number: float, params: Params) -> str:
        """A JSON value compared with a number (false for values of any other type)."""
        test = f"{value.scalar} {op} {params.add(number)}"
        return f"(CASE WHEN {self._json_is(value, 'number')} THEN {test} END)"

    def json_equal_sql(self, value: JsonSql, document: Any, params: Params) -> str:
        """A JSON array or object equal to ``document`` (numbers by value, keys unordered)."""
        raise NotImplementedError  # pragma: no cover

    def json_size_sql(self, value: JsonSql, placeholder: str) -> str:
        """The JSON value is an array of ``placeholder`` elements."""
        raise NotImplementedError  # pragma: no cover

    @classmethod
    def _join(cls, parts: list[str], op: str) -> str:
        """Join conditions as a balanced tree: a flat chain of a thousand ORs is a tree a
        thousand levels deep, more than SQLite accepts."""
        if len(parts) <= 32:
            return "(" + op.join(parts) + ")"
        mid = len(parts) // 2
        return "(" + cls._join(parts[:mid], op) + op + cls._join(parts[mid:], op) + ")"

    def mod_sql(self, col: str, divisor: str) -> str:
        """The truncated remainder of ``col`` by ``divisor``."""
        return f"{col} % {divisor}"

    def field_compare_sql(self, node: FieldCompare) -> str:
        """Two columns compared with MongoDB's order, where NULL is lower than any value."""
        a, b = self.column(node.left), self.column(node.right)

        def cmp(op: str) -> str:  # two-valued: false when either side is NULL
            return f"COALESCE(({self.compare_sql(node.left, a, op, b)}), 1=0)"

        eq = f"(({a} IS NULL AND {b} IS NULL) OR {cmp('=')})"
        gt = f"(({a} IS NOT NULL AND {b} IS NULL) OR {cmp('>')})"
        lt = f"(({a} IS NULL AND {b} IS NOT NULL) OR {cmp('<')})"
        return {
            "eq": eq,
            "ne": f"(NOT {eq})",
            "gt": gt,
            "lt": lt,
            "gte": f"({gt} OR {eq})",
            "lte": f"({lt} OR {eq})",
        }[node.op]

    def compare_sql(self, field: Field, col: str, op: str, placeholder: str) -> str:
        return f"{col} {op} {placeholder}"

    def ne_sql(self, field: Field, col: str, placeholder: str) -> str:
        return f"{col} IS DISTINCT FROM {placeholder}"

    def in_sql(self, node: In, params: Params) -> str:
        col = self.column(node.field)
        if node.values:
            inner = ", ".join(params.add_field(node.field, v) for v in node.values)
            core = f"{col} IN ({inner})"
        else:
            core = ""
        return self._in_with_nulls(col, core, node)

    def _in_with_nulls(self, col: str, core: str, node: In) -> str:
        if not node.negate:
            if not core:
                return f"{col} IS NULL"
            return f"({core} OR {col} IS NULL)" if node.has_null else core
        if not core:
            return f"{col} IS NOT NULL"
        if node.has_null:
            return f"({col} IS NOT NULL AND NOT ({core}))"
        return f"({col} IS NULL OR NOT ({core}))"

    def like_sql(self, col: str, placeholder: str, case_insensitive: bool) -> str:
        op = "ILIKE" if case_insensitive else "LIKE"
        return f"{col} {op} {placeholder} ESCAPE '\\'"

    def regex_sql(self, col: str, pattern: str, options: str, params: Params) -> str:
        raise UnsupportedError(
            f"$regex is not available on {self.name}",
            details={"dialect": self.name, "operator": "$regex"},
        )

    # -- aggregation pipelines -----------------------------------------------------------

    def pipeline_sql(
        self,
        base: str,
        stages: Sequence[Stage],
        params: Params,
        key: Sequence[OrderItem] = (),
    ) -> tuple[str, list[Field]]:
        """One statement for a pipeline over ``base`` (a SELECT naming columns by field),
        whose rows come in the order of ``key`` (the primary key) until a stage changes it.

        Each stage wraps the previous one as a derived table. A ``$sort`` is carried to the
        ``$limit``/``$skip`` that follow it and to the outermost SELECT, because servers
        may drop an ORDER BY inside a derived table that has no LIMIT. Columns the order
        needs but a ``$project`` dropped (and an ``$unwind``'s element index) travel as
        hidden columns to the outermost SELECT, which lists only the visible ones.
        """
        sql = base
        order: list[OrderItem] = list(key)
        hidden: list[str] = []
        fields: list[Field] = []
        for n, stage in enumerate(stages):
            alias = self.quote(f"s{n}")
            src = f"({sql}) AS {alias}"
            if stage.op == "$match":
                sql = f"SELECT * FROM {src} WHERE {self.compile_filter(stage.match, params)}"
            elif stage.op == "$sort":
                order = list(stage.sort)
                continue
            elif stage.op in ("$limit", "$skip"):
                tail = self.limit_sql(
                    stage.number if stage.op == "$limit" else None,
                    stage.number if stage.op == "$skip" else None,
                    params,
                )
                if stage.op == "$skip" and not stage.number:
                    tail = ""
                by = f" ORDER BY {self.order_sql(order)}" if order else ""
                sql = f"SELECT * FROM {src}{by}{tail}"
            elif stage.op == "$project":
                columns = [
                    self.quote(s) if o == s else f"{self.quote(s)} AS {self.quote(o)}"
                    for o, s in stage.project
                ]
                kept = {s: stage.fields[o] for o, s in stage.project}
                carried, order = self._carry_order(order, kept, hidden, n)
                hidden = [h for h in hidden if any(f.name == h for f, _ in order)]
                columns += [self.quote(h) for h in hidden]
                columns += [f"{self.quote(s)} AS {self.quote(h)}" for s, h in carried]
                hidden += [h for _, h in carried]
                sql = f"SELECT {', '.join(columns)} FROM {src}"
            elif stage.op == "$unwind":
                index = f"df_i{n}"
                sql = self._unwind_sql(stage, src, alias, hidden, index)
                order.append((Field(index, FieldKind.INT, int, column=index), False))
                hidden.append(index)
            elif stage.op == "$count":
                # MongoDB's $count of nothing is no document, not a zero.
                sql = (
                    f"SELECT COUNT(*) AS {self.quote(stage.count_name)} FROM {src} "
                    "HAVING COUNT(*) > 0"
                )
                order, hidden = [], []
            else:  # $group
                sql = self._group_sql(stage, src)
                order, hidden = [], []
            fields = list(stage.fields.values())
        if order or hidden:
            visible = ", ".join(self.quote(f.name) for f in fields) if hidden else "*"
            by = f" ORDER BY {self.order_sql(order)}" if order else ""
            sql = f"SELECT {visible} FROM ({sql}) AS {self.quote('sorted')}{by}"
        return sql, fields

    def _carry_order(
        self, order: list[OrderItem], kept: dict[str, Field], hidden: list[str], n: int
    ) -> tuple[list[tuple[str, str]], list[OrderItem]]:
        """The order after a $project: kept fields under their new names, dropped ones
        carried as hidden columns ``(source, hidden name)``."""
        carried: list[tuple[str, str]] = []
        out: list[OrderItem] = []
        for f, desc in order:
            if f.name in kept:
                out.append((kept[f.name], desc))
            elif f.name in hidden:
                out.append((f, desc))
            else:
                name = f"df_o{n}_{len(carried)}"
                carried.append((f.name, name))
                out.append((replace(f, name=name, column=name), desc))
        return carried, out

    def _unwind_sql(
        self, stage: Stage, src: str, alias: str, hidden: list[str], index_name: str
    ) -> str:
        assert stage.unwind is not None
        target = stage.unwind
        element = stage.fields[target.name]
        source, value, index = self.unwind_source_sql(
            f"{alias}.{self.quote(target.name)}", element, "df_u"
        )
        columns = [
            f"{value} AS {self.quote(n)}" if n == target.name else f"{alias}.{self.quote(n)}"
            for n in stage.fields
            if n != stage.array_index
        ]
        if stage.array_index is not None:
            columns.append(f"{index} AS {self.quote(stage.array_index)}")
        columns += [f"{alias}.{self.quote(h)}" for h in hidden]
        columns.append(f"{index} AS {self.quote(index_name)}")
        join = "LEFT JOIN" if stage.preserve_empty else "JOIN"
        return f"SELECT {', '.join(columns)} FROM {src} {join} {source} ON 1=1"

    def unwind_source_sql(self, array: str, element: Field, alias: str) -> tuple[str, str, str]:
        """A FROM item over the elements of the JSON array column ``array`` (none for NULL),
        the expression of one element as ``element``'s type, and its 0-based index."""
        raise UnsupportedError(
            f"$unwind is not available on {self.name}",
            details={"dialect": self.name, "operator": "$unwind"},
        )

    def _group_sql(self, stage: Stage, src: str) -> str:
        keys = [self.quote(f.name) for _, f in stage.group_key]
        parts = []
        if not stage.group_key:
            parts.append(f"NULL AS {self.quote('_id')}")
        else:
            parts += [
                f"{k} AS {self.quote(name)}"
                for k, (name, _) in zip(keys, stage.group_key, strict=True)
            ]
        # $first, $last and ordered $push: window functions over the group, computed in a
        # derived table; the value is the same on every row of a group, so it is grouped by.
        windows: list[str] = []
        grouped = list(keys)
        for i, acc in enumerate(stage.accumulators):
            window = self.window_accumulator_sql(acc, keys)
            if window is None:
                parts.append(f"{self.accumulator_sql(acc)} AS {self.quote(acc.output)}")
                continue
            name = self.quote(f"df_w{i}")
            windows.append(f"{window} AS {name}")
            grouped.append(name)
            parts.append(f"{name} AS {self.quote(acc.output)}")
        if windows:
            src = f"(SELECT *, {', '.join(windows)} FROM {src}) AS {self.quote('w')}"
        sql = f"SELECT {', '.join(parts)} FROM {src}"
        if grouped:
            sql += f" GROUP BY {', '.join(grouped)}"
        if not keys:  # one group of everything; MongoDB makes none of nothing
            sql += " HAVING COUNT(*) > 0"
        return sql

    def window_accumulator_sql(self, acc: Accumulator, keys: Sequence[str]) -> str | None:
        """A window function computing ``acc`` over each group (None: an aggregate does)."""
        if acc.op not in ("first", "last", "push"):
            return None
        assert acc.source is not None
        col = self.quote(acc.source.name)
        over = self._window(acc, keys)
        if acc.op == "push":
            return f"{self.array_agg_sql(col, acc.source)} OVER ({over})"
        fn = "FIRST_VALUE" if acc.op == "first" else "LAST_VALUE"
        return f"{fn}({col}) OVER ({over})"

    def _window(self, acc: Accumulator, keys: Sequence[str]) -> str:
        order = [(replace(f, column=f.name), desc) for f, desc in acc.order]
        parts = [f"PARTITION BY {', '.join(keys)}"] if keys else []
        if order:
            parts.append(f"ORDER BY {self.order_sql(order)}")
        parts.append("ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING")
        return " ".join(parts)

    def array_agg_sql(self, col: str, source: Field, *, distinct: bool = False) -> str:
        """An aggregate building a JSON array of ``col`` (NULLs as null)."""
        raise UnsupportedError(
            f"$push is not available on {self.name}",
            details={"dialect": self.name, "operator": "$push"},
        )

    def accumulator_sql(self, acc: Accumulator) -> str:
        if acc.op == "count":
            return "COUNT(*)"
        if acc.op == "addToSet":
            assert acc.source is not None
            return self.array_agg_sql(self.quote(acc.source.name), acc.source, distinct=True)
        assert acc.source is not None
        col = self.quote(acc.source.name)
        if acc.op == "sum":
            return f"COALESCE(SUM({col}), 0)"
        if acc.op == "avg":
            return f"AVG({col})"
        return f"{acc.op.upper()}({self.order_column_sql(acc.source, col)})"

    # -- ordering and paging -----------------------------------------------------------

    def order_sql(self, items: Sequence[OrderItem]) -> str:
        """ORDER BY with MongoDB's null placement: NULLs first ascending, last descending."""
        parts = []
        for field, desc in items:
            col = self.order_column_sql(field, self.column(field))
            direction = " DESC" if desc else ""
            if field.nullable:
                parts.append(self.null_order_sql(col, desc))
            else:
                parts.append(col + direction)
        return ", ".join(parts)

    def order_column_sql(self, field: Field, col: str) -> str:
        """The expression to sort a column by (a collation where text order is wrong)."""
        return col

    def null_order_sql(self, col: str, desc: bool) -> str:
        return f"{col} DESC NULLS LAST" if desc else f"{col} ASC NULLS FIRST"

    def limit_sql(self, limit: int | None, offset: int | None, params: Params) -> str:
        sql = ""
        if limit is not None:
            sql += f" LIMIT {params.add(limit)}"
        if offset:
            sql += f" OFFSET {params.add(offset)}"
        return sql

    # -- updates -----------------------------------------------------------------------

    def set_sql(self, item: SetItem, params: Params, now: dt.datetime) -> str:
        col = self.column(item.field)
        f = item.field
        if item.op == "set":
            return f"{col} = {params.add_field(f, item.value)}"
        if item.op == "unset":
            return f"{col} = NULL"
        if item.op == "currentDate":
            value: Any = now
            if f.kind is FieldKind.DATE:
                value = now.date()
            elif f.kind is FieldKind.TIME:
                value = now.time().replace(tzinfo=None)
            return f"{col} = {params.add_field(f, value)}"
        if item.op in ("inc", "mul"):
            return self.arith_sql(f, col, "+" if item.op == "inc" else "*", item.value, params)
        # min / max with MongoDB semantics: NULL sorts lowest.
        # Each placeholder is bound separately: positional styles cannot reuse one.
        cmp = self.compare_sql(
            f, col, ">" if item.op == "min" else "<", params.add_field(f, item.value)
        )
        ph = params.add_field(f, item.value)
        if item.op == "min":
            return f"{col} = CASE WHEN {col} IS NOT NULL AND {cmp} THEN {ph} ELSE {col} END"
        return f"{col} = CASE WHEN {col} IS NULL OR {cmp} THEN {ph} ELSE {col} END"

    def arith_sql(self, field: Field, col: str, op: str, value: Any, params: Params) -> str:
        ph = params.add_field(field, value)
        return f"{col} = COALESCE({col}, 0) {op} {ph}"

    # -- DDL ---------------------------------------------------------------------------

    def column_type(self, field: Field, *, indexed: bool = False) -> str:
        return self.TYPES[field.kind]

    def literal(self, field: Field, value: Any) -> str | None:
        """A SQL literal for a DDL default, or None when the default stays in Python."""
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, int | float) and field.kind in (FieldKind.INT, FieldKind.FLOAT):
            return repr(value) if math.isfinite(value) else None
        if isinstance(value, str) and field.kind is FieldKind.STR:
            return self.string_literal(value)
        if field.kind is FieldKind.ENUM:
            return self.string_literal(enum_db_value(value))
        return None

    def string_literal(self, text: str) -> str:
        """A SQL string literal (DDL only; values are always bound parameters)."""
        return "'" + text.replace("'", "''") + "'"

    def column_ddl(self, model: ModelDef, field: Field, *, for_alter: bool = False) -> str:
        self.check_identifier(field.column, "column")
        parts = [self.column(field), self.column_type(field, indexed=field.indexed)]
        if field.primary_key and model.auto_id and field.name == "id":
            return self.auto_id_ddl(field)
        if not field.nullable:
            parts.append("NOT NULL")
        default = self.default_ddl(field)
        if default:
            parts.append(f"DEFAULT {default}")
        if field.kind is FieldKind.ENUM:
            allowed = ", ".join(self.string_literal(v) for v in enum_db_values(field.python_type))
            parts.append(f"CHECK ({self.column(field)} IN ({allowed}))")
        return " ".join(parts)

    def default_ddl(self, field: Field) -> str | None:
        if field.name in ("created_at", "updated_at") and field.auto:
            return "CURRENT_TIMESTAMP"
        if field.default is None or field.default is _MISSING:
            return None
        return self.literal(field, field.default)

    def auto_id_ddl(self, field: Field) -> str:
        return f"{self.column(field)} BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"

    def create_table_sql(self, model: ModelDef) -> list[str]:
        """CREATE TABLE and CREATE INDEX statements for a model (idempotent)."""
        self.check_identifier(model.table_name, "table")
        cols = [self.column_ddl(model, f) for f in model.fields.values()]
        if not (model.auto_id and model.primary_key == ("id",)):
            pk = ", ".join(self.quote(model.fields[k].column) for k in model.primary_key)
            cols.append(f"PRIMARY KEY ({pk})")
        for group in model.unique:
            columns = [model.fields[n].column for n in group]
            name = self.generated_name("uq", model.table_name, columns)
            cols.append(
                f"CONSTRAINT {self.quote(name)} UNIQUE ("
                + ", ".join(self.quote(c) for c in columns)
                + ")"
            )
        statements = [
            f"CREATE TABLE IF NOT EXISTS {self.table(model)} (\n  " + ",\n  ".join(cols) + "\n)"
        ]
        for group in model.indexes:
            statements.append(self.create_index_sql(model, group))
        return statements

    def create_index_sql(self, model: ModelDef, group: Sequence[str]) -> str:
        columns = [model.fields[n].column for n in group]
        name = self.generated_name("ix", model.table_name, columns)
        return (
            f"CREATE INDEX IF NOT EXISTS {self.quote(name)} ON {self.table(model)} ("
            + ", ".join(self.quote(c) for c in columns)
            + ")"
        )

    def add_column_sql(self, model: ModelDef, field: Field) -> str:
        return f"ALTER TABLE {self.table(model)} ADD COLUMN {self.column_ddl(model, field)}"

    # -- statements --------------------------------------------------------------------

    def explain_sql(self, sql: str) -> str:
        """The statement that shows the database's plan for ``sql`` without running it."""
        return f"EXPLAIN {sql}"

    def explain_result(self, rows: Sequence[Sequence[Any]]) -> Any:
        """The plan, from the rows ``explain_sql`` returned, as JSON-friendly data."""
        return [list(r) for r in rows]

    def select_list(self, fields: Sequence[Field]) -> str:
        return ", ".join(self.column(f) for f in fields)

    def returning_sql(self, fields: Sequence[Field]) -> str:
        return " RETURNING " + self.select_list(fields)

    def insert_sql(
        self,
        model: ModelDef,
        columns: Sequence[Field],
        rows: int,
        params_start: int,
        *,
        returning: Sequence[Field] | None = None,
        ignore_conflicts: bool = False,
    ) -> str:
        """A multi-row INSERT for ``rows`` rows whose placeholders start at ``params_start``."""
        width = len(columns)
        values = []
        n = params_start
        for _ in range(rows):
            values.append("(" + ", ".join(self.placeholder(n + i) for i in range(width)) + ")")
            n += width
        override = self.identity_override if any(c.identity for c in columns) else ""
        sql = (
            f"{self.insert_prefix(ignore_conflicts)} {self.table(model)} ("
            + ", ".join(self.column(c) for c in columns)
            + f"){override} VALUES "
            + ", ".join(values)
        )
        if ignore_conflicts:
            sql += self.ignore_conflicts_sql()
        if returning:
            sql += self.returning_sql(returning)
        return sql

    def insert_prefix(self, ignore_conflicts: bool) -> str:
        return "INSERT INTO"

    #: Between the column list and VALUES of an INSERT that gives an identity column.
    identity_override: ClassVar[str] = ""
    #: The database numbers a record whose auto-increment column is given as 0.
    identity_zero_generates: ClassVar[bool] = False

    def identity_resync_sql(
        self, model: ModelDef, field: Field, top: int, params: Params
    ) -> str | None:
        """After records gave ``field`` (an identity column) explicitly: a statement that
        moves its sequence past ``top``, the largest value given, so later generated
        values do not collide. None where the
        database keeps its counter past the largest value itself (SQLite, MySQL)."""
        return None

    def ignore_conflicts_sql(self) -> str:
        return " ON CONFLICT DO NOTHING"

    def lock_suffix(self) -> str:
        """Appended to a SELECT that must lock the rows it reads."""
        return " FOR UPDATE"
