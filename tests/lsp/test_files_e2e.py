"""The language server on JSON and YAML workflow files, end to end over stdio."""

from __future__ import annotations

import asyncio
import json
import textwrap
from collections.abc import Sequence
from typing import Any

import pytest
import yaml
from lsprotocol import types

from .conftest import MODELS, Session, position

pytestmark = pytest.mark.asyncio(loop_scope="function")

FORMATS = ["json", "yaml"]
CARET = "‸"  # where the cursor is in a marker


# -- helpers ------------------------------------------------------------------------------


def render(fmt: str, definition: dict[str, Any]) -> str:
    """A workflow file's text, as people write it in each format."""
    if fmt == "json":
        return json.dumps(definition, indent=2, ensure_ascii=False) + "\n"
    return yaml.safe_dump(definition, sort_keys=False, allow_unicode=True, width=1000)


def written(fmt: str, value: str) -> str:
    """How a string is written in a file: quoted in JSON, plain in YAML."""
    return json.dumps(value, ensure_ascii=False) if fmt == "json" else value


def offset(text: str, pos: types.Position) -> int:
    """The string index of an LSP position (UTF-16 code units)."""
    start = 0
    for _ in range(pos.line):
        start = text.index("\n", start) + 1
    units = 0
    i = start
    while units < pos.character:
        units += 2 if ord(text[i]) > 0xFFFF else 1
        i += 1
    return i


def range_text(text: str, rng: types.Range) -> str:
    return text[offset(text, rng.start) : offset(text, rng.end)]


def span_text(text: str, rng: types.Range) -> str:
    """The text of a range on one line."""
    assert rng.start.line == rng.end.line, rng
    return range_text(text, rng)


def find(text: str, token: str, nth: int = 0) -> int:
    """Where the ``nth`` occurrence of ``token`` starts (a string index)."""
    at = -1
    for _ in range(nth + 1):
        at = text.index(token, at + 1)
    return at


def start_of(text: str, token: str, nth: int = 0) -> types.Position:
    """Where the ``nth`` occurrence of ``token`` starts (an LSP position)."""
    at = find(text, token, nth)
    line_start = text.rfind("\n", 0, at) + 1
    units = len(text[line_start:at].encode("utf-16-le")) // 2
    return types.Position(text.count("\n", 0, at), units)


def apply(text: str, edits: list[types.TextEdit]) -> str:
    """The text after a list of edits (in LSP terms: positions before any edit)."""
    spans = sorted(
        ((offset(text, e.range.start), offset(text, e.range.end), e.new_text) for e in edits),
        reverse=True,
    )
    for start, end, new in spans:
        text = text[:start] + new + text[end:]
    return text


def names_of(fmt: str, *names: str) -> list[str]:
    return [written(fmt, name) for name in names]


def by_code(diags: list[types.Diagnostic], code: str) -> types.Diagnostic:
    found = [d for d in diags if d.code == code]
    assert found, f"no {code} in {[(d.code, d.message) for d in diags]}"
    return found[0]


def has(code: str) -> Any:
    return lambda diags: any(d.code == code for d in diags)


def _items(
    result: types.CompletionList | Sequence[types.CompletionItem],
) -> list[types.CompletionItem]:
    return list(result.items if isinstance(result, types.CompletionList) else result)


def at_mark(text: str, marker: str) -> types.Position:
    """The position of ``‸`` in the first occurrence of ``marker`` (without its ``‸``);
    after the marker when it has none."""
    if CARET not in marker:
        return position(text, marker)
    bare = marker.replace(CARET, "")
    return position(text, bare, marker.index(CARET) - len(bare))


async def complete(lsp: Session, uri: str, text: str, marker: str) -> list[types.CompletionItem]:
    result = await lsp.client.text_document_completion_async(
        types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri), position=at_mark(text, marker)
        )
    )
    assert result is not None, marker
    return _items(result)


async def labels(lsp: Session, uri: str, text: str, marker: str) -> set[str]:
    return {i.label for i in await complete(lsp, uri, text, marker)}


async def actions_for(lsp: Session, uri: str, d: types.Diagnostic) -> list[types.CodeAction]:
    result = await lsp.client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri),
            range=d.range,
            context=types.CodeActionContext(diagnostics=[d]),
        )
    )
    return [a for a in result or [] if isinstance(a, types.CodeAction)]


