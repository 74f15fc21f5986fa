"""PostgreSQL discovery: tables and views of one schema, read from ``pg_catalog``.

Everything is fetched in five set-based queries (relations, columns, types, constraints,
indexes) whatever the number of tables, and assembled here. Names travel only as bound
parameters; the catalogs hold them as plain strings, so any spelling round-trips.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..adapters import Connection
from ..errors import ValidationError
from ._info import (
    CheckInfo,
    ColumnInfo,
    ForeignKeyInfo,
    IndexInfo,
    TableInfo,
    UniqueInfo,
)

__all__ = ["discover"]

_RELATIONS_SQL = """
SELECT c.oid, c.relname, c.relkind::text, c.reltuples, d.description
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_description d
  ON d.objoid = c.oid AND d.classoid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0
WHERE n.nspname = $1
  AND c.relkind IN ('r', 'p', 'v', 'm')
  AND NOT c.relispartition
  AND ($2::text[] IS NULL OR c.relname = ANY($2::text[]))
ORDER BY c.relname
"""

# A default that depends on a sequence is a serial (or a hand-written nextval default).
_COLUMNS_SQL = """
SELECT a.attrelid, a.attnum, a.attname, a.atttypid, a.atttypmod,
       pg_catalog.format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,
       pg_catalog.pg_get_expr(ad.adbin, ad.adrelid), a.attidentity::text, a.attgenerated::text,
       EXISTS (
         SELECT 1 FROM pg_catalog.pg_depend dep
         JOIN pg_catalog.pg_class s ON s.oid = dep.refobjid
         WHERE dep.classid = 'pg_catalog.pg_attrdef'::regclass AND dep.objid = ad.oid
           AND dep.refclassid = 'pg_catalog.pg_class'::regclass AND s.relkind = 'S'
       ),
       d.description
FROM pg_catalog.pg_attribute a
LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
LEFT JOIN pg_catalog.pg_description d
  ON d.objoid = a.attrelid AND d.classoid = 'pg_catalog.pg_class'::regclass
  AND d.objsubid = a.attnum
