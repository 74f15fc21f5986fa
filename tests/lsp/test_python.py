"""The language server on Python files, end to end over stdio."""

from __future__ import annotations

import textwrap

import pytest
from lsprotocol import types

from .conftest import MODELS, Session, position

pytestmark = pytest.mark.asyncio(loop_scope="function")

GOOD = textwrap.dedent(
    """\
    from dataflow_engine import WorkflowBuilder

    def build(min_age):
        wf = WorkflowBuilder()
        wf.add_node("UserCreateNode", "create", {"name": "Ada", "email": "ada@example.com"})
        wf.add_node("UserListNode", "adults", {"filter": {"age": {"$gte": min_age}}, "limit": 10})
        wf.add_connection("create", "id", "adults", "filter.id")
        return wf
    """
)


def span_text(text: str, rng: types.Range) -> str:
    lines = text.split("\n")
    assert rng.start.line == rng.end.line, rng
    line = lines[rng.start.line].encode("utf-16-le")
    return line[rng.start.character * 2 : rng.end.character * 2].decode("utf-16-le")


def by_code(diags: list[types.Diagnostic], code: str) -> types.Diagnostic:
    found = [d for d in diags if d.code == code]
    assert found, f"no {code} in {[(d.code, d.message) for d in diags]}"
    return found[0]


async def test_a_valid_workflow_has_no_diagnostics_and_variables_are_not_errors(
    lsp: Session,
) -> None:
    uri = await lsp.open("flow.py", GOOD)
    # the published list for the document exists and stays empty once models are read
    diags = await lsp.settle(uri, lambda d: uri in lsp.client.diagnostics and d == [])
    assert diags == []


async def test_each_kind_of_problem_is_reported_with_its_code_and_exact_range(
    lsp: Session,
) -> None:
    text = textwrap.dedent(
        """\
        from dataflow_engine import WorkflowBuilder

        wf = WorkflowBuilder()
        wf.add_node("UserCreatNode", "a", {"name": "x"})
        wf.add_node("UserCreateNode", "b", {"name": "Bo", "emial": "b@x.org"})
        wf.add_node("UserListNode", "c", {"filter": {"agee": 3}, "limit": "ten"})
        wf.add_node("UserListNode", "d", {"filter": {"age": {"$gtt": 3}}, "order_by": ["-nmae"]})
        wf.add_node("UserUpdateNode", "e", {"id": 1, "fields": {"$set": {"emali": "x"}}})
        wf.add_node("UserCountNode", "d", {})
        wf.add_connection("zz", "id", "c", "filter.id")
        wf.add_connection("b", "idd", "c", "filter.id")
        wf.add_connection("c", "count", "e", "id")
        wf.add_connection("e", "id", "c", "offset")
        """
    )
    uri = await lsp.open("bad.py", text)
    diags = await lsp.settle(uri, lambda d: any(x.code == "DF-WORKFLOW-CYCLE" for x in d))
    expect = {
        "DF-NODE-UNKNOWN-TYPE": '"UserCreatNode"',
        "DF-PARAM-UNKNOWN-FIELD": '"emial"',
        "DF-FILTER-UNKNOWN-OPERATOR": '"$gtt"',
        "DF-PARAM-TYPE": '"ten"',
        "DF-WORKFLOW-DUPLICATE-ID": '"d"',
        "DF-CONNECTION-UNKNOWN-NODE": '"zz"',
        "DF-CONNECTION-UNKNOWN-OUTPUT": '"idd"',
    }
    for code, written in expect.items():
        d = by_code(diags, code)
        assert span_text(text, d.range) == written, (code, d)
        assert d.source == "dataflow"
        assert d.severity == types.DiagnosticSeverity.Error
    unknown = by_code(diags, "DF-NODE-UNKNOWN-TYPE")
    assert "did you mean 'UserCreateNode'" in unknown.message
    fields = [d for d in diags if d.code == "DF-FILTER-UNKNOWN-FIELD"]
    assert {span_text(text, d.range) for d in fields} >= {'"agee"', '"-nmae"', '"emali"'}