def edits_of(action: types.CodeAction, uri: str) -> list[types.TextEdit]:
    assert action.edit is not None and action.edit.changes is not None, action
    return list(action.edit.changes[uri])


# -- diagnostics --------------------------------------------------------------------------

BAD: dict[str, Any] = {
    "nodes": [
        {"id": "a", "type": "UserCreatNode", "params": {"name": "x"}},
        {"id": "b", "type": "OrderCountNode", "params": {}},
        {"id": "c", "type": "UserCreateNode", "params": {"name": "Cy"}},
        {
            "id": "l",
            "type": "UserListNode",
            "params": {
                "filter": {"$or": [{"age": 1}, {"agee": 3}]},
                "limit": "ten",
                "order_by": ["-nmae"],
            },
        },
        {
            "id": "m",
            "type": "UserListNode",
            "params": {"filter": {"age": {"$gtt": 3}}, "colour": "red"},
        },
        {
            "id": "u",
            "type": "UserUpdateNode",
            "params": {"id": 1, "fields": {"$set": {"emali": 2}}},
        },
        {"id": "m", "type": "UserCountNode", "params": {}},
    ],
    "connections": [
        {"from": "zz.id", "to": "l.filter.id"},
        {"from": "b.idd", "to": "l.filter.id"},
        {"from": "l.count", "to": "u.id"},
        {"from": "u.id", "to": "l.offset"},
        {"from": "l.count", "to": "m.nope"},
    ],
    "conections": [],
}


@pytest.mark.parametrize("fmt", FORMATS)
async def test_each_kind_of_problem_has_its_code_and_exact_range(lsp: Session, fmt: str) -> None:
    text = render(fmt, BAD)
    uri = await lsp.open(f"bad.{fmt}", text)
    diags = await lsp.settle(uri, has("DF-WORKFLOW-CYCLE"))
    expect = {
        "DF-NODE-UNKNOWN-TYPE": written(fmt, "UserCreatNode"),
        "DF-PARAM-UNKNOWN": written(fmt, "colour"),
        "DF-PARAM-MISSING": written(fmt, "UserCreateNode"),
        "DF-PARAM-TYPE": written(fmt, "ten"),
        "DF-FILTER-UNKNOWN-OPERATOR": written(fmt, "$gtt"),
        "DF-WORKFLOW-DUPLICATE-ID": written(fmt, "m"),
        "DF-CONNECTION-UNKNOWN-NODE": "zz",
        "DF-CONNECTION-UNKNOWN-OUTPUT": "idd",
        "DF-CONNECTION-UNKNOWN-INPUT": "nope",
        "DF-WORKFLOW-UNKNOWN-KEY": written(fmt, "conections"),
    }
    for code, text_of in expect.items():
        d = by_code(diags, code)
        assert span_text(text, d.range) == text_of, (code, d)
        assert d.source == "dataflow"
        assert d.severity == types.DiagnosticSeverity.Error
    assert "did you mean 'UserCreateNode'" in by_code(diags, "DF-NODE-UNKNOWN-TYPE").message
    assert "'email'" in by_code(diags, "DF-PARAM-MISSING").message
    assert "did you mean 'connections'" in by_code(diags, "DF-WORKFLOW-UNKNOWN-KEY").message
    # the second node "m" is the duplicate, not the first
    duplicate = by_code(diags, "DF-WORKFLOW-DUPLICATE-ID")
    second_m = '"id": "m"' if fmt == "json" else "id: m"
    value_at = find(text, second_m, nth=1) + len(second_m) - len(written(fmt, "m"))
    assert offset(text, duplicate.range.start) == value_at
    # a filter field in an $or branch, an update document's field, an order_by item
    fields = [d for d in diags if d.code == "DF-FILTER-UNKNOWN-FIELD"]
    assert sorted(span_text(text, d.range) for d in fields) == sorted(
        written(fmt, name) for name in ("agee", "-nmae", "emali")
    )
    for d in fields:
        assert d.range.start == start_of(text, span_text(text, d.range))
    # the cycle is shown on the connections
    cycle = by_code(diags, "DF-WORKFLOW-CYCLE")
    assert "l -> u" in cycle.message
    assert yaml.safe_load(range_text(text, cycle.range)) == BAD["connections"]
    # nothing else
    others = ["DF-FILTER-UNKNOWN-FIELD"] * 3 + ["DF-WORKFLOW-CYCLE"]
    assert sorted(str(d.code) for d in diags) == sorted([*expect, *others])