WHERE a.attrelid = ANY($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""

# The column types plus everything they are built on: domain bases and array elements.
_TYPES_SQL = """
WITH RECURSIVE reached(oid) AS (
    SELECT unnest($1::oid[])
  UNION
    SELECT u.next
    FROM reached r
    JOIN pg_catalog.pg_type t ON t.oid = r.oid
    CROSS JOIN LATERAL unnest(ARRAY[t.typbasetype, t.typelem]) AS u(next)
    WHERE u.next <> 0
)
SELECT t.oid, t.typname, t.typtype::text, t.typcategory::text, t.typbasetype, t.typelem,
       t.typtypmod,
       ARRAY(
         SELECT e.enumlabel::text FROM pg_catalog.pg_enum e
         WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder
       )
FROM reached r
JOIN pg_catalog.pg_type t ON t.oid = r.oid
"""

# conparentid <> 0 marks the copies PostgreSQL keeps on partitions of a partitioned table.
_CONSTRAINTS_SQL = """
SELECT con.conname, con.contype::text, cn.nspname, cc.relname, fn.nspname, fc.relname,
       ARRAY(
         SELECT a.attname::text
         FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
         JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
         ORDER BY k.ord
       ),
       ARRAY(
         SELECT a.attname::text
         FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord)
         JOIN pg_catalog.pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum
         ORDER BY k.ord
       ),
       con.confupdtype::text, con.confdeltype::text,
       CASE WHEN con.contype = 'c' THEN pg_catalog.pg_get_constraintdef(con.oid) END,
       con.conrelid, con.confrelid
FROM pg_catalog.pg_constraint con
JOIN pg_catalog.pg_class cc ON cc.oid = con.conrelid
JOIN pg_catalog.pg_namespace cn ON cn.oid = cc.relnamespace
LEFT JOIN pg_catalog.pg_class fc ON fc.oid = con.confrelid
LEFT JOIN pg_catalog.pg_namespace fn ON fn.oid = fc.relnamespace
WHERE con.conparentid = 0
  AND (
    (con.conrelid = ANY($1::oid[]) AND con.contype IN ('p', 'u', 'f', 'c'))
    OR (con.confrelid = ANY($1::oid[]) AND con.contype = 'f')
  )
ORDER BY con.conname, cn.nspname, cc.relname
"""

# Key columns only (INCLUDE columns are left out); attnum 0 marks an expression.
_INDEXES_SQL = """
SELECT i.indrelid, ic.relname, i.indisunique, i.indisprimary,
       ARRAY(
         SELECT CASE WHEN k.attnum = 0
                     THEN pg_catalog.pg_get_indexdef(i.indexrelid, k.ord::int, false)
                     ELSE a.attname::text END
         FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
         LEFT JOIN pg_catalog.pg_attribute a
           ON a.attrelid = i.indrelid AND a.attnum = k.attnum
         WHERE k.ord <= i.indnkeyatts
         ORDER BY k.ord
       ),
       pg_catalog.pg_get_expr(i.indpred, i.indrelid)
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
WHERE i.indrelid = ANY($1::oid[])
ORDER BY ic.relname
"""

_RELKIND = {"r": "table", "p": "table", "v": "view", "m": "view"}

_FK_ACTION = {
    "a": "NO ACTION",
    "r": "RESTRICT",
    "c": "CASCADE",
    "n": "SET NULL",
    "d": "SET DEFAULT",
}

_NUMERIC, _BPCHAR, _VARCHAR = 1700, 1042, 1043

#: Built-in types by OID (fixed by PostgreSQL's pg_type.dat) -> kind.
_KIND_BY_OID = {
    16: "bool",  # bool
    17: "bytes",  # bytea
    19: "str",  # name
    20: "int",  # int8
    21: "int",  # int2
    23: "int",  # int4
    25: "str",  # text
    26: "int",  # oid
    114: "json",  # json
    700: "float",  # float4
    701: "float",  # float8
    _BPCHAR: "str",
    _VARCHAR: "str",
    1082: "date",  # date
    1083: "time",  # time without time zone
    1114: "naive_datetime",  # timestamp without time zone
    1184: "datetime",  # timestamptz
    _NUMERIC: "decimal",
    2950: "uuid",  # uuid
    3802: "json",  # jsonb
}

#: Extension types, whose OIDs differ per database: matched by name.
_KIND_BY_NAME = {"citext": "str"}

_VARHDRSZ = 4  # typmods of numeric and character types count a 4-byte header


@dataclass(frozen=True)
class _Type:
    name: str
    typtype: str  # b base, d domain, e enum, c composite, r range, m multirange, p pseudo
    category: str  # "A" for arrays
    base: int  # a domain's underlying type
    element: int  # an array's element type
    typmod: int  # a domain's type modifier
    labels: tuple[str, ...]  # an enum's values, in sort order


def _strip_domains(types: dict[int, _Type], oid: int, typmod: int) -> tuple[int, int]:
    """The type under any domains, and the modifier that applies to it (the column's own,
    else the outermost domain's)."""
    while types[oid].typtype == "d":
        if typmod == -1:
            typmod = types[oid].typmod
        oid = types[oid].base
    return oid, typmod


def _scalar_kind(types: dict[int, _Type], oid: int) -> str | None:
    if oid in _KIND_BY_OID:
        return _KIND_BY_OID[oid]
    t = types[oid]
    if t.typtype == "e":
        return "enum"
    if t.typtype == "b":
        return _KIND_BY_NAME.get(t.name)
    return None


def _column(row: Sequence[Any], position: int, types: dict[int, _Type]) -> ColumnInfo:
    name, typid, typmod, spelled, nullable, expr, identity, generated, on_seq, comment = row[2:]
    oid, typmod = _strip_domains(types, typid, typmod)
    array_kind = None
    if types[oid].category == "A" and types[oid].element:
        oid, typmod = _strip_domains(types, types[oid].element, typmod)
        kind: str | None = "array"
        array_kind = _scalar_kind(types, oid)
    else:
        kind = _scalar_kind(types, oid)
    precision = scale = max_length = None
    if typmod >= _VARHDRSZ and oid == _NUMERIC:
        # Decoded as numeric.c does: precision in the high 16 bits, a signed 11-bit scale.
        precision = ((typmod - _VARHDRSZ) >> 16) & 0xFFFF
        scale = (((typmod - _VARHDRSZ) & 0x7FF) ^ 1024) - 1024
    elif typmod >= _VARHDRSZ and oid in (_BPCHAR, _VARCHAR):
        max_length = typmod - _VARHDRSZ
    return ColumnInfo(
        name=name,
        type=spelled,
        kind=kind,
        nullable=nullable,
        default=None if generated or identity else expr,
        generated=expr if generated else None,
        auto_increment=bool(identity) or bool(on_seq and not generated),
        comment=comment,
        enum_values=types[oid].labels if types[oid].typtype == "e" else None,
        array_kind=array_kind,
        precision=precision,
        scale=scale,
        max_length=max_length,
        position=position,
    )


def _foreign_key(row: Sequence[Any]) -> ForeignKeyInfo:
    name, _, schema, table, ref_schema, ref_table, columns, ref_columns, upd, dele = row[:10]
    return ForeignKeyInfo(
        name=name,
        table=table,
        columns=tuple(columns),
        ref_table=ref_table,
        ref_columns=tuple(ref_columns),
        on_update=_FK_ACTION[upd],
        on_delete=_FK_ACTION[dele],
        schema=schema,
        ref_schema=ref_schema,
    )


async def discover(
    conn: Connection, schema: str | None, tables: Sequence[str] | None
) -> list[TableInfo]:
    """Describe the tables and views of a PostgreSQL schema from its catalogs.

    Tables (plain and partitioned) are reported as ``"table"``; views and materialized
    views as ``"view"``. Partitions are left out: their parent stands for them. The
    catalogs are read in a fixed number of queries, however many tables the schema holds;
    nothing is analyzed or counted (``row_estimate`` is the planner's ``reltuples``).

    Args:
        conn: a connection to the PostgreSQL database.
        schema: the schema to read; None reads ``public``.
        tables: exact (case-sensitive) names of the tables and views to describe; None
            describes all of them. Names that do not exist are simply absent from the result.

    Returns:
        One :class:`TableInfo` per table or view, ordered by name. ``referenced_by`` lists
        foreign keys from any schema, including tables outside ``tables``.

    Raises:
        ValidationError: ``tables`` is a single string rather than a sequence of names.
        DatabaseError: the catalog queries failed (``ConnectError``, ``ConnectionLost``,
            ``QueryTimeout``...); nothing partial is returned.

    Example::

        (orders,) = await discover(conn, "sales", ["Orders"])
        orders.primary_key  # ("id",)
        [fk.table for fk in orders.referenced_by]  # ["OrderItems", "Refunds"]
    """
    if isinstance(tables, str):
        raise ValidationError(
            f"tables must be a sequence of table names, not the string {tables!r}; "
            f"pass [{tables!r}] to describe one table",
            details={"tables": tables},
        )
    schema = "public" if schema is None else schema
    names = None if tables is None else list(tables)
    relations = await conn.fetch(_RELATIONS_SQL, (schema, names))
    if not relations:
        return []
    oids = [r[0] for r in relations]

    column_rows = await conn.fetch(_COLUMNS_SQL, (oids,))
    type_oids = sorted({r[3] for r in column_rows})
    types = {
        r[0]: _Type(r[1], r[2], r[3], r[4], r[5], r[6], tuple(r[7]))
        for r in await conn.fetch(_TYPES_SQL, (type_oids,))
    }
    columns: defaultdict[int, list[ColumnInfo]] = defaultdict(list)
    for row in column_rows:
        # Dense positions: dropped columns leave gaps in attnum.
        owned = columns[row[0]]
        owned.append(_column(row, len(owned) + 1, types))

    primary_key: dict[int, tuple[str, ...]] = {}
    foreign_keys: defaultdict[int, list[ForeignKeyInfo]] = defaultdict(list)
    referenced_by: defaultdict[int, list[ForeignKeyInfo]] = defaultdict(list)
    unique: defaultdict[int, list[UniqueInfo]] = defaultdict(list)
    checks: defaultdict[int, list[CheckInfo]] = defaultdict(list)
    wanted = set(oids)
    for row in await conn.fetch(_CONSTRAINTS_SQL, (oids,)):
        name, contype, owner, target = row[0], row[1], row[11], row[12]
        if contype == "f":
            fk = _foreign_key(row)
            if owner in wanted:
                foreign_keys[owner].append(fk)
            if target in wanted:
                referenced_by[target].append(fk)
        elif contype == "p":
            primary_key[owner] = tuple(row[6])
        elif contype == "u":
            unique[owner].append(UniqueInfo(name, tuple(row[6])))
        else:
            checks[owner].append(CheckInfo(name, row[10]))

    indexes: defaultdict[int, list[IndexInfo]] = defaultdict(list)
    for relid, name, is_unique, is_primary, parts, predicate in await conn.fetch(
        _INDEXES_SQL, (oids,)
    ):
        indexes[relid].append(IndexInfo(name, tuple(parts), is_unique, is_primary, predicate))

    return [
        TableInfo(
            name=relname,
            schema=schema,
            kind=_RELKIND[relkind],
            columns=tuple(columns[oid]),
            primary_key=primary_key.get(oid, ()),
            foreign_keys=tuple(foreign_keys[oid]),
            referenced_by=tuple(referenced_by[oid]),
            unique=tuple(unique[oid]),
            indexes=tuple(indexes[oid]),
            checks=tuple(checks[oid]),
            row_estimate=None if reltuples < 0 else round(reltuples),
            comment=comment,
            extra={"relkind": relkind},
        )
        for oid, relname, relkind, reltuples, comment in relations
    ]