async def test_missing_parameters_are_reported_on_the_node_type(lsp: Session) -> None:
    text = 'wf = WorkflowBuilder()\nwf.add_node("UserCreateNode", "a", {"name": "x"})\n'
    uri = await lsp.open("missing.py", text)
    diags = await lsp.settle(uri, lambda d: any(x.code == "DF-PARAM-MISSING" for x in d))
    d = by_code(diags, "DF-PARAM-MISSING")
    assert "'email'" in d.message
    assert span_text(text, d.range) == '"UserCreateNode"'


async def test_ranges_count_utf16_units_after_non_ascii_text(lsp: Session) -> None:
    text = (
        "wf = WorkflowBuilder()\n"
        'wf.add_node("UserCreateNode", "é😀", {"name": "Zoë 😀😀", "email": "z@x", "agee": 1})\n'
    )
    uri = await lsp.open("unicode.py", text)
    diags = await lsp.settle(uri, lambda d: any(x.code == "DF-PARAM-UNKNOWN-FIELD" for x in d))
    d = by_code(diags, "DF-PARAM-UNKNOWN-FIELD")
    assert d.range.start == position(text, '"z@x", ')
    assert span_text(text, d.range) == '"agee"'


async def test_half_typed_code_keeps_diagnostics_and_completion_working(lsp: Session) -> None:
    text = textwrap.dedent(
        """\
        wf = WorkflowBuilder()
        wf.add_node("UserCreateNode", "a", {"name": "x", "email": "y", "agee": 2})
        wf.add_node("UserListNode", "b", {"filter": {"st
        """
    )
    uri = await lsp.open("typing.py", text)
    diags = await lsp.settle(uri, lambda d: any(x.code == "DF-PARAM-UNKNOWN-FIELD" for x in d))
    assert span_text(text, by_code(diags, "DF-PARAM-UNKNOWN-FIELD").range) == '"agee"'
    result = await lsp.client.text_document_completion_async(
        types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri), position=position(text, '"st')
        )
    )
    assert result is not None
    labels = {i.label for i in _items(result)}
    assert "status" in labels and "$or" in labels


def _items(result: types.CompletionList | list[types.CompletionItem]) -> list[types.CompletionItem]:
    return list(result.items if isinstance(result, types.CompletionList) else result)


async def complete(lsp: Session, uri: str, text: str, marker: str) -> list[types.CompletionItem]:
    result = await lsp.client.text_document_completion_async(
        types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri), position=position(text, marker)
        )
    )
    assert result is not None, marker
    return _items(result)


async def test_completion_in_every_slot(lsp: Session) -> None:
    text = textwrap.dedent(
        """\
        wf = WorkflowBuilder()
        wf.add_node("Us", "new", {})
        wf.add_node("UserListNode", "l", {"fi": 1, "filter": {"a": {"$g": 1}}, "order_by": ["-a"]})
        wf.add_node("UserUpdateNode", "u", {"id": 1, "fields": {"$s": 1, "$set": {"e": 1}}})
        wf.add_node("OrderBulkCreateNode", "bulk", {"data": [{"to": 1}]})
        wf.add_connection("l", "rec", "u", "fil")
        """
    )
    uri = await lsp.open("complete.py", text)
    await lsp.settle(uri, lambda d: uri in lsp.client.diagnostics)

    types_ = await complete(lsp, uri, text, '"Us')
    create = next(i for i in types_ if i.label == "UserCreateNode")
    # Neovim 0.9's client expands no snippets: the name alone is inserted
    assert create.insert_text_format == types.InsertTextFormat.PlainText
    assert create.text_edit is not None and create.text_edit.new_text == "UserCreateNode"
    assert {"OrderListNode", "UserBulkUpsertNode"} <= {i.label for i in types_}

    params = {i.label for i in await complete(lsp, uri, text, '{"fi')}
    assert {"limit", "offset", "cursor", "with_total"} <= params
    assert "filter" not in params and "order_by" not in params  # already given
    fields = {i.label for i in await complete(lsp, uri, text, '"filter": {"a')}
    assert {"age", "email", "status", "$or", "$and"} <= fields
    ops = {i.label for i in await complete(lsp, uri, text, '{"$g')}
    assert {"$gt", "$gte", "$in", "$regex"} <= ops and "age" not in ops
    order = {i.label for i in await complete(lsp, uri, text, '["-a')}
    assert {"age", "-age"} <= order
    update_ops = {i.label for i in await complete(lsp, uri, text, '{"$s')}
    assert {"$set", "$inc", "$unset"} <= update_ops
    set_fields = {i.label for i in await complete(lsp, uri, text, '{"e')}
    assert {"email", "name"} <= set_fields and "created_at" not in set_fields
    record = {i.label for i in await complete(lsp, uri, text, '[{"to')}
    assert {"total", "user_id", "note"} <= record
    outputs = {i.label for i in await complete(lsp, uri, text, '"l", "rec')}
    assert {"records", "records.0.id", "count"} <= outputs
    inputs = {i.label for i in await complete(lsp, uri, text, '"u", "fil')}
    assert {"filter", "filter.email", "id", "fields"} <= inputs
    ids = {i.label for i in await complete(lsp, uri, text, 'add_connection("l')}
    assert ids == {"new", "l", "u", "bulk"}