NOT_WORKFLOWS = {
    # not workflows, and not even valid: still nothing to say about them
    "json": ("package.json", '{"name": "app", "scripts": {"test": "jest",},}\n', '{"te'),
    "yaml": ("docker-compose.yml", "services:\n  web:\n    image: nginx\n    ports: [80\n", "ima"),
}


@pytest.mark.parametrize("fmt", FORMATS)
async def test_a_valid_workflow_and_files_that_are_not_workflows_have_no_diagnostics(
    lsp: Session, fmt: str
) -> None:
    name, other, marker = NOT_WORKFLOWS[fmt]
    other_uri = await lsp.open(name, other)
    good = {
        "nodes": [
            {"id": "create", "type": "UserCreateNode", "params": {"name": "A", "email": "a@x"}},
            {"id": "find", "type": "UserListNode", "params": {"filter": {"age": {"$gte": 18}}}},
        ],
        "connections": [{"from": "create.id", "to": "find.filter.id"}],
    }
    uri = await lsp.open(f"flow.{fmt}", render(fmt, good))
    assert await lsp.settle(uri, lambda d: d == []) == []
    assert list(lsp.client.diagnostics.get(other_uri, [])) == []
    # nor anything to complete there
    result = await lsp.client.text_document_completion_async(
        types.CompletionParams(types.TextDocumentIdentifier(other_uri), position(other, marker))
    )
    assert result is None or _items(result) == []


SYNTAX = {
    "json": textwrap.dedent(
        """\
        {
          "nodes": [
            {"id": "a", "type": "UserListNode", "params": {"filter": {"agee": 3}}}
            {"id": "b", "type": "UserCountNode", "params": {"filter": {"stat": "x"}}}
          ]
        }
        """
    ),
    "yaml": textwrap.dedent(
        """\
        nodes:
          - id: a
            type: UserListNode
            params:
              filter: {agee: 3}
              oops
          - id: b
            type: UserCountNode
            params: {filter: {stat: x}}
        """
    ),
}


@pytest.mark.parametrize("fmt", FORMATS)
async def test_a_syntax_error_is_reported_and_the_rest_is_still_checked(
    lsp: Session, fmt: str
) -> None:
    text = SYNTAX[fmt]
    uri = await lsp.open(f"broken.{fmt}", text)
    diags = await lsp.settle(uri, has("DF-WORKFLOW-SYNTAX"))
    syntax = by_code(diags, "DF-WORKFLOW-SYNTAX")
    bad = '{"id": "b"' if fmt == "json" else "oops"
    assert syntax.range.start == start_of(text, bad)
    assert span_text(text, syntax.range) == ("{" if fmt == "json" else "oops")
    assert syntax.message
    fields = [d for d in diags if d.code == "DF-FILTER-UNKNOWN-FIELD"]
    assert [span_text(text, d.range) for d in fields] == [
        written(fmt, "agee"),
        written(fmt, "stat"),
    ]


