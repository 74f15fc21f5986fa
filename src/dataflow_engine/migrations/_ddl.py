"""Read DDL / DML text into :class:`Operation` objects, with sqlglot.

:func:`parse_ddl` splits the text into statements, parses each with sqlglot's reader for the
dialect and maps the tree to operations. Each statement kind is mapped by one small function
(the ``_STATEMENTS``, ``_ALTER_ACTIONS``, ``_CONSTRAINTS`` and ``_COLUMN_CONSTRAINTS``
tables); no code here branches on the dialect's name.

Mapping (every operation's ``sql`` is its statement's text as written)::

    ALTER TABLE t <a>, <b>, ...          one operation per action, table = t
                                         (MySQL ALGORITHM= / LOCK= and PostgreSQL ONLY go
                                         to options["algorithm"], ["lock"], ["only"]):
      ADD [COLUMN] c type ...            ADD_COLUMN      column (ColumnDefinition);
                                                         references=(r, [rs]) for an inline
                                                         REFERENCES; options["check"],
                                                         ["column_constraints"], ["position"]
      DROP [COLUMN] c [CASCADE]          DROP_COLUMN     column_name, cascade
      RENAME [COLUMN] a TO b             RENAME_COLUMN   column_name=a, new_name=b
      RENAME TO u                        RENAME_TABLE    new_name=u
      ALTER [COLUMN] c [SET DATA] TYPE x [USING e]
                                         ALTER_COLUMN_TYPE column_name, data_type, expression=e
                                                         (options["collate"])
      MODIFY c def / CHANGE a b def      MySQL: see below
      ALTER [COLUMN] c SET | DROP NOT NULL     SET_NOT_NULL / DROP_NOT_NULL  column_name
      ALTER [COLUMN] c SET DEFAULT e | DROP DEFAULT
                                         SET_DEFAULT (default=e) / DROP_DEFAULT
      ADD [CONSTRAINT n] FOREIGN KEY (cs) REFERENCES r (rs) [NOT VALID]
                                         ADD_FOREIGN_KEY index=n, columns, references=(r, rs)
      ADD [CONSTRAINT n] CHECK (e) [NOT VALID]  ADD_CHECK    index=n, expression=e
      ADD [CONSTRAINT n] UNIQUE (cs)     ADD_UNIQUE      index=n, columns
      ADD [CONSTRAINT n] PRIMARY KEY (cs)       ADD_PRIMARY_KEY  index=n, columns
      ADD ... UNIQUE | PRIMARY KEY USING INDEX i   same kinds, options["using_index"]=i
      ADD [CONSTRAINT n] EXCLUDE ...     ADD_EXCLUSION   index=n, columns, expression
      ADD INDEX | KEY n (cs)  (MySQL)    ADD_INDEX       index=n, columns
      VALIDATE CONSTRAINT n              VALIDATE_CONSTRAINT  index=n
      DROP CONSTRAINT | FOREIGN KEY | CHECK n, DROP PRIMARY KEY
                                         DROP_CONSTRAINT index=n (options["constraint_type"])
      DROP INDEX | KEY n  (MySQL)        DROP_INDEX      index=n
      anything else                      RAW             options["action"] = the action
    CREATE [UNIQUE] INDEX [CONCURRENTLY] [IF NOT EXISTS] [n] ON t (keys) [WHERE p]
                                         ADD_INDEX       index, columns, unique, concurrently,
                                                         if_exists, where=p
    DROP INDEX [CONCURRENTLY] [IF EXISTS] n [ON t]
                                         DROP_INDEX      index=n, table=t or "" (PostgreSQL
                                                         and SQLite do not name the table)
    CREATE TABLE t (...)                 CREATE_TABLE    columns (names), options["columns"]
                                                         (ColumnDefinitions),
                                                         options["constraints"] (Operations)
    CREATE TABLE t AS query              CREATE_TABLE    expression=query
    DROP TABLE a, b [CASCADE]            DROP_TABLE      one per table, cascade
    TRUNCATE a, b [CASCADE]              TRUNCATE_TABLE  one per table, cascade
    CREATE [OR REPLACE] [MATERIALIZED] VIEW v AS q   CREATE_VIEW   table=v, expression=q
    DROP [MATERIALIZED] VIEW a, b        DROP_VIEW       one per view
    CREATE TRIGGER n ... ON t ...        CREATE_TRIGGER  table=t, options["trigger"]=n
    UPDATE t SET ... [WHERE p]           UPDATE_ROWS     expression=SET clause, columns
                                                         (assigned), where=p or None
    DELETE FROM t [WHERE p]              DELETE_ROWS     where=p or None
    RENAME TABLE a TO b, ... (MySQL)     RENAME_TABLE    one per pair
    any other statement sqlglot reads    RAW             options["command"] = first keyword

``CREATE TABLE``: ``options["columns"]`` is the list of :class:`ColumnDefinition`;
``options["constraints"]`` holds the table's constraints as operations (``ADD_PRIMARY_KEY``,
``ADD_UNIQUE``, ``ADD_FOREIGN_KEY``, ``ADD_CHECK``, ``ADD_INDEX``, ``ADD_EXCLUSION``), plus the
column-level ``REFERENCES`` and ``CHECK`` constraints, whose details a ColumnDefinition
cannot hold. Columns of the primary key have ``primary_key=True`` and ``nullable=False``.

MySQL ``MODIFY c def`` and ``CHANGE a b def`` restate the whole column: an attribute left
out is dropped. They map to ``ALTER_COLUMN_TYPE`` (``column`` = the new definition),
``SET_NOT_NULL`` or ``DROP_NOT_NULL``, ``SET_DEFAULT`` or ``DROP_DEFAULT``, and for a
``CHANGE`` to a new name a final ``RENAME_COLUMN``; the first three name the column as it is
before the statement. An operation implied by an omission carries ``options["implicit"]``.
PostgreSQL and SQLite have no such statement (their sqlglot readers never produce it).

Statements end at ``;`` outside strings, quoted names, comments and dollar-quoted bodies;
a ``CREATE TRIGGER / FUNCTION / PROCEDURE`` also keeps the ``;`` of its ``BEGIN ... END``
body (when the body is left open, the text is split at every ``;`` instead, so nothing
after it can hide inside it). When sqlglot can read only part of an ``ALTER TABLE`` (it
then falls back to a bare command and logs a warning), each action is read on its own: the
known ones are mapped, the rest become RAW.

Names: ``table`` is the bare table name and ``options["schema"]`` its schema when the
statement qualifies it (``public.users`` gives ``table="users"``, ``schema="public"``;
``options["catalog"]`` for a third part). Referenced tables are bare too
(``options["references_schema"]`` when qualified). Quoted identifiers keep their exact
text (``"User Table"`` gives ``User Table``); unquoted ones are kept as written, without case
folding. The servers differ: PostgreSQL folds unquoted names to lower case; MySQL compares
column names case-insensitively and table names as ``lower_case_table_names`` says; SQLite
compares ASCII names case-insensitively. Callers that look names up in a catalog apply
their server's rule.

SQL text: data types, DEFAULT, CHECK, USING and WHERE expressions and an UPDATE's SET
clause are the statement's own characters (``now()``, ``'a''b'``, ``varchar(20)``), never a
rewrite: sqlglot's rendering can change meaning (SQLite's ``INT PRIMARY KEY`` is not
``INTEGER PRIMARY KEY``). A view's query and other nested parts are sqlglot's rendering in
the same dialect. Comments between statements are ignored.

Errors: text sqlglot cannot read, or that is not a statement (``hello world``), raises
:class:`MigrationError` with code ``DF-MIGRATION-PARSE`` and details ``statement``,
``position`` (``line`` and ``column`` from 1, ``offset`` from 0, in the whole text; None
for an unterminated string or comment, which sqlglot does not place), ``problem``,
``number`` (the statement's ordinal) and ``dialect``. A ``CREATE TRIGGER``,
``FUNCTION`` or ``PROCEDURE`` whose body sqlglot cannot read is not an error: it becomes
``CREATE_TRIGGER`` (name and table read from its header) or ``RAW``. Valid SQL that
sqlglot 30 cannot read is an error too (PostgreSQL's ``DROP INDEX a, b``); older sqlglot
versions read less (27 has no node for MySQL's ``MODIFY`` / ``CHANGE``, so they come out
as RAW or as a bare type change there).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from sqlglot import Token, TokenType, exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError
from sqlglot.parser import Parser

from ..errors import MigrationError, UnsupportedError
from ._operations import ColumnDefinition, Operation, OperationKind

__all__ = ["parse_ddl"]

K = OperationKind

# DataFlow's dialect names -> sqlglot's readers.
_READERS = {"postgresql": "postgres", "mysql": "mysql", "sqlite": "sqlite"}

_PARSE = "DF-MIGRATION-PARSE"


def parse_ddl(text: str, dialect: str = "postgresql") -> list[Operation]:
    """Read DDL / DML text into operations, one or more per statement.

    Args:
        text: one or more SQL statements separated by ``;``. Comments are ignored.
        dialect: ``"postgresql"``, ``"mysql"`` or ``"sqlite"``: how the text is read.

    Returns:
        The operations in statement order (see the module docstring for the mapping).
        Empty or comment-only text gives ``[]``.

    Raises:
        MigrationError: ``DF-MIGRATION-PARSE``: a statement is not SQL sqlglot can read,
            with details ``statement``, ``position``, ``problem``, ``number``, ``dialect``.
        UnsupportedError: ``dialect`` is not one of the three.

    Example:
        >>> ops = parse_ddl(
        ...     "ALTER TABLE public.users ADD COLUMN status text NOT NULL DEFAULT 'active',"
        ...     " DROP COLUMN legacy; DROP TABLE audit"
        ... )
        >>> [(op.kind.value, op.table, op.column_name) for op in ops]
        [('add_column', 'users', 'status'), ('drop_column', 'users', 'legacy'), \
('drop_table', 'audit', None)]
        >>> ops[0].column.default, ops[0].options["schema"]
        ("'active'", 'public')
    """
    reader = _reader(dialect)
    return [op for statement in reader.statements(text) for op in reader.operations(statement)]


# --- reading: tokens, statements, sqlglot trees ------------------------------------------

_SPAN = "dataflow_source_span"


class _SourceSpans(Parser):
    """sqlglot's parser, remembering the characters each type and expression came from.

    The verbatim text is what the migration says; sqlglot's rendering of a tree may differ
    (``now()`` -> ``CURRENT_TIMESTAMP``, SQLite's ``INT`` -> ``INTEGER``).
    """

    def _parse_types(self, *args: Any, **kwargs: Any) -> exp.Expr | None:
        start = self._index
        return self._spanned(start, super()._parse_types(*args, **kwargs))

    def _parse_bitwise(self) -> exp.Expr | None:
        start = self._index
        return self._spanned(start, super()._parse_bitwise())

    def _parse_disjunction(self) -> exp.Expr | None:
        start = self._index
        return self._spanned(start, super()._parse_disjunction())

    def _parse_assignment(self) -> exp.Expr | None:
        start = self._index
        return self._spanned(start, super()._parse_assignment())

    def _spanned(self, start: int, node: exp.Expr | None) -> exp.Expr | None:
        if isinstance(node, exp.Expression) and self._index > start:
            first, last = self._tokens[start], self._tokens[self._index - 1]
            node.meta[_SPAN] = (first.start, last.end + 1)
        return node


def _span(node: exp.Expression | None) -> tuple[int, int] | None:
    span = node.meta.get(_SPAN) if node is not None else None
    return span if isinstance(span, tuple) else None


@cache
def _reader(dialect: str) -> _Reader:
    read = _READERS.get(dialect)
    if read is None:
        raise UnsupportedError(
            f"cannot read DDL for dialect {dialect!r}; use one of {', '.join(_READERS)}",
            details={"dialect": dialect, "supported": list(_READERS)},
        )
    sqlglot_dialect = Dialect.get_or_raise(read)
    base = sqlglot_dialect.parser_class
    parser_class = type(f"{base.__name__}WithSpans", (_SourceSpans, base), {})
    if not issubclass(parser_class, Parser):  # pragma: no cover - type() keeps the bases
        raise TypeError(parser_class)
    return _Reader(dialect, sqlglot_dialect, parser_class)


@dataclass(frozen=True)
class _Statement:
    """One statement: its tokens, whose offsets point into ``text`` (the whole input)."""

    text: str
    tokens: list[Token]
    number: int
    reader: _Reader

    @property
    def sql(self) -> str:
        return self.text[self.tokens[0].start : self.tokens[-1].end + 1]

    def source(self, node: exp.Expression) -> str:
        """The node's text as written, or sqlglot's rendering when its span is unknown."""
        span = _span(node)
        if span is not None:
            return self.text[span[0] : span[1]]
        return node.sql(dialect=self.reader.dialect)

    def between(self, first: Token, last: Token) -> str:
        return self.text[first.start : last.end + 1]


@dataclass(frozen=True)
class _Reader:
    name: str
    dialect: Dialect
    parser_class: type[Parser]

    def statements(self, text: str) -> list[_Statement]:
        try:
            tokens = self.dialect.tokenize(text)
        except TokenError as exc:
            raise self._token_error(text, exc) from exc
        chunks = _split(tokens)
        return [_Statement(text, chunk, n, self) for n, chunk in enumerate(chunks, 1)]

    def operations(self, statement: _Statement) -> list[Operation]:
        node = self.parse(statement)
        handler = _STATEMENTS.get((_node_name(node), _kind(node))) or _STATEMENTS.get(
            (_node_name(node), "")
        )
        # A statement never disappears: one that maps to nothing is reported as RAW.
        return (handler(node, statement) if handler else []) or [_raw(node, statement)]

    def parse(self, statement: _Statement) -> exp.Expression:
        routine = _created_object(statement.tokens, 0) in _ROUTINES
        try:
            nodes = self.parse_tokens(statement.tokens, statement.text)
        except ParseError as exc:
            if routine:  # a trigger or function body sqlglot cannot read
                return exp.Command(this="CREATE")
            raise self._parse_error(statement, exc) from exc
        if len(nodes) != 1:  # only a routine's body holds a ';'
            return exp.Command(this="CREATE")
        if not _is_statement(nodes[0], statement.tokens[0], self):
            raise self._not_a_statement(statement)
        return nodes[0]

    def parse_tokens(self, tokens: list[Token], text: str) -> list[exp.Expression]:
        """Parse tokens with sqlglot; the error context spans the whole text (positions)."""
        parser = self.parser_class(dialect=self.dialect, error_message_context=len(text) + 1)
        return [node for node in parser.parse(tokens, text) if isinstance(node, exp.Expression)]

    def try_parse(self, tokens: list[Token], text: str) -> exp.Expression | None:
        try:
            nodes = self.parse_tokens(tokens, text)
        except ParseError:
            return None
        return nodes[0] if len(nodes) == 1 else None

    def _parse_error(self, statement: _Statement, exc: ParseError) -> MigrationError:
        error = exc.errors[0] if exc.errors else {}
        offset = len(error.get("start_context") or "") or statement.tokens[0].start
        problem = str(error.get("description") or exc).split(" but got <Token", 1)[0]
        near = error.get("highlight") or ""
        return self._error(statement.text, statement.sql, statement.number, offset, problem, near)

    def _not_a_statement(self, statement: _Statement) -> MigrationError:
        first = statement.tokens[0]
        problem = "not an SQL statement: it does not start with a command such as ALTER or CREATE"
        return self._error(
            statement.text, statement.sql, statement.number, first.start, problem, first.text
        )

    def _token_error(self, text: str, exc: TokenError) -> MigrationError:
        """An unterminated string, quoted name or comment: sqlglot does not say where."""
        problem = str(exc.__cause__ or exc)
        return self._error(text, text.strip(), 1, None, problem, "")

    def _error(
        self, text: str, sql: str, number: int, offset: int | None, problem: str, near: str
    ) -> MigrationError:
        position = _position(text, offset) if offset is not None else None
        near_text = f" near {near!r}" if near else ""
        where = f" (line {position['line']}, column {position['column']})" if position else ""
        return MigrationError(
            f"statement {number} cannot be read as {self.name} SQL: {problem}{near_text}"
            f"{where}. Fix the statement, or pass the dialect it is written in.",
            code=_PARSE,
            details={
                "statement": sql,
                "position": position,
                "problem": problem,
                "number": number,
                "dialect": self.name,
            },
        )


def _position(text: str, offset: int) -> dict[str, int]:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return {"line": line, "column": column, "offset": offset}


def _is_statement(node: exp.Expression, first: Token, reader: _Reader) -> bool:
    """sqlglot reads any expression (``hello world`` is a column alias); a statement starts
    with a command keyword or is a query."""
    if first.token_type in reader.parser_class.STATEMENT_PARSERS:
        return True
    if first.token_type in reader.dialect.tokenizer_class.COMMANDS:
        return True
    return isinstance(node, exp.Query | exp.DML | exp.Values)


def _node_name(node: exp.Expression) -> str:
    """The dispatch tables are keyed by sqlglot node names: a node that an older sqlglot
    lacks (sqlglot 27 has no ``ModifyColumn``, ``DropPrimaryKey``) is never produced there."""
    return type(node).__name__


def _kind(node: exp.Expression) -> str:
    kind = node.args.get("kind")
    return str(kind).upper() if isinstance(kind, str) else ""


# --- tokens ------------------------------------------------------------------------------

_LITERALS = frozenset(
    {
        TokenType.IDENTIFIER,
        TokenType.STRING,
        TokenType.HEREDOC_STRING,
        TokenType.NATIONAL_STRING,
        TokenType.RAW_STRING,
        TokenType.BIT_STRING,
        TokenType.HEX_STRING,
        TokenType.BYTE_STRING,
        TokenType.NUMBER,
    }
)
_SEMICOLON = TokenType.SEMICOLON
_ROUTINES = frozenset({"TRIGGER", "FUNCTION", "PROCEDURE"})
_OBJECTS = _ROUTINES | {"TABLE", "VIEW", "INDEX", "SCHEMA", "SEQUENCE", "TYPE", "DATABASE"}
# Block endings whose openers (IF ... THEN, LOOP, ...) do not open a BEGIN/CASE block.
_END_SUFFIXES = frozenset({"IF", "LOOP", "WHILE", "REPEAT", "FOR"})


def _word(token: Token) -> str:
    """The keyword a token spells (``PRIMARY KEY`` is one token); "" for quoted names,
    strings and numbers."""
    return "" if token.token_type in _LITERALS else " ".join(token.text.upper().split())


def _words(tokens: Sequence[Token]) -> list[str]:
    return [_word(token) for token in tokens]


def _split(tokens: list[Token]) -> list[list[Token]]:
    """Split at ``;`` outside trigger / function bodies (``BEGIN ...; END``)."""
    statements: list[list[Token]] = []
    start = 0
    while start < len(tokens):
        end = _statement_end(tokens, start)
        if end > start:
            statements.append(tokens[start:end])
        start = end + 1
    return statements


def _statement_end(tokens: list[Token], start: int) -> int:
    """Index of the ``;`` that ends the statement starting at ``start`` (or the end)."""
    if _created_object(tokens, start) in _ROUTINES:
        end = _routine_end(tokens, start)
        if end is not None:
            return end
    semicolons = (i for i in range(start, len(tokens)) if tokens[i].token_type is _SEMICOLON)
    return next(semicolons, len(tokens))


def _routine_end(tokens: list[Token], start: int) -> int | None:
    """Like _statement_end, skipping ``;`` inside BEGIN ... END. None when a block is left
    open: the text is then split at every ``;``, so no statement hides inside a body."""
    depth = 0
    for i in range(start, len(tokens)):
        if tokens[i].token_type is _SEMICOLON and depth == 0:
            return i
        depth = max(0, depth + _block_step(tokens, i))
    return None if depth else len(tokens)


def _block_step(tokens: list[Token], i: int) -> int:
    word = _word(tokens[i])
    if word == "BEGIN":
        return 1
    if word == "CASE":
        return 0 if i > 0 and _word(tokens[i - 1]) == "END" else 1  # MySQL's END CASE
    if word == "END":
        following = _word(tokens[i + 1]) if i + 1 < len(tokens) else ""
        return 0 if following in _END_SUFFIXES else -1
    return 0


def _created_object(tokens: list[Token], start: int) -> str:
    """For ``CREATE [OR REPLACE] [UNIQUE] ... <object>``: the object keyword, else ""."""
    if start >= len(tokens) or _word(tokens[start]) != "CREATE":
        return ""
    for token in tokens[start + 1 : start + 12]:
        if token.token_type in (TokenType.L_PAREN, TokenType.SEMICOLON):
            return ""
        if _word(token) in _OBJECTS:
            return _word(token)
    return ""


def _dotted_name(tokens: Sequence[Token], i: int) -> tuple[str, str | None, int]:
    """Read ``a.b.c`` at ``tokens[i]``: (last part, the parts before it or None, next index)."""
    parts = [tokens[i].text]
    i += 1
    while i + 1 < len(tokens) and tokens[i].token_type is TokenType.DOT:
        parts.append(tokens[i + 1].text)
        i += 2
    return parts[-1], ".".join(parts[:-1]) or None, i


def _split_commas(tokens: Sequence[Token]) -> list[list[Token]]:
    """Split at commas outside parentheses and brackets."""
    parts: list[list[Token]] = [[]]
    depth = 0
    for token in tokens:
        if token.token_type in (TokenType.L_PAREN, TokenType.L_BRACKET):
            depth += 1
        elif token.token_type in (TokenType.R_PAREN, TokenType.R_BRACKET):
            depth -= 1
        elif token.token_type is TokenType.COMMA and depth == 0:
            parts.append([])
            continue
        parts[-1].append(token)
    return [part for part in parts if part]


# --- targets: the table an operation changes --------------------------------------------


@dataclass(frozen=True)
class _Target:
    """Builds the operations of one statement on one table."""

    statement: _Statement
    table: str
    options: Mapping[str, Any] = field(default_factory=dict)
    if_exists: bool = False

    def op(
        self, kind: OperationKind, *, options: Mapping[str, Any] | None = None, **fields: Any
    ) -> Operation:
        if_exists = bool(fields.pop("if_exists", False)) or self.if_exists
        return Operation(
            kind,
            self.table,
            sql=self.statement.sql,
            if_exists=if_exists,
            options={**self.options, **(options or {})},
            **fields,
        )

    def raw(self, action: str) -> Operation:
        return self.op(K.RAW, options={"action": action})


def _qualifiers(table: exp.Table, prefix: str = "") -> dict[str, str]:
    parts = {"schema": table.db, "catalog": table.catalog}
    return {f"{prefix}{key}": value for key, value in parts.items() if value}


def _table_target(
    table: exp.Expression, statement: _Statement, *, if_exists: Any = False, **options: Any
) -> _Target:
    qualifiers = _qualifiers(table) if isinstance(table, exp.Table) else {}
    return _Target(statement, table.name, {**qualifiers, **options}, bool(if_exists))


def _raw(node: exp.Expression, statement: _Statement) -> Operation:
    target = node.this if isinstance(node.this, exp.Expression) else None
    if isinstance(target, exp.Schema):
        target = target.this
    table = target.name if isinstance(target, exp.Table) else ""
    command = _word(statement.tokens[0])
    return Operation(K.RAW, table, sql=statement.sql, options={"command": command})


def _names(nodes: Sequence[Any], statement: _Statement) -> list[str]:
    """Column names of a key list; an expression key (``lower(email)``) as its text."""
    names: list[str] = []
    for node in nodes:
        inner = node.this if isinstance(node, exp.Ordered | exp.WithOperator) else node
        if isinstance(inner, exp.Ordered):
            inner = inner.this
        if isinstance(inner, exp.Column | exp.Identifier):
            names.append(inner.name)
        elif isinstance(inner, exp.Expression):
            names.append(statement.source(inner))
    return names


def _list(node: exp.Expression, key: str) -> list[Any]:
    value = node.args.get(key)
    return list(value) if isinstance(value, list) else []


def _arg(node: exp.Expression, key: str) -> exp.Expression | None:
    value = node.args.get(key)
    return value if isinstance(value, exp.Expression) else None


# --- column definitions -----------------------------------------------------------------


@dataclass
class _Column:
    """A column definition, with what a ColumnDefinition has no field for."""

    definition: ColumnDefinition
    references: tuple[str, list[str]] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    nullability_given: bool = False


def _column(node: exp.ColumnDef, statement: _Statement) -> _Column:
    data_type = _arg(node, "kind")
    column = _Column(ColumnDefinition(node.name, statement.source(data_type) if data_type else ""))
    for constraint in node.constraints:
        kind = constraint.args.get("kind")
        if isinstance(kind, exp.Expression):
            handler = _COLUMN_CONSTRAINTS.get(_node_name(kind), _other_column_constraint)
            handler(kind, column, statement)
    position = _arg(node, "position")
    if position is not None:
        column.options["position"] = position.sql(dialect=statement.reader.dialect)
    return column


def _not_null(kind: exp.Expression, column: _Column, statement: _Statement) -> None:
    column.definition.nullable = bool(kind.args.get("allow_null"))  # explicit NULL
    column.nullability_given = True


def _default(kind: exp.Expression, column: _Column, statement: _Statement) -> None:
    value = _arg(kind, "this")
    column.definition.default = statement.source(value) if value is not None else None


def _unique(kind: exp.Expression, column: _Column, statement: _Statement) -> None:
    column.definition.unique = True


def _primary_key(kind: exp.Expression, column: _Column, statement: _Statement) -> None:
    column.definition.primary_key = True
    column.definition.nullable = False


def _column_reference(kind: exp.Expression, column: _Column, statement: _Statement) -> None:
    table, columns, options = _reference(kind, statement)
    column.references = (table, columns)
    column.definition.references = ".".join([table, *columns[:1]])
    column.options.update(options)


def _column_check(kind: exp.Expression, column: _Column, statement: _Statement) -> None:
    check = _arg(kind, "this")
    if check is not None:
        column.options["check"] = statement.source(check)


def _other_column_constraint(kind: exp.Expression, column: _Column, statement: _Statement) -> None:
    rendered = kind.sql(dialect=statement.reader.dialect)
    column.options.setdefault("column_constraints", []).append(rendered)


_COLUMN_CONSTRAINTS: dict[str, Callable[[exp.Expression, _Column, _Statement], None]] = {
    "NotNullColumnConstraint": _not_null,
    "DefaultColumnConstraint": _default,
    "UniqueColumnConstraint": _unique,
    "PrimaryKeyColumnConstraint": _primary_key,
    "Reference": _column_reference,
    "CheckColumnConstraint": _column_check,
}


def _reference(
    node: exp.Expression, statement: _Statement
) -> tuple[str, list[str], dict[str, Any]]:
    """``REFERENCES [schema.]table [(columns)] [ON DELETE ...]``: table, columns, options."""
    target = _arg(node, "this")
    columns: list[str] = []
    if isinstance(target, exp.Schema):
        columns = _names(target.expressions, statement)
        target = _arg(target, "this")
    options: dict[str, Any] = {}
    if isinstance(target, exp.Table):
        options.update(_qualifiers(target, "references_"))
    actions = [str(option) for option in _list(node, "options")]
    if actions:
        options["reference_options"] = actions
    return (target.name if target is not None else ""), columns, options


# --- table constraints (ALTER TABLE ADD ..., CREATE TABLE (...)) -------------------------


def _constraint_operations(
    node: exp.Expression, target: _Target, *, not_valid: bool
) -> list[Operation]:
    """``[CONSTRAINT name] <kind>``: one operation per constraint kind."""
    name: str | None = None
    kinds = [node]
    if isinstance(node, exp.Constraint):
        name, kinds = node.name, list(node.expressions)
    ops: list[Operation] = []
    for kind in kinds:
        handler = _CONSTRAINTS.get(_node_name(kind))
        if handler is None:
            ops.append(target.raw(kind.sql(dialect=target.statement.reader.dialect)))
            continue
        op = handler(kind, name, target)
        op.not_valid = not_valid and op.kind in (K.ADD_FOREIGN_KEY, K.ADD_CHECK)
        ops.append(op)
    return ops


def _foreign_key(node: exp.Expression, name: str | None, target: _Target) -> Operation:
    reference = _arg(node, "reference")
    table, columns, options = _reference(reference, target.statement) if reference else ("", [], {})
    return target.op(
        K.ADD_FOREIGN_KEY,
        index=name,
        columns=_names(node.expressions, target.statement),
        references=(table, columns),
        options=options,
    )


def _check(node: exp.Expression, name: str | None, target: _Target) -> Operation:
    check = _arg(node, "this")
    expression = target.statement.source(check) if check is not None else None
    return target.op(K.ADD_CHECK, index=name, expression=expression)


def _unique_constraint(node: exp.Expression, name: str | None, target: _Target) -> Operation:
    keys = _arg(node, "this")  # Schema(this=MySQL's key name, expressions=columns)
    columns = _names(keys.expressions, target.statement) if keys else []
    key_name = _arg(keys, "this") if keys else None
    return target.op(
        K.ADD_UNIQUE,
        index=name or (key_name.name if key_name else None),
        columns=columns,
        unique=True,
    )


def _primary_key_constraint(node: exp.Expression, name: str | None, target: _Target) -> Operation:
    return target.op(
        K.ADD_PRIMARY_KEY, index=name, columns=_names(node.expressions, target.statement)
    )


def _exclusion(node: exp.Expression, name: str | None, target: _Target) -> Operation:
    params = _arg(node, "this")
    columns = _names(_list(params, "columns"), target.statement) if params else []
    using = _arg(params, "using") if params else None
    return target.op(
        K.ADD_EXCLUSION,
        index=name,
        columns=columns,
        expression=node.sql(dialect=target.statement.reader.dialect),
        options={"using": using.name} if using else None,
    )


def _index_constraint(node: exp.Expression, name: str | None, target: _Target) -> Operation:
    index = _arg(node, "this")
    kind = node.args.get("kind")
    return target.op(
        K.ADD_INDEX,
        index=name or (index.name if index else None),
        columns=_names(node.expressions, target.statement),
        options={"index_kind": str(kind).upper()} if kind else None,
    )


_CONSTRAINTS: dict[str, Callable[[exp.Expression, str | None, _Target], Operation]] = {
    "ForeignKey": _foreign_key,
    "CheckColumnConstraint": _check,
    "UniqueColumnConstraint": _unique_constraint,
    "PrimaryKey": _primary_key_constraint,
    "ExcludeColumnConstraint": _exclusion,
    "IndexColumnConstraint": _index_constraint,
}


# --- ALTER TABLE ------------------------------------------------------------------------

_AlterAction = Callable[[Any, exp.Alter, _Target], list[Operation]]


def _alter_table(node: exp.Expression, statement: _Statement) -> list[Operation]:
    if not isinstance(node, exp.Alter):  # pragma: no cover - _STATEMENTS sends only Alter
        return [_raw(node, statement)]
    target = _table_target(
        node.this, statement, if_exists=node.args.get("exists"), **_alter_options(node, statement)
    )
    ops: list[Operation] = []
    for action in _list(node, "actions"):
        handler = _ALTER_ACTIONS.get(_node_name(action))
        if handler is None:
            ops.append(target.raw(action.sql(dialect=statement.reader.dialect)))
        else:
            ops.extend(handler(action, node, target))
    return ops


def _alter_options(node: exp.Alter, statement: _Statement) -> dict[str, Any]:
    """MySQL's ``ALGORITHM=`` / ``LOCK=``, PostgreSQL's ``ONLY``."""
    options: dict[str, Any] = {}
    if node.args.get("only"):
        options["only"] = True
    for option in _list(node, "options"):
        if isinstance(option, exp.AlgorithmProperty | exp.LockProperty):
            key = "algorithm" if isinstance(option, exp.AlgorithmProperty) else "lock"
            options[key] = option.name.upper()
        elif not isinstance(option, exp.ToTableProperty):  # RENAME a TO b: see _rename
            options.setdefault("alter_options", []).append(
                option.sql(dialect=statement.reader.dialect)
            )
    return options


def _add_column(action: exp.ColumnDef, alter: exp.Alter, target: _Target) -> list[Operation]:
    column = _column(action, target.statement)
    return [
        target.op(
            K.ADD_COLUMN,
            column=column.definition,
            references=column.references,
            if_exists=action.args.get("exists"),
            options=column.options,
        )
    ]


def _drop(action: exp.Drop, alter: exp.Alter, target: _Target) -> list[Operation]:
    kind = _kind(action)
    fields: dict[str, Any] = {
        "cascade": bool(action.args.get("cascade")),
        "if_exists": action.args.get("exists"),
    }
    ops = []
    for dropped in _dropped(action):
        if kind == "COLUMN":
            ops.append(target.op(K.DROP_COLUMN, column_name=dropped.name, **fields))
        elif kind in ("INDEX", "KEY"):
            ops.append(target.op(K.DROP_INDEX, index=dropped.name, **fields))
        elif kind in ("CONSTRAINT", "FOREIGN KEY", "CHECK"):
            constraint_type = {"FOREIGN KEY": "foreign_key", "CHECK": "check"}.get(kind)
            options = {"constraint_type": constraint_type} if constraint_type else None
            ops.append(target.op(K.DROP_CONSTRAINT, index=dropped.name, options=options, **fields))
        else:
            ops.append(target.raw(action.sql(dialect=target.statement.reader.dialect)))
    return ops


def _dropped(node: exp.Expression) -> list[exp.Expression]:
    tables = _list(node, "tables") or _list(node, "expressions")
    this = _arg(node, "this")
    return tables or ([this] if this is not None else [])


def _drop_primary_key(action: exp.Expression, alter: exp.Alter, target: _Target) -> list[Operation]:
    return [target.op(K.DROP_CONSTRAINT, options={"constraint_type": "primary_key"})]


def _rename_column(action: exp.RenameColumn, alter: exp.Alter, target: _Target) -> list[Operation]:
    old, new = _arg(action, "this"), _arg(action, "to")
    return [
        target.op(
            K.RENAME_COLUMN,
            column_name=old.name if old else None,
            new_name=new.name if new else None,
            if_exists=action.args.get("exists"),
        )
    ]


def _rename(action: exp.AlterRename, alter: exp.Alter, target: _Target) -> list[Operation]:
    new = _arg(action, "this")
    # sqlglot reads PostgreSQL's "RENAME a TO b" (COLUMN omitted) as RENAME + a TO option.
    to = next((o for o in _list(alter, "options") if isinstance(o, exp.ToTableProperty)), None)
    renamed_to = _arg(to, "this") if to is not None else None
    if renamed_to is not None and new is not None:
        return [target.op(K.RENAME_COLUMN, column_name=new.name, new_name=renamed_to.name)]
    options = _qualifiers(new, "new_") if isinstance(new, exp.Table) else None
    return [target.op(K.RENAME_TABLE, new_name=new.name if new else None, options=options)]


def _alter_column(action: exp.AlterColumn, alter: exp.Alter, target: _Target) -> list[Operation]:
    name, args, source = action.name, action.args, target.statement.source
    if_exists = args.get("exists")
    data_type, default, using = (
        _arg(action, "dtype"),
        _arg(action, "default"),
        _arg(action, "using"),
    )
    if data_type is not None:
        collate = _arg(action, "collate")
        return [
            target.op(
                K.ALTER_COLUMN_TYPE,
                column_name=name,
                data_type=source(data_type),
                expression=source(using) if using is not None else None,
                if_exists=if_exists,
                options={"collate": source(collate)} if collate is not None else None,
            )
        ]
    if args.get("allow_null") is False:
        kind = K.SET_NOT_NULL
    elif args.get("drop") and args.get("allow_null"):
        kind = K.DROP_NOT_NULL
    elif default is not None:
        return [
            target.op(K.SET_DEFAULT, column_name=name, default=source(default), if_exists=if_exists)
        ]
    elif args.get("drop"):
        kind = K.DROP_DEFAULT
    else:
        return [target.raw(action.sql(dialect=target.statement.reader.dialect))]
    return [target.op(kind, column_name=name, if_exists=if_exists)]


def _modify_column(action: exp.ModifyColumn, alter: exp.Alter, target: _Target) -> list[Operation]:
    """MySQL's MODIFY / CHANGE: the column is restated whole (see the module docstring)."""
    definition = _arg(action, "this")
    if not isinstance(definition, exp.ColumnDef):
        return [target.raw(action.sql(dialect=target.statement.reader.dialect))]
    column = _column(definition, target.statement)
    new = column.definition
    renamed_from = _arg(action, "rename_from")
    current = renamed_from.name if renamed_from else new.name
    implicit = {"implicit": True}
    ops = [
        target.op(
            K.ALTER_COLUMN_TYPE,
            column=new,
            column_name=current,
            data_type=new.data_type,
            references=column.references,
            options=column.options,
        ),
        target.op(
            K.DROP_NOT_NULL if new.nullable else K.SET_NOT_NULL,
            column_name=current,
            options=None if column.nullability_given or not new.nullable else implicit,
        ),
        target.op(K.SET_DEFAULT, column_name=current, default=new.default)
        if new.default is not None
        else target.op(K.DROP_DEFAULT, column_name=current, options=implicit),
    ]
    if current != new.name:
        ops.append(target.op(K.RENAME_COLUMN, column_name=current, new_name=new.name))
    return ops


def _add_constraint(
    action: exp.AddConstraint, alter: exp.Alter, target: _Target
) -> list[Operation]:
    not_valid = bool(alter.args.get("not_valid"))
    return [
        op
        for constraint in action.expressions
        for op in _constraint_operations(constraint, target, not_valid=not_valid)
    ]


_ALTER_ACTIONS: dict[str, _AlterAction] = {
    "ColumnDef": _add_column,
    "Drop": _drop,
    "DropPrimaryKey": _drop_primary_key,
    "RenameColumn": _rename_column,
    "AlterRename": _rename,
    "AlterColumn": _alter_column,
    "ModifyColumn": _modify_column,
    "AddConstraint": _add_constraint,
}


# --- ALTER TABLE that sqlglot reads only as a command ------------------------------------
# sqlglot gives up on a whole ALTER TABLE when one action is beyond it (VALIDATE
# CONSTRAINT, ADD CHECK without a name, USING INDEX, SET STATISTICS, ...). Each action is
# then read on its own, so the ones it knows are still mapped and the rest become RAW.


def _alter_table_command(statement: _Statement) -> list[Operation]:
    tokens = statement.tokens
    header = _alter_table_header(tokens)
    if header is None:
        return [_raw(exp.Command(this="ALTER"), statement)]
    name_at, actions_at = header
    table, schema, _ = _dotted_name(tokens, name_at)
    if_exists = _words(tokens[2:4]) == ["IF", "EXISTS"]
    target = _Target(statement, table, {"schema": schema} if schema else {}, if_exists)
    return [
        op
        for action in _split_commas(tokens[actions_at:])
        for op in _alter_action_from_tokens(tokens[:actions_at], action, target)
    ]


def _alter_table_header(tokens: list[Token]) -> tuple[int, int] | None:
    """``ALTER TABLE [IF EXISTS] [ONLY] name [*] ...``: where the name and the actions start."""
    words = _words(tokens[:5])
    if words[:2] != ["ALTER", "TABLE"]:
        return None
    name_at = 2 + (2 if words[2:4] == ["IF", "EXISTS"] else 0)
    name_at += 1 if words[name_at : name_at + 1] == ["ONLY"] else 0
    if name_at >= len(tokens):
        return None
    _, _, i = _dotted_name(tokens, name_at)
    if i < len(tokens) and tokens[i].token_type is TokenType.STAR:
        i += 1
    return (name_at, i) if i < len(tokens) else None


def _alter_action_from_tokens(
    header: list[Token], action: list[Token], target: _Target
) -> list[Operation]:
    statement = target.statement
    node = statement.reader.try_parse(header + action, statement.text)
    if isinstance(node, exp.Alter) and _list(node, "actions"):
        return _alter_table(node, statement)
    for recognise in _ACTION_PATTERNS:
        op = recognise(action, target)
        if op is not None:
            return [op]
    return [target.raw(statement.between(action[0], action[-1]))]


def _validate_constraint(action: list[Token], target: _Target) -> Operation | None:
    if _words(action[:2]) == ["VALIDATE", "CONSTRAINT"] and len(action) == 3:
        return target.op(K.VALIDATE_CONSTRAINT, index=action[2].text)
    return None


def _constraint_name(action: list[Token]) -> tuple[str | None, int]:
    """``ADD [CONSTRAINT name] ...``: the name and the index of the constraint's keyword."""
    if _words(action[:2]) == ["ADD", "CONSTRAINT"] and len(action) > 3:
        return action[2].text, 3
    return None, 1


def _add_check(action: list[Token], target: _Target) -> Operation | None:
    """``ADD [CONSTRAINT n] CHECK (e) [NOT VALID] [NO INHERIT]``."""
    if _word(action[0]) != "ADD":
        return None
    name, i = _constraint_name(action)
    if _words(action[i : i + 1]) != ["CHECK"] or len(action) < i + 4:
        return None
    close = _closing_paren(action, i + 1)
    rest = " ".join(_words(action[close + 1 :])) if close is not None else None
    if close is None or rest not in ("", "NOT VALID", "NO INHERIT", "NO INHERIT NOT VALID"):
        return None
    expression = target.statement.between(action[i + 2], action[close - 1])
    return target.op(K.ADD_CHECK, index=name, expression=expression, not_valid="VALID" in rest)


def _closing_paren(tokens: list[Token], opening: int) -> int | None:
    if tokens[opening].token_type is not TokenType.L_PAREN:
        return None
    depth = 0
    for i in range(opening, len(tokens)):
        depth += {TokenType.L_PAREN: 1, TokenType.R_PAREN: -1}.get(tokens[i].token_type, 0)
        if depth == 0:
            return i
    return None


def _using_index(action: list[Token], target: _Target) -> Operation | None:
    """``ADD [CONSTRAINT n] UNIQUE | PRIMARY KEY USING INDEX i [DEFERRABLE ...]``."""
    if _word(action[0]) != "ADD":
        return None
    name, i = _constraint_name(action)
    words = _words(action)
    kind = {"UNIQUE": K.ADD_UNIQUE, "PRIMARY KEY": K.ADD_PRIMARY_KEY}.get(
        " ".join(words[i : i + 1])
    )
    if kind is None or words[i + 1 : i + 3] != ["USING", "INDEX"] or len(action) <= i + 3:
        return None
    return target.op(
        kind, index=name, unique=kind is K.ADD_UNIQUE, options={"using_index": action[i + 3].text}
    )


_ACTION_PATTERNS: tuple[Callable[[list[Token], _Target], Operation | None], ...] = (
    _validate_constraint,
    _add_check,
    _using_index,
)


# --- other statements -------------------------------------------------------------------


def _create_table(node: exp.Expression, statement: _Statement) -> list[Operation]:
    schema = _arg(node, "this")
    table = _arg(schema, "this") if isinstance(schema, exp.Schema) else schema
    if table is None:
        return [_raw(node, statement)]
    target = _table_target(table, statement, if_exists=node.args.get("exists"))
    items = schema.expressions if isinstance(schema, exp.Schema) else []
    columns: list[ColumnDefinition] = []
    constraints: list[Operation] = []
    options: dict[str, Any] = {}
    for item in items:
        if isinstance(item, exp.ColumnDef):
            columns.append(_table_column(item, target, constraints))
        elif isinstance(item, exp.Identifier | exp.Column):  # SQLite: a column without a type
            columns.append(ColumnDefinition(item.name, ""))
        elif isinstance(item, exp.LikeProperty):
            like = _arg(item, "this")
            options["like"] = like.sql(dialect=statement.reader.dialect) if like else None
        else:
            constraints.extend(_constraint_operations(item, target, not_valid=False))
    _mark_primary_key(columns, constraints)
    properties = _arg(node, "properties")
    if properties is not None and properties.find(exp.TemporaryProperty):
        options["temporary"] = True
    query = _arg(node, "expression")
    return [
        target.op(
            K.CREATE_TABLE,
            columns=[column.name for column in columns],
            expression=query.sql(dialect=statement.reader.dialect) if query else None,
            options={"columns": columns, "constraints": constraints, **options},
        )
    ]


def _table_column(
    item: exp.ColumnDef, target: _Target, constraints: list[Operation]
) -> ColumnDefinition:
    """A CREATE TABLE column; its REFERENCES and CHECK also become constraint operations."""
    column = _column(item, target.statement)
    name = column.definition.name
    if column.references is not None:
        refs_options = {k: v for k, v in column.options.items() if k.startswith("refer")}
        constraints.append(
            target.op(
                K.ADD_FOREIGN_KEY,
                columns=[name],
                references=column.references,
                options=refs_options,
            )
        )
    if "check" in column.options:
        constraints.append(
            target.op(K.ADD_CHECK, columns=[name], expression=column.options["check"])
        )
    return column.definition


def _mark_primary_key(columns: list[ColumnDefinition], constraints: list[Operation]) -> None:
    keys = {name for op in constraints if op.kind is K.ADD_PRIMARY_KEY for name in op.columns}
    for column in columns:
        if column.name in keys:
            column.primary_key = True
            column.nullable = False


def _create_index(node: exp.Expression, statement: _Statement) -> list[Operation]:
    index = _arg(node, "this")
    table = _arg(index, "table") if index else None
    if index is None or table is None:
        return [_raw(node, statement)]
    params = _arg(index, "params")
    where = _arg(params, "where") if params else None
    condition = _arg(where, "this") if where else None
    options: dict[str, Any] = {}
    using = _arg(params, "using") if params else None
    if using is not None:
        options["using"] = using.name
    if params is not None and _list(params, "include"):
        options["include"] = _names(_list(params, "include"), statement)
    return [
        _table_target(table, statement).op(
            K.ADD_INDEX,
            index=index.name or None,
            columns=_names(_list(params, "columns"), statement) if params else [],
            unique=bool(node.args.get("unique")),
            concurrently=bool(node.args.get("concurrently")),
            if_exists=node.args.get("exists"),
            where=statement.source(condition) if condition is not None else None,
            options=options,
        )
    ]


def _drop_index(node: exp.Expression, statement: _Statement) -> list[Operation]:
    on = _arg(node, "cluster")  # MySQL's DROP INDEX i ON t
    table = _arg(on, "this") if isinstance(on, exp.OnProperty) else None
    target = _table_target(table, statement) if table else _Target(statement, "")
    ops = []
    for index in _dropped(node):
        qualifiers = _qualifiers(index, "index_") if isinstance(index, exp.Table) else {}
        ops.append(
            target.op(
                K.DROP_INDEX,
                index=index.name,
                concurrently=bool(node.args.get("concurrently")),
                cascade=bool(node.args.get("cascade")),
                if_exists=node.args.get("exists"),
                options=qualifiers,
            )
        )
    return ops


def _drop_tables(node: exp.Expression, statement: _Statement) -> list[Operation]:
    kind = K.DROP_VIEW if _kind(node) == "VIEW" else K.DROP_TABLE
    options = {"materialized": True} if node.args.get("materialized") else {}
    return [
        _table_target(table, statement, **options).op(
            kind, cascade=bool(node.args.get("cascade")), if_exists=node.args.get("exists")
        )
        for table in _dropped(node)
    ]


def _truncate(node: exp.Expression, statement: _Statement) -> list[Operation]:
    cascade = str(node.args.get("option") or "").upper() == "CASCADE"
    restart = str(node.args.get("identity") or "").upper() == "RESTART"
    options = {"restart_identity": True} if restart else {}
    return [
        _table_target(table, statement, **options).op(K.TRUNCATE_TABLE, cascade=cascade)
        for table in node.expressions
        if isinstance(table, exp.Table)
    ]


def _create_view(node: exp.Expression, statement: _Statement) -> list[Operation]:
    view = _arg(node, "this")
    if isinstance(view, exp.Schema):  # CREATE VIEW v (a, b) AS ...
        view = _arg(view, "this")
    if view is None:
        return [_raw(node, statement)]
    options: dict[str, Any] = {}
    if node.args.get("replace"):
        options["replace"] = True
    properties = _arg(node, "properties")
    if properties is not None and properties.find(exp.MaterializedProperty):
        options["materialized"] = True
    query = _arg(node, "expression")
    return [
        _table_target(view, statement, **options).op(
            K.CREATE_VIEW,
            expression=query.sql(dialect=statement.reader.dialect) if query else None,
            if_exists=node.args.get("exists"),
        )
    ]


def _create_trigger(node: exp.Expression, statement: _Statement) -> list[Operation]:
    trigger = next(
        (
            n
            for n in node.walk()
            if isinstance(n, exp.Expression) and _node_name(n) == "TriggerProperties"
        ),
        None,
    )
    table = _arg(trigger, "table") if trigger else None
    name = _arg(node, "this")
    if trigger is None or table is None or name is None:
        return _trigger_from_tokens(statement)
    options: dict[str, Any] = {"trigger": name.name}
    if trigger.args.get("timing"):
        options["timing"] = str(trigger.args["timing"]).upper()
    events = [str(event.this).upper() for event in _list(trigger, "events")]
    if events:
        options["events"] = events
    return [_table_target(table, statement, **options).op(K.CREATE_TRIGGER)]


def _trigger_from_tokens(statement: _Statement) -> list[Operation]:
    """``CREATE ... TRIGGER [IF NOT EXISTS] name ... ON table ...``: name and table."""
    tokens, words = statement.tokens, _words(statement.tokens)
    if "TRIGGER" not in words:
        return [_raw(exp.Command(this="CREATE"), statement)]
    i = words.index("TRIGGER") + 1
    if_not_exists = words[i : i + 3] == ["IF", "NOT", "EXISTS"]
    i += 3 if if_not_exists else 0
    if i >= len(tokens) or "ON" not in words[i:]:
        return [_raw(exp.Command(this="CREATE"), statement)]
    name, _, _ = _dotted_name(tokens, i)
    on = words.index("ON", i) + 1
    if on >= len(tokens):
        return [_raw(exp.Command(this="CREATE"), statement)]
    table, schema, _ = _dotted_name(tokens, on)
    options = {"schema": schema} if schema else {}
    target = _Target(statement, table, {**options, "trigger": name}, if_not_exists)
    return [target.op(K.CREATE_TRIGGER)]


def _update(node: exp.Expression, statement: _Statement) -> list[Operation]:
    table = _arg(node, "this")
    if not isinstance(table, exp.Table):
        return [_raw(node, statement)]
    assignments = node.expressions
    columns: list[str] = []
    for assignment in assignments:
        assigned = _arg(assignment, "this")
        columns += _names(
            assigned.expressions if isinstance(assigned, exp.Tuple) else [assigned], statement
        )
    return [
        _table_target(table, statement).op(
            K.UPDATE_ROWS,
            columns=columns,
            expression=_set_clause(assignments, statement),
            where=_where(node, statement),
            options=_row_options(node, statement, "from_", "limit"),
        )
    ]


def _set_clause(assignments: list[Any], statement: _Statement) -> str:
    """The SET list as written when its ends are known, else as sqlglot renders it."""
    first = _span(_arg(assignments[0], "this")) if assignments else None
    last = _span(_arg(assignments[-1], "expression")) if assignments else None
    if first is not None and last is not None:
        return statement.text[first[0] : last[1]]
    return ", ".join(statement.source(assignment) for assignment in assignments)


def _delete(node: exp.Expression, statement: _Statement) -> list[Operation]:
    table = _arg(node, "this")
    if not isinstance(table, exp.Table):
        return [_raw(node, statement)]
    return [
        _table_target(table, statement).op(
            K.DELETE_ROWS,
            where=_where(node, statement),
            options=_row_options(node, statement, "using", "limit"),
        )
    ]


def _where(node: exp.Expression, statement: _Statement) -> str | None:
    where = _arg(node, "where")
    condition = _arg(where, "this") if where else None
    return statement.source(condition) if condition is not None else None


def _row_options(node: exp.Expression, statement: _Statement, *keys: str) -> dict[str, Any]:
    """UPDATE ... FROM, DELETE ... USING, MySQL's LIMIT (without the keyword)."""
    options: dict[str, Any] = {}
    for key in keys:
        value = node.args.get(key)
        parts = value if isinstance(value, list) else [value]
        rendered = [
            statement.source(_unwrapped(part)) for part in parts if isinstance(part, exp.Expression)
        ]
        if rendered:
            options[key.rstrip("_")] = ", ".join(rendered)
    return options


def _unwrapped(node: exp.Expression) -> exp.Expression:
    """``FROM o`` -> ``o``, ``LIMIT 5`` -> ``5``."""
    inner = _arg(node, "expression" if isinstance(node, exp.Limit) else "this")
    return inner if isinstance(node, exp.From | exp.Limit) and inner is not None else node


def _command(node: exp.Expression, statement: _Statement) -> list[Operation]:
    """Statements sqlglot reads only as a keyword and text."""
    first = _word(statement.tokens[0])
    if first == "ALTER":
        return _alter_table_command(statement)
    if first == "CREATE" and _created_object(statement.tokens, 0) == "TRIGGER":
        return _trigger_from_tokens(statement)
    if first == "RENAME":
        return _rename_tables(statement)
    return [_raw(node, statement)]


def _rename_tables(statement: _Statement) -> list[Operation]:
    """MySQL's ``RENAME TABLE a TO b [, c TO d]`` (sqlglot keeps the rest as one string)."""
    rest = statement.text[statement.tokens[0].end + 1 : statement.tokens[-1].end + 1]
    try:
        tokens = statement.reader.dialect.tokenize(rest)
    except TokenError:
        return [_raw(exp.Command(this="RENAME"), statement)]
    ops = []
    for pair in _split_commas(tokens[1:] if _words(tokens[:1]) == ["TABLE"] else []):
        old, old_schema, i = _dotted_name(pair, 0)
        if _words(pair[i : i + 1]) != ["TO"] or i + 1 >= len(pair):
            return [_raw(exp.Command(this="RENAME"), statement)]
        new, new_schema, _ = _dotted_name(pair, i + 1)
        options = {"schema": old_schema, "new_schema": new_schema}
        target = _Target(statement, old, {k: v for k, v in options.items() if v})
        ops.append(target.op(K.RENAME_TABLE, new_name=new))
    return ops or [_raw(exp.Command(this="RENAME"), statement)]


_STATEMENTS: dict[tuple[str, str], Callable[[Any, _Statement], list[Operation]]] = {
    ("Alter", "TABLE"): _alter_table,
    ("Create", "TABLE"): _create_table,
    ("Create", "INDEX"): _create_index,
    ("Create", "VIEW"): _create_view,
    ("Create", "TRIGGER"): _create_trigger,
    ("Drop", "TABLE"): _drop_tables,
    ("Drop", "VIEW"): _drop_tables,
    ("Drop", "INDEX"): _drop_index,
    ("TruncateTable", ""): _truncate,
    ("Update", ""): _update,
    ("Delete", ""): _delete,
    ("Command", ""): _command,
}