async def test_hover_explains_node_types_operators_and_fields(lsp: Session) -> None:
    text = textwrap.dedent(
        """\
        wf = WorkflowBuilder()
        wf.add_node("UserListNode", "l", {"filter": {"status": {"$in": ["active"]}}})
        """
    )
    uri = await lsp.open("hover.py", text)
    await lsp.settle(uri, lambda d: uri in lsp.client.diagnostics)

    async def hover_at(marker: str) -> str:
        result = await lsp.client.text_document_hover_async(
            types.HoverParams(types.TextDocumentIdentifier(uri), position(text, marker, -2))
        )
        assert result is not None, marker
        assert isinstance(result.contents, types.MarkupContent)
        return result.contents.value

    node = await hover_at('"UserListNode"')
    assert "UserListNode" in node and "| `limit`" in node and "records" in node
    assert "equal to one of" in await hover_at('"$in"')
    field = await hover_at('"status"')
    assert "User.status" in field and "'active'" in field and "'blocked'" in field


async def test_code_actions_fix_names_and_add_missing_parameters(lsp: Session) -> None:
    text = textwrap.dedent(
        """\
        wf = WorkflowBuilder()
        wf.add_node("UserListNode", "l", {"filter": {"agee": 3}, "order_by": "-nmae"})
        wf.add_node("UserCreateNode", "c", {"name": "x"})
        """
    )
    uri = await lsp.open("fix.py", text)
    diags = await lsp.settle(
        uri, lambda d: len([x for x in d if x.code == "DF-FILTER-UNKNOWN-FIELD"]) == 2
    )

    async def actions_for(d: types.Diagnostic) -> list[types.CodeAction]:
        result = await lsp.client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri),
                range=d.range,
                context=types.CodeActionContext(diagnostics=[d]),
            )
        )
        return [a for a in result or [] if isinstance(a, types.CodeAction)]

    for d in diags:
        if d.code != "DF-FILTER-UNKNOWN-FIELD":
            continue
        [fix] = [a for a in await actions_for(d) if a.title.startswith("Change to")][:1]
        assert fix.edit is not None and fix.edit.changes is not None
        [edit] = fix.edit.changes[uri]
        written = span_text(text, d.range)
        assert edit.new_text == ('"age"' if written == '"agee"' else '"-name"')
    missing = by_code(diags, "DF-PARAM-MISSING")
    [add] = [a for a in await actions_for(missing) if a.title.startswith("Add the missing")]
    assert add.edit is not None and add.edit.changes is not None
    [edit] = add.edit.changes[uri]
    assert edit.new_text == '"email": "", '
    assert edit.range.start == position(text, '"c", {')