@pytest.mark.parametrize("fmt", FORMATS)
async def test_ranges_count_utf16_units_after_non_ascii_text(lsp: Session, fmt: str) -> None:
    if fmt == "json":
        text = (
            '{"nodes": [{"id": "é😀", "type": "UserCreateNode",\n'
            '  "params": {"name": "Zoë 😀😀", "email": "z@x", "agee": 1, "st": 2}}],\n'
            ' "connections": [{"from": "é😀.id", "to": "😀😀.name"}]}\n'
        )
        before = '"z@x", '
    else:
        text = (
            "nodes:\n  - id: é😀\n    type: UserCreateNode\n"
            '    params: {name: "Zoë 😀😀", email: z@x, agee: 1, st: 2}\n'
            "connections: [{from: é😀.id, to: 😀😀.name}]\n"
        )
        before = "email: z@x, "
    uri = await lsp.open(f"unicode.{fmt}", text)
    diags = await lsp.settle(uri, has("DF-PARAM-UNKNOWN-FIELD"))
    unknown = [d for d in diags if d.code == "DF-PARAM-UNKNOWN-FIELD"]
    d = next(d for d in unknown if "agee" in d.message)
    assert d.range.start == position(text, before)
    assert d.range.end == position(text, before + written(fmt, "agee"))
    # astral characters inside the range count two units each
    node = by_code(diags, "DF-CONNECTION-UNKNOWN-NODE")
    assert node.range == types.Range(
        position(text, "to: " if fmt == "yaml" else '"to": "'),
        position(text, "😀😀.name", -len(".name")),
    )
    assert span_text(text, node.range) == "😀😀"
    # positions coming from the client are read in UTF-16 units too
    marker = '"st‸"' if fmt == "json" else "st‸: 2"
    [item] = [i for i in await complete(lsp, uri, text, marker) if i.label == "status"]
    assert isinstance(item.text_edit, types.TextEdit)
    typed = before + written(fmt, "agee") + ": 1, " + ('"' if fmt == "json" else "")
    assert item.text_edit.range.start == position(text, typed)
    assert span_text(text, item.text_edit.range) == "st"


# -- completion ---------------------------------------------------------------------------

COMPLETE = {
    "json": textwrap.dedent(
        """\
        {
          "nodes": [
            {"id": "new", "type": "Us"},
            {"id": "create", "type": "UserCreateNode", "params": {"name": "a", "email": "b"}},
            {"id": "l", "type": "UserListNode",
             "params": {"fi": 1, "filter": {"a": 1, "age": {"$g": 1}, "$or": [{"st": 1}]},
                        "order_by": ["-a"]}},
            {"id": "u", "type": "UserUpdateNode",
             "params": {"id": 1, "fields": {"$s": 1, "$set": {"e": 1}}}},
            {"id": "bulk", "type": "OrderBulkCreateNode", "params": {"data": [{"to": 1}]}},
            {"id": "x", "ty": 1}
          ],
          "connections": [
            {"from": "l.rec", "to": "u.fil"},
            {"from": "create.", "to": "bu"},
            {"fr": 1}
          ]
        }
        """
    ),
    "yaml": textwrap.dedent(
        """\
        nodes:
          - id: new
            type: Us
          - id: create
            type: UserCreateNode
            params: {name: a, email: b}
          - id: l
            type: UserListNode
            params:
              fi: 1
              filter:
                a: 1
                age: {$g: 1}
                $or:
                  - st: 1
              order_by: [-a]
          - id: u
            type: UserUpdateNode
            params:
              id: 1
              fields:
                $s: 1
                $set: {e: 1}
          - id: bulk
            type: OrderBulkCreateNode
            params:
              data:
                - to: 1
          - id: x
            ty: 1
        connections:
          - from: l.rec
            to: u.fil
          - from: create.
            to: bu
          - fr: 1
        """
    ),
}
MARKERS = {
    "json": {
        "type": '"type": "Us‸"',
        "param": '{"fi‸"',
        "field": '"filter": {"a‸"',
        "operator": '{"$g‸"',
        "or": '[{"st‸"',
        "order_by": '["-a‸"',
        "update": '{"$s‸"',
        "set": '{"e‸"',
        "record": '[{"to‸"',
        "output": '"l.rec‸"',
        "input": '"u.fil‸"',
        "create.": '"create.‸"',
        "node": '"bu‸"',
        "node_key": '"ty‸": 1',
        "connection_key": '"fr‸": 1',
    },
    "yaml": {
        "type": "type: Us‸",
        "param": "fi‸: 1",
        "field": "\n        a‸: 1",
        "operator": "{$g‸",
        "or": "- st‸",
        "order_by": "[-a‸",
        "update": "$s‸: 1",
        "set": "{e‸",
        "record": "- to‸",
        "output": "l.rec‸",
        "input": "u.fil‸",
        "create.": "create.‸",
        "node": "to: bu‸",
        "node_key": "ty‸: 1",
        "connection_key": "fr‸: 1",
    },
}


