"""Mapping tables from driver error identifiers to engine errors."""

from __future__ import annotations

from .. import errors as e

__all__ = ["MYSQL_ERRNO", "PG_SQLSTATE", "SQLITE_ERRORNAME", "label"]

#: PostgreSQL SQLSTATE (exact code, or two-character class) -> (error class, code).
PG_SQLSTATE: dict[str, tuple[type[e.DataFlowError], str | None]] = {
    "23505": (e.UniqueViolation, None),
    "23503": (e.ForeignKeyViolation, None),
    "23502": (e.NotNullViolation, None),
    "23514": (e.CheckViolation, None),
    "23": (e.IntegrityError, None),
    "57014": (e.QueryTimeout, None),
    "55P03": (e.QueryTimeout, "DF-DB-LOCK-TIMEOUT"),
    "40001": (e.SerializationFailure, None),
    "40P01": (e.SerializationFailure, "DF-DB-DEADLOCK"),
    "25006": (e.ReadOnlyError, None),
    "42P01": (e.SchemaError, "DF-SCHEMA-TABLE-MISSING"),
    "42703": (e.SchemaError, "DF-SCHEMA-COLUMN-MISSING"),
    "3F000": (e.SchemaError, "DF-SCHEMA-MISSING"),
    "28P01": (e.ConnectError, "DF-DB-AUTH"),
    "28000": (e.ConnectError, "DF-DB-AUTH"),
    "3D000": (e.ConnectError, "DF-DB-UNKNOWN-DATABASE"),
    "08": (e.ConnectionLost, None),
    "57P01": (e.ConnectionLost, None),
    "57P02": (e.ConnectionLost, None),
    "57P03": (e.ConnectError, None),
    "53300": (e.ConnectError, "DF-DB-TOO-MANY-CONNECTIONS"),
    "22": (e.DatabaseError, "DF-DB-DATA"),
    "42501": (e.DatabaseError, "DF-DB-PERMISSION"),
}

#: sqlite3 extended error names -> (error class, code).
SQLITE_ERRORNAME: dict[str, tuple[type[e.DataFlowError], str | None]] = {
    "SQLITE_CONSTRAINT_UNIQUE": (e.UniqueViolation, None),
    "SQLITE_CONSTRAINT_PRIMARYKEY": (e.UniqueViolation, None),
    "SQLITE_CONSTRAINT_FOREIGNKEY": (e.ForeignKeyViolation, None),
    "SQLITE_CONSTRAINT_NOTNULL": (e.NotNullViolation, None),
    "SQLITE_CONSTRAINT_CHECK": (e.CheckViolation, None),
    "SQLITE_CONSTRAINT": (e.IntegrityError, None),
    "SQLITE_BUSY": (e.SerializationFailure, "DF-DB-BUSY"),
    "SQLITE_LOCKED": (e.SerializationFailure, "DF-DB-BUSY"),
    "SQLITE_READONLY": (e.ReadOnlyError, None),
    "SQLITE_INTERRUPT": (e.QueryTimeout, None),
    "SQLITE_CANTOPEN": (e.ConnectError, None),
    "SQLITE_NOTADB": (e.ConnectError, None),
    "SQLITE_FULL": (e.DatabaseError, "DF-DB-DISK-FULL"),
    "SQLITE_TOOBIG": (e.DatabaseError, "DF-DB-TOO-BIG"),
}


#: MySQL / MariaDB error numbers -> (error class, code).
MYSQL_ERRNO: dict[int, tuple[type[e.DataFlowError], str | None]] = {
    1062: (e.UniqueViolation, None),
    1586: (e.UniqueViolation, None),
    1451: (e.ForeignKeyViolation, None),
    1452: (e.ForeignKeyViolation, None),
    1216: (e.ForeignKeyViolation, None),
    1217: (e.ForeignKeyViolation, None),
    1048: (e.NotNullViolation, None),
    1364: (e.NotNullViolation, None),
    3819: (e.CheckViolation, None),
    4025: (e.CheckViolation, None),
    1213: (e.SerializationFailure, "DF-DB-DEADLOCK"),
    1205: (e.QueryTimeout, "DF-DB-LOCK-TIMEOUT"),
    1139: (e.QueryTimeout, "DF-DB-REGEX-LIMIT"),  # MariaDB: PCRE gave up
    3698: (e.QueryTimeout, "DF-DB-REGEX-LIMIT"),  # MySQL 8: regexp stack limit
    3699: (e.QueryTimeout, "DF-DB-REGEX-LIMIT"),  # MySQL 8: regexp_time_limit
    3024: (e.QueryTimeout, None),
    1969: (e.QueryTimeout, None),
    1317: (e.QueryTimeout, None),
    1146: (e.SchemaError, "DF-SCHEMA-TABLE-MISSING"),
    1054: (e.SchemaError, "DF-SCHEMA-COLUMN-MISSING"),
    1049: (e.ConnectError, "DF-DB-UNKNOWN-DATABASE"),
    1044: (e.ConnectError, "DF-DB-AUTH"),
    1045: (e.ConnectError, "DF-DB-AUTH"),
    1040: (e.ConnectError, "DF-DB-TOO-MANY-CONNECTIONS"),
    2002: (e.ConnectError, None),
    2003: (e.ConnectError, None),
    2005: (e.ConnectError, None),
    2006: (e.ConnectionLost, None),
    2013: (e.ConnectionLost, None),
    2055: (e.ConnectionLost, None),
    4031: (e.ConnectionLost, None),
    1927: (e.ConnectionLost, None),
    1792: (e.ReadOnlyError, None),
    1290: (e.ReadOnlyError, None),
    1836: (e.ReadOnlyError, None),
    1406: (e.DatabaseError, "DF-DB-DATA"),
    1153: (e.DatabaseError, "DF-DB-TOO-BIG"),
    1264: (e.DatabaseError, "DF-DB-DATA"),
    1265: (e.DatabaseError, "DF-DB-DATA"),
    1292: (e.DatabaseError, "DF-DB-DATA"),
    1366: (e.DatabaseError, "DF-DB-DATA"),
    3140: (e.DatabaseError, "DF-DB-DATA"),
    4038: (e.DatabaseError, "DF-DB-DATA"),
    1142: (e.DatabaseError, "DF-DB-PERMISSION"),
    1143: (e.DatabaseError, "DF-DB-PERMISSION"),
    1227: (e.DatabaseError, "DF-DB-PERMISSION"),
}

_LABELS: dict[type[e.DataFlowError], str] = {
    e.UniqueViolation: "duplicate value for a unique key; nothing was written",
    e.ForeignKeyViolation: "foreign key violated; nothing was written",
    e.NotNullViolation: "a NOT NULL column got no value; nothing was written",
    e.CheckViolation: "a CHECK constraint rejected a value; nothing was written",
    e.IntegrityError: "a constraint rejected the statement; nothing was written",
    e.QueryTimeout: "the statement was cancelled",
    e.SerializationFailure: "the transaction conflicted with another one; retry it",
    e.ReadOnlyError: "the database refused a write",
    e.SchemaError: "the table does not match the model",
    e.ConnectError: "cannot connect",
    e.ConnectionLost: "the connection was lost; the next call reconnects",
    e.DatabaseError: "the database reported an error",
}


def label(cls: type[e.DataFlowError]) -> str:
    """A short human description of an engine error class."""
    for klass in cls.__mro__:
        if klass in _LABELS:
            return _LABELS[klass]
    return cls.__name__