async def test_definition_and_symbols(lsp: Session) -> None:
    text = textwrap.dedent(
        """\
        wf = WorkflowBuilder()
        first = wf.add_node("UserCreateNode", params={"name": "a", "email": "b"})
        wf.add_node("OrderListNode", "orders", {"limit": 5})
        wf.add_connection(first, "id", "orders", "filter.user_id")
        wf.add_connection("orders", "count", "orders", "offset")
        """
    )
    uri = await lsp.open("nav.py", text)
    await lsp.settle(uri, lambda d: uri in lsp.client.diagnostics)
    result = await lsp.client.text_document_definition_async(
        types.DefinitionParams(types.TextDocumentIdentifier(uri), position(text, '"OrderLis', -2))
    )
    assert isinstance(result, types.Location)
    assert result.uri == lsp.uri("models.py")
    assert result.range.start.line == MODELS.split("\n").index("class Order:")
    to_node = await lsp.client.text_document_definition_async(
        types.DefinitionParams(
            types.TextDocumentIdentifier(uri), position(text, 'add_connection("ord', -1)
        )
    )
    assert isinstance(to_node, types.Location)
    assert to_node.range.start == position(text, '"OrderListNode", ')
    symbols = await lsp.client.text_document_document_symbol_async(
        types.DocumentSymbolParams(types.TextDocumentIdentifier(uri))
    )
    assert symbols is not None
    [workflow] = symbols
    assert isinstance(workflow, types.DocumentSymbol) and workflow.children is not None
    assert [(c.name, c.detail) for c in workflow.children] == [
        ("UserCreateNode_1", "UserCreateNode"),
        ("orders", "OrderListNode"),
    ]


async def test_models_stay_current_as_the_models_file_changes(lsp: Session) -> None:
    flow = (
        'wf = WorkflowBuilder()\nwf.add_node("UserListNode", "l", {"filter": {"nickname": "a"}})\n'
    )
    uri = await lsp.open("flow.py", flow)
    await lsp.settle(uri, lambda d: any(x.code == "DF-FILTER-UNKNOWN-FIELD" for x in d))
    models_uri = lsp.uri("models.py")
    models = (lsp.root / "models.py").read_text(encoding="utf-8")
    await lsp.open("models.py", models)
    await lsp.change(
        models_uri,
        models.replace("    email: str\n", "    email: str\n    nickname: str | None = None\n"),
    )
    assert await lsp.settle(uri, lambda d: d == []) == []
    broken = models.replace("age: int | None = None", "age: int = None")
    await lsp.change(models_uri, broken)
    diags = await lsp.settle(
        models_uri, lambda d: any(x.code == "DF-MODEL-FIELD-DEFAULT" for x in d)
    )
    d = by_code(diags, "DF-MODEL-FIELD-DEFAULT")
    assert span_text(broken, d.range) == "User"


async def test_a_two_thousand_line_file(lsp: Session) -> None:
    block = textwrap.dedent(
        """\
        def step_{n}(limit):
            wf = WorkflowBuilder()
            wf.add_node("UserListNode", "list", {{"filter": {{"age": {{"$gte": limit}}}}}})
            wf.add_node("OrderCountNode", "count", {{"filter": {{"user_id": {n}}}}})
            wf.add_connection("list", "count", "count", "filter.total")
            return wf

        """
    )
    text = "from dataflow_engine import WorkflowBuilder\n\n" + "".join(
        block.format(n=n) for n in range(286)
    )
    assert text.count("\n") >= 2000
    text = text.replace('"user_id": 285', '"user_idd": 285')
    uri = await lsp.open("big.py", text)
    diags = await lsp.settle(uri, lambda d: len(d) == 1)
    assert diags[0].code == "DF-FILTER-UNKNOWN-FIELD"
    assert diags[0].range.start.line == text[: text.index('"user_idd"')].count("\n")
    await lsp.change(uri, text.replace('"user_idd": 285', '"user_id": 285'))
    assert await lsp.settle(uri, lambda d: d == []) == []


async def test_node_types_complete_as_a_snippet_with_the_required_parameters(
    pull_lsp: Session,
) -> None:
    """For a client that expands snippets (VS Code)."""
    text = 'wf = WorkflowBuilder()\nwf.add_node("Us")\n'
    uri = await pull_lsp.open("snippet.py", text)
    items = await complete(pull_lsp, uri, text, '"Us')
    create = next(i for i in items if i.label == "UserCreateNode")
    assert create.insert_text_format == types.InsertTextFormat.Snippet
    assert create.text_edit is not None
    new = create.text_edit.new_text
    assert new.startswith('UserCreateNode", "${1:user_create}", {')
    assert '"name": ${2:""}' in new and '"email": ${3:""}' in new
    # the snippet replaces the typed prefix and the closing quote it writes itself
    assert create.text_edit.range.end == position(text, '"Us"')