@pytest.mark.parametrize("fmt", FORMATS)
async def test_completion_in_every_slot(lsp: Session, fmt: str) -> None:
    text = COMPLETE[fmt]
    uri = await lsp.open(f"complete.{fmt}", text)
    await lsp.settle(uri, lambda d: uri in lsp.client.diagnostics)
    at = MARKERS[fmt]

    node_types = await complete(lsp, uri, text, at["type"])
    assert {"UserCreateNode", "OrderListNode", "UserBulkUpsertNode"} <= {
        i.label for i in node_types
    }
    create = next(i for i in node_types if i.label == "UserCreateNode")
    assert isinstance(create.text_edit, types.TextEdit)
    assert create.text_edit.new_text == "UserCreateNode"  # typed inside a string / plain
    assert span_text(text, create.text_edit.range) == "Us"
    assert create.documentation is not None  # the parameter table

    params = await labels(lsp, uri, text, at["param"])
    assert {"limit", "offset", "cursor", "with_total"} <= params
    assert "filter" not in params and "order_by" not in params  # already given
    fields = await labels(lsp, uri, text, at["field"])
    assert {"age", "email", "status", "$or", "$and", "$not"} <= fields
    operators = await labels(lsp, uri, text, at["operator"])
    assert {"$gt", "$gte", "$in", "$regex"} <= operators and "age" not in operators
    in_or = await labels(lsp, uri, text, at["or"])
    assert {"status", "age", "$or"} <= in_or and "$gte" not in in_or
    order = await labels(lsp, uri, text, at["order_by"])
    assert {"age", "-age", "name", "-name"} <= order
    update = await labels(lsp, uri, text, at["update"])
    assert {"$set", "$inc", "$unset", "email"} <= update
    set_fields = await labels(lsp, uri, text, at["set"])
    assert {"email", "name"} <= set_fields
    assert "created_at" not in set_fields and "$set" not in set_fields
    record = await labels(lsp, uri, text, at["record"])
    assert {"total", "user_id", "note"} <= record and "id" not in record

    outputs = await labels(lsp, uri, text, at["output"])
    assert {"l.records", "l.records.0.id", "l.count"} <= outputs
    inputs = await labels(lsp, uri, text, at["input"])
    assert {"u.filter", "u.filter.email", "u.id", "u.fields"} <= inputs
    created = await labels(lsp, uri, text, at["create."])
    assert {"create.id", "create.name", "create.email"} <= created
    nodes = await labels(lsp, uri, text, at["node"])
    assert nodes == {"new.", "create.", "l.", "u.", "bulk.", "x."}

    assert await labels(lsp, uri, text, at["node_key"]) == {"type", "params"}
    assert await labels(lsp, uri, text, at["connection_key"]) == {"from", "to"}


@pytest.mark.parametrize("fmt", FORMATS)
async def test_completion_of_a_new_files_keys(lsp: Session, fmt: str) -> None:
    text = "{}\n" if fmt == "json" else "\n"
    uri = await lsp.open(f"new.{fmt}", text)
    items = await complete(lsp, uri, text, "{" if fmt == "json" else "")
    assert {i.label for i in items} == {"nodes", "connections"}
    item = next(i for i in items if i.label == "nodes")
    assert isinstance(item.text_edit, types.TextEdit)
    assert item.text_edit.new_text == ('"nodes"' if fmt == "json" else "nodes")
    # a workflow file that has nodes is offered its connections
    text = '{"nodes": [], "c"}\n' if fmt == "json" else "nodes: []\nc\n"
    await lsp.change(uri, text)
    items = await complete(lsp, uri, text, '"c' if fmt == "json" else "\nc")
    assert {i.label for i in items} == {"connections"}


async def test_json_completion_quotes_only_outside_strings(lsp: Session) -> None:
    def edit_of(items: list[types.CompletionItem], label: str) -> types.TextEdit:
        [item] = [i for i in items if i.label == label]
        assert isinstance(item.text_edit, types.TextEdit)
        return item.text_edit

    text = '{"nodes": [{"id": "n", "type": Us, "params": {"filter": {"a": 1}}}]}\n'
    uri = await lsp.open("quotes.json", text)
    edit = edit_of(await complete(lsp, uri, text, '"type": Us'), "UserListNode")
    assert edit.new_text == '"UserListNode"'
    assert span_text(text, edit.range) == "Us"
    edit = edit_of(await complete(lsp, uri, text, '"type": ‸Us'), "UserListNode")
    assert edit.new_text == '"UserListNode"'
    text = '{"nodes": [{"id": "n", "type": }]}\n'
    await lsp.change(uri, text)
    edit = edit_of(await complete(lsp, uri, text, '"type": '), "UserListNode")
    assert edit.new_text == '"UserListNode"'
    assert span_text(text, edit.range) == ""

    text = '{"nodes": [{"id": "n", "type": "UserListNode", "params": {"filter": {}}}]}\n'
    await lsp.change(uri, text)
    edit = edit_of(await complete(lsp, uri, text, '"filter": {'), "age")
    assert edit.new_text == '"age"'
    assert span_text(text, edit.range) == ""
    edit = edit_of(await complete(lsp, uri, text, '"type": "User'), "UserListNode")
    assert edit.new_text == "UserListNode"
    assert span_text(text, edit.range) == "UserListNode"

    text = '{"nodes": [{"id": "n", "type": "UserListNode", "params": {"filter": {"ag"}}}]}\n'
    await lsp.change(uri, text)
    edit = edit_of(await complete(lsp, uri, text, '{"ag'), "age")
    assert edit.new_text == "age"
    assert span_text(text, edit.range) == "ag"
    text = '{"nodes": [{"id": "n", "type": "UserListNode"}], "connections": [{"from": n}]}\n'
    await lsp.change(uri, text)
    edit = edit_of(await complete(lsp, uri, text, '"from": n'), "n.")
    assert edit.new_text == '"n."'


# -- hover, code actions, definition, symbols --------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
async def test_hover_explains_node_types_operators_and_fields(lsp: Session, fmt: str) -> None:
    definition = {
        "nodes": [
            {
                "id": "l",
                "type": "UserListNode",
                "params": {"filter": {"status": {"$in": ["active"]}}, "limit": 5},
            }
        ]
    }
    text = render(fmt, definition)
    uri = await lsp.open(f"hover.{fmt}", text)
    await lsp.settle(uri, lambda d: d == [])

    async def hover_at(token: str) -> tuple[str, str]:
        result = await lsp.client.text_document_hover_async(
            types.HoverParams(types.TextDocumentIdentifier(uri), position(text, token, -2))
        )
        assert result is not None, token
        assert isinstance(result.contents, types.MarkupContent)
        assert result.range is not None
        return result.contents.value, span_text(text, result.range)

    node, where = await hover_at(written(fmt, "UserListNode"))
    assert "UserListNode" in node and "| `limit`" in node and "| `filter`" in node
    assert "records" in node and where == written(fmt, "UserListNode")
    operator, where = await hover_at(written(fmt, "$in"))
    assert "equal to one of" in operator and where == written(fmt, "$in")
    field, where = await hover_at(written(fmt, "status"))
    assert "User.status" in field and "'active'" in field and "'blocked'" in field
    assert where == written(fmt, "status")
    param, _ = await hover_at(written(fmt, "limit"))
    assert "**limit**" in param


@pytest.mark.parametrize("fmt", FORMATS)
async def test_change_to_fixes_misspelt_names(lsp: Session, fmt: str) -> None:
    text = render(
        fmt,
        {
            "nodes": [
                {
                    "id": "list",
                    "type": "UserListNode",
                    "params": {"filter": {"$or": [{"agee": 3}]}, "order_by": "-nmae"},
                },
                {"id": "c", "type": "UserCountNod", "parms": {}},
            ],
            "conections": [{"from": "lst.count", "to": "c.filter.age"}],
        },
    )
    uri = await lsp.open(f"fix.{fmt}", text)
    diags = await lsp.settle(uri, lambda d: len(d) == 5)
    # the connections are only checked once they are read: a second round of fixes
    rounds = [
        names_of(fmt, "connections", "params", "UserCountNode", "age", "-name"),
        ["list"],  # the node part of an endpoint, inside its string
    ]
    for names in rounds:
        edits = []
        for d in diags:
            fixes = [a for a in await actions_for(lsp, uri, d) if a.title.startswith("Change to")]
            assert fixes, d
            fix = fixes[0]
            assert fix.is_preferred and fix.kind == types.CodeActionKind.QuickFix
            [edit] = edits_of(fix, uri)
            assert edit.range == d.range
            assert fix.title == f"Change to '{edit.new_text.strip(chr(34)).lstrip('-')}'"
            edits.append(edit)
        # a name is replaced as it is written: quoted in JSON, its sign kept
        assert sorted(e.new_text for e in edits) == sorted(names)
        text = apply(text, edits)
        await lsp.change(uri, text)
        if names == ["list"]:
            diags = await lsp.settle(uri, lambda d: d == [])
        else:
            diags = await lsp.settle(uri, has("DF-CONNECTION-UNKNOWN-NODE"))
            assert [span_text(text, d.range) for d in diags] == ["lst"]
    assert yaml.safe_load(text) == {
        "nodes": [
            {
                "id": "list",
                "type": "UserListNode",
                "params": {"filter": {"$or": [{"age": 3}]}, "order_by": "-name"},
            },
            {"id": "c", "type": "UserCountNode", "params": {}},
        ],
        "connections": [{"from": "list.count", "to": "c.filter.age"}],
    }


MISSING = {
    "json": [
        '{"nodes": [\n  {"id": "c", "type": "UserCreateNode", "params": {"name": "x"}}\n]}\n',
        '{"nodes": [\n  {"id": "c", "type": "UserCreateNode", "params": {}}\n]}\n',
    ],
    "yaml": [
        "nodes:\n  - id: c\n    type: UserCreateNode\n    params:\n      name: x\n",
        "nodes:\n  - id: c\n    type: UserCreateNode\n    params: {name: x}\n",
        "nodes:\n  - id: c\n    type: UserCreateNode\n    params: {}\n",
    ],
}


@pytest.mark.parametrize("fmt", FORMATS)
async def test_add_the_missing_required_parameters(lsp: Session, fmt: str) -> None:
    for n, text in enumerate(MISSING[fmt]):
        uri = await lsp.open(f"missing{n}.{fmt}", text)
        diags = await lsp.settle(uri, has("DF-PARAM-MISSING"))
        missing = by_code(diags, "DF-PARAM-MISSING")
        assert span_text(text, missing.range) == written(fmt, "UserCreateNode")
        [add] = [
            a
            for a in await actions_for(lsp, uri, missing)
            if a.title == "Add the missing required parameters"
        ]
        fixed = apply(text, edits_of(add, uri))
        params = yaml.safe_load(fixed)["nodes"][0]["params"]
        assert set(params) == {"name", "email"}, fixed
        await lsp.change(uri, fixed)
        diags = await lsp.settle(uri, lambda d: not has("DF-PARAM-MISSING")(d))
        assert diags == [], fixed


@pytest.mark.parametrize("fmt", FORMATS)
async def test_definition_and_symbols(lsp: Session, fmt: str) -> None:
    definition = {
        "nodes": [
            {"id": "create", "type": "UserCreateNode", "params": {"name": "a", "email": "b"}},
            {"id": "orders", "type": "OrderListNode", "params": {"limit": 5}},
        ],
        "connections": [{"from": "create.id", "to": "orders.filter.user_id"}],
    }
    text = render(fmt, definition)
    uri = await lsp.open(f"nav.{fmt}", text)
    await lsp.settle(uri, lambda d: d == [])

    async def definition_at(token: str, delta: int) -> types.Location:
        result = await lsp.client.text_document_definition_async(
            types.DefinitionParams(types.TextDocumentIdentifier(uri), position(text, token, delta))
        )
        assert isinstance(result, types.Location), token
        return result

    model = await definition_at("OrderListNode", -3)
    assert model.uri == lsp.uri("models.py")
    line = MODELS.split("\n").index("class Order:")
    assert model.range == types.Range(types.Position(line, 6), types.Position(line, 11))
    user = await definition_at("UserCreateNode", -3)
    assert user.range.start.line == MODELS.split("\n").index("class User:")

    orders = await definition_at("orders.filter", -len(".filter") - 2)
    assert orders.uri == uri
    assert orders.range.start == start_of(text, written(fmt, "orders"))
    assert span_text(text, orders.range) == written(fmt, "orders")
    create = await definition_at("create.id", -len(".id") - 1)
    assert create.range.start == start_of(text, written(fmt, "create"))

    symbols = await lsp.client.text_document_document_symbol_async(
        types.DocumentSymbolParams(types.TextDocumentIdentifier(uri))
    )
    assert symbols is not None
    [workflow] = symbols
    assert isinstance(workflow, types.DocumentSymbol) and workflow.children is not None
    assert workflow.name == "workflow"
    assert [(c.name, c.detail) for c in workflow.children] == [
        ("create", "UserCreateNode"),
        ("orders", "OrderListNode"),
    ]
    for child in workflow.children:
        assert span_text(text, child.selection_range) == written(fmt, child.name)
        node = range_text(text, child.range)
        assert node.startswith("{" if fmt == "json" else "id: "), node
        assert written(fmt, str(child.detail)) in node


# -- large files, pulled diagnostics, models ---------------------------------------------


def big(fmt: str, typo: bool) -> str:
    """A workflow file of over 2,000 lines; with ``typo``, a misspelt field near its end."""

    def node(n: int) -> dict[str, Any]:
        params = {"filter": {"age": {"$gte": n}}, "limit": 10}
        return {"id": f"list{n}", "type": "UserListNode", "params": params}

    one, two = (render(fmt, {"nodes": [node(n) for n in range(k)]}) for k in (1, 2))
    lines = two.count("\n") - one.count("\n")
    nodes = [node(n) for n in range(2000 // lines + 2)]
    if typo:
        nodes[-2]["params"]["filter"] = {"agee": {"$gte": 1}}
    connections = [{"from": f"list{n}.count", "to": f"list{n + 1}.offset"} for n in range(50)]
    return render(fmt, {"nodes": nodes, "connections": connections})


@pytest.mark.parametrize("fmt", FORMATS)
async def test_a_two_thousand_line_file(lsp: Session, fmt: str) -> None:
    text = big(fmt, typo=True)
    assert text.count("\n") >= 2000
    uri = await lsp.open(f"big.{fmt}", text)
    [d] = await lsp.settle(uri, lambda d: len(d) == 1)
    assert d.code == "DF-FILTER-UNKNOWN-FIELD"
    assert d.range.start == start_of(text, written(fmt, "agee"))
    assert d.range.start.line > 1900
    await lsp.change(uri, big(fmt, typo=False))
    assert await lsp.settle(uri, lambda d: d == []) == []


async def test_pulled_diagnostics_are_answered_and_never_pushed(pull_lsp: Session) -> None:
    lsp = pull_lsp

    async def pull(uri: str) -> list[types.Diagnostic]:
        report = await lsp.client.text_document_diagnostic_async(
            types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri))
        )
        assert isinstance(report, types.RelatedFullDocumentDiagnosticReport)
        return list(report.items)

    docs: dict[str, tuple[str, str]] = {}
    for fmt in FORMATS:
        text = render(
            fmt,
            {"nodes": [{"id": "l", "type": "UserListNode", "params": {"filter": {"agee": 1}}}]},
        )
        docs[fmt] = (await lsp.open(f"pulled.{fmt}", text), text)
    for fmt, (uri, text) in docs.items():
        [d] = await pull(uri)
        assert d.code == "DF-FILTER-UNKNOWN-FIELD"
        assert span_text(text, d.range) == written(fmt, "agee")
    uri, text = docs["json"]
    await lsp.change(uri, text.replace('"agee"', '"age"'))
    assert await pull(uri) == []
    await asyncio.sleep(0.3)  # time for anything the server might still push
    assert lsp.client.diagnostics == {}


async def test_models_stay_current_as_the_models_file_changes(lsp: Session) -> None:
    definition = {
        "nodes": [{"id": "l", "type": "UserListNode", "params": {"filter": {"nickname": "a"}}}]
    }
    uris = []
    for fmt in FORMATS:
        uri = await lsp.open(f"flow.{fmt}", render(fmt, definition))
        await lsp.settle(uri, has("DF-FILTER-UNKNOWN-FIELD"))
        uris.append(uri)
    models_uri = lsp.uri("models.py")
    models = (lsp.root / "models.py").read_text(encoding="utf-8")
    await lsp.open("models.py", models)
    await lsp.change(
        models_uri,
        models.replace("    email: str\n", "    email: str\n    nickname: str | None = None\n"),
    )
    for uri in uris:
        assert await lsp.settle(uri, lambda d: d == []) == []
    await lsp.change(models_uri, models)  # the field is gone again
    for uri in uris:
        await lsp.settle(uri, has("DF-FILTER-UNKNOWN-FIELD"))
