"""Workflow files read for the language server: JSON and YAML values with their spans,
syntax problems, tolerance to text being typed, and what is typed at a position."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from dataflow_lsp import _yaml
from dataflow_lsp._document import Cursor, Parsed, Path, Slot, Workflow
from dataflow_lsp._json import cursor_json, parse_json
from dataflow_lsp._yaml import cursor_yaml, parse_yaml

MARK = "‸"  # where the cursor is in a test text

EXAMPLE: dict[str, Any] = {
    "nodes": [
        {"id": "create", "type": "UserCreateNode", "params": {"name": "Zoë 😀", "age": 36}},
        {
            "id": "find",
            "type": "UserListNode",
            "params": {
                "filter": {"age": {"$gte": 18}, "$or": [{"name": "a"}]},
                "order_by": ["-age"],
            },
        },
    ],
    "connections": [{"from": "create.id", "to": "find.filter.id"}],
}

EXAMPLE_JSON = """\
{"nodes": [{"id": "create", "type": "UserCreateNode", "params": {"name": "Zoë 😀", "age": 36}},
           {"id": "find", "type": "UserListNode",
            "params": {"filter": {"age": {"$gte": 18}, "$or": [{"name": "a"}]},
                       "order_by": ["-age"]}}],
 "connections": [{"from": "create.id", "to": "find.filter.id"}]}
"""

EXAMPLE_YAML = """\
# a workflow
nodes:
  - id: create
    type: UserCreateNode
    params:
      name: "Zoë 😀"
      age: 36
  - id: find
    type: UserListNode
    params:
      filter:
        age: {$gte: 18}
        $or:
          - name: a
      order_by: [-age]
connections:
  - from: create.id
    to: find.filter.id
"""


def at(marked: str) -> tuple[str, int]:
    """The text without its cursor mark, and the mark's offset."""
    offset = marked.index(MARK)
    return marked.replace(MARK, "", 1), offset


def only(parsed: Parsed) -> Workflow:
    assert len(parsed.workflows) == 1, parsed
    return parsed.workflows[0]


def value_text(text: str, workflow: Workflow, path: Path) -> str:
    span = workflow.values[path]
    return text[span.start : span.end]


def key_text(text: str, workflow: Workflow, path: Path) -> str:
    span = workflow.keys[path]
    return text[span.start : span.end]


def paths(value: Any, path: Path = ()) -> Iterator[Path]:
    """The path of every value in ``value``."""
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from paths(item, (*path, i))


def get(value: Any, path: Path) -> Any:
    for part in path:
        value = value[part]
    return value


@pytest.fixture(params=["libyaml", "python"])
def yaml_loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Both of PyYAML's readers: marks must count code points with either."""
    if request.param == "python":
        monkeypatch.setattr(_yaml, "_LOADER", _yaml._PythonLoader)
    elif not yaml.__with_libyaml__:
        pytest.skip("PyYAML is built without libyaml")
    yield request.param


# -- JSON: values and spans --------------------------------------------------------------


def test_json_definition_is_what_json_reads() -> None:
    parsed = parse_json(EXAMPLE_JSON)
    workflow = only(parsed)
    assert parsed.problems == []
    assert workflow.definition == EXAMPLE == json.loads(EXAMPLE_JSON)
    assert workflow.span.start == 0 and workflow.span.end == len(EXAMPLE_JSON)


def test_json_spans_slice_values_and_keys_after_non_ascii_text() -> None:
    text = EXAMPLE_JSON
    workflow = only(parse_json(text))
    assert value_text(text, workflow, ("nodes", 0, "params", "name")) == '"Zoë 😀"'
    assert value_text(text, workflow, ("nodes", 0, "params", "age")) == "36"
    assert value_text(text, workflow, ("nodes", 1, "type")) == '"UserListNode"'
    assert value_text(text, workflow, ("nodes", 1, "params", "filter", "age", "$gte")) == "18"
    assert value_text(text, workflow, ("nodes", 1, "params", "filter", "age")) == '{"$gte": 18}'
    assert value_text(text, workflow, ("nodes", 1, "params", "filter", "$or", 0, "name")) == '"a"'
    assert value_text(text, workflow, ("nodes", 1, "params", "order_by")) == '["-age"]'
    assert value_text(text, workflow, ("connections", 0, "to")) == '"find.filter.id"'
    assert value_text(text, workflow, ()) == text.rstrip("\n")
    assert key_text(text, workflow, ("nodes", 1, "params", "filter", "age", "$gte")) == '"$gte"'
    assert key_text(text, workflow, ("nodes", 1, "params", "filter", "$or")) == '"$or"'
    assert key_text(text, workflow, ("connections", 0, "from")) == '"from"'
    assert key_text(text, workflow, ("nodes",)) == '"nodes"'


def test_json_every_value_and_key_span_reads_back_as_its_value() -> None:
    text = EXAMPLE_JSON
    workflow = only(parse_json(text))
    written = {p: s for p, s in workflow.values.items() if p[-1:] not in (("node",), ("path",))}
    assert set(written) == set(paths(EXAMPLE))
    for path, span in written.items():
        assert json.loads(text[span.start : span.end]) == get(EXAMPLE, path), path
    assert set(workflow.keys) == {p for p in paths(EXAMPLE) if p and isinstance(p[-1], str)}
    for path, span in workflow.keys.items():
        assert json.loads(text[span.start : span.end]) == path[-1]


def test_json_endpoint_node_and_path_parts() -> None:
    text = EXAMPLE_JSON
    workflow = only(parse_json(text))
    assert value_text(text, workflow, ("connections", 0, "from", "node")) == "create"
    assert value_text(text, workflow, ("connections", 0, "from", "path")) == "id"
    assert value_text(text, workflow, ("connections", 0, "to", "node")) == "find"
    assert value_text(text, workflow, ("connections", 0, "to", "path")) == "filter.id"


def test_json_endpoint_parts_only_when_they_can_be_told_apart() -> None:
    text = '{"connections": [{"from": "a\\u002eb", "to": "nodot"}, {"from": "x."}]}'
    workflow = only(parse_json(text))
    assert workflow.definition["connections"][0] == {"from": "a.b", "to": "nodot"}
    assert ("connections", 0, "from", "node") not in workflow.values  # written with an escape
    assert ("connections", 0, "to", "node") not in workflow.values
    assert value_text(text, workflow, ("connections", 1, "from", "node")) == "x"
    assert value_text(text, workflow, ("connections", 1, "from", "path")) == ""


def test_json_node_spans_are_the_node_objects() -> None:
    text = EXAMPLE_JSON
    workflow = only(parse_json(text))
    assert sorted(workflow.node_spans) == [0, 1]
    first = workflow.node_spans[0]
    assert text[first.start : first.end].startswith('{"id": "create"')
    assert json.loads(text[first.start : first.end]) == EXAMPLE["nodes"][0]
    second = workflow.node_spans[1]
    assert json.loads(text[second.start : second.end]) == EXAMPLE["nodes"][1]


def test_json_scalars_read_like_the_json_module() -> None:
    text = r"""{"nodes": [],
 "numbers": [0, -7, 12345678901234567890, 1.5, -0.25, 1e3, 2.5E-3, 1e400],
 "literals": [true, false, null],
 "strings": ["", "tab\tnew\nquote\"back\\slash\/", "é", "\u00e9", "😀",
             "\ud83d\ude00", "\udc00", "\u2028", "\u0001\b\f\r"]}"""
    parsed = parse_json(text)
    assert parsed.problems == []
    definition = only(parsed).definition
    assert definition == json.loads(text)
    assert [type(n) for n in definition["numbers"]] == [int] * 3 + [float] * 5
    assert definition["strings"][5] == "😀"


def test_json_comments_are_accepted_silently() -> None:
    text = textwrap.dedent(
        """\
        // a workflow
        {
          /* the nodes */ "nodes": [
            {"id": "a", // the first
             "type": "UserCreateNode" /* with a * and a / */}
          ],
          "connections": [] // none
        }
        """
    )
    parsed = parse_json(text)
    assert parsed.problems == []
    workflow = only(parsed)
    assert workflow.definition == {
        "nodes": [{"id": "a", "type": "UserCreateNode"}],
        "connections": [],
    }
    assert value_text(text, workflow, ("nodes", 0, "type")) == '"UserCreateNode"'


def test_json_unterminated_comment_is_a_problem() -> None:
    text = '{"nodes": [] /* never closed'
    parsed = parse_json(text)
    assert only(parsed).definition == {"nodes": []}
    assert parsed.problems[0].message == "unterminated comment"
    assert parsed.problems[0].span.start == text.index("/*")


@pytest.mark.parametrize(
    "text",
    [
        '{"name": "dataflow", "version": "1.0.0", "dependencies": {"x": "^1"}}',
        '{"name": "broken", "version": [1,}',
        '[{"nodes": []}]',
        '"nodes"',
        "",
        "   // only a comment",
        '{"node": []}',
    ],
)
def test_json_that_is_not_a_workflow_is_silent(text: str) -> None:
    assert parse_json(text) == Parsed()


def test_json_no_cursor_in_other_files() -> None:
    text = '{"name": "dataflow", "scripts": {"test": "pytest"}, "dependencies": {"x": "^1"}}'
    for offset in range(len(text) + 1):
        assert cursor_json(text, offset) is None, offset


def test_json_keys_of_a_new_file_are_completed() -> None:
    check(cursor_json, "{‸", Slot.STRUCTURE_KEY, "", "", path=(), workflow=None, quoted=False)
    check(cursor_json, '{"node‸": []}', Slot.STRUCTURE_KEY, "node", "node", workflow=None)


# -- JSON: tolerance and problems --------------------------------------------------------


def test_json_missing_comma_is_assumed() -> None:
    text = '{"nodes": [{"id": "a" "type": "X"} {"id": "b"}]}'
    parsed = parse_json(text)
    assert only(parsed).definition == {"nodes": [{"id": "a", "type": "X"}, {"id": "b"}]}
    first, second = parsed.problems
    assert first.span.start == text.index('"type"')
    assert first.message == "expected ',' or '}' after an object member"
    assert second.span.start == text.index('{"id": "b"')
    assert second.message == "expected ',' or ']' after an array element"
    assert {p.code for p in parsed.problems} == {"DF-WORKFLOW-SYNTAX"}


def test_json_unterminated_string_ends_at_its_line() -> None:
    text = '{"nodes": [{"id": "a", "type": "UserCre\n}, {"id": "b", "type": "X"}]}'
    parsed = parse_json(text)
    workflow = only(parsed)
    assert workflow.definition["nodes"] == [
        {"id": "a", "type": "UserCre"},
        {"id": "b", "type": "X"},
    ]
    problem = parsed.problems[0]
    assert text[problem.span.start : problem.span.end] == '"UserCre'
    assert problem.message.startswith("unterminated string")
    assert value_text(text, workflow, ("nodes", 1, "type")) == '"X"'


def test_json_trailing_commas_are_dropped() -> None:
    text = '{"nodes": [{"id": "a", "params": {"x": 1,},},], "connections": [],}'
    parsed = parse_json(text)
    assert only(parsed).definition == {
        "nodes": [{"id": "a", "params": {"x": 1}}],
        "connections": [],
    }
    assert [p.message for p in parsed.problems] == [
        "trailing comma before '}'",
        "trailing comma before '}'",
        "trailing comma before ']'",
        "trailing comma before '}'",
    ]
    assert text[parsed.problems[0].span.start] == ","


def test_json_missing_closing_brackets_at_the_end() -> None:
    text = '{"nodes": [{"id": "a", "type": "X"}, {"id": "b", "params": {"limit": 10'
    parsed = parse_json(text)
    workflow = only(parsed)
    assert workflow.definition == {
        "nodes": [{"id": "a", "type": "X"}, {"id": "b", "params": {"limit": 10}}]
    }
    assert parsed.problems[0].span.start == len(text)
    assert parsed.problems[0].message == "expected '}' to close the object"
    assert value_text(text, workflow, ("nodes", 1, "params", "limit")) == "10"


def test_json_being_typed_still_gives_the_nodes_before_the_cursor() -> None:
    text = '{"nodes": [{"id": "a", "type": "UserCreateNode"}, {"id": "b", "type": "Us'
    workflow = only(parse_json(text))
    assert workflow.definition == {
        "nodes": [{"id": "a", "type": "UserCreateNode"}, {"id": "b", "type": "Us"}]
    }
    text = '{"nodes": [{"id": "a", "params": {"filter": {"ag'
    workflow = only(parse_json(text))
    assert workflow.definition == {"nodes": [{"id": "a", "params": {"filter": {}}}]}


def test_json_every_prefix_reads_without_raising_and_keeps_what_is_complete() -> None:
    text = EXAMPLE_JSON
    first_node_end = text.index("}},") + 2
    for end in range(len(text) + 1):
        prefix = text[:end]
        parsed = parse_json(prefix)
        cursor_json(prefix, end)
        if end >= first_node_end:
            assert only(parsed).definition["nodes"][0] == EXAMPLE["nodes"][0], end


def test_json_key_without_value_is_left_out() -> None:
    text = '{"nodes": [{"id": "a", "type" "X", "params": , "x": }]}'
    parsed = parse_json(text)
    assert only(parsed).definition == {"nodes": [{"id": "a", "type": "X"}]}
    messages = [p.message for p in parsed.problems]
    assert messages == [
        "expected ':' after the property name",
        "expected a value",
        "expected a value",
    ]
    assert parsed.problems[0].span.start == text.index('"X"')


@pytest.mark.parametrize(
    ("marked", "bad", "message"),
    [
        ('{"nodes": [], "x": ‸tru}', "tru", "invalid value 'tru'"),
        ('{"nodes": [], "x": ‸01}', "01", "invalid value '01'"),
        ('{"nodes": [], "x": "a‸\\qb"}', "\\q", "invalid escape '\\q'"),
        ('{"nodes": [], "x": "‸\\u12"}', "\\u", "invalid \\u escape"),
        ('{"nodes": [], ‸x: 1}', "x", "property names must be in double quotes"),
        ('{"nodes": []} ‸[]', "[", "unexpected text after the end of the JSON"),
        ('{"nodes": [], "x": "a‸\tb"}', "\t", "control characters must be escaped in a string"),
        ('{"nodes": [1 ‸; 2]}', ";", "expected ',' or ']' after an array element"),
        ('{"nodes": [‸/]}', "/", "unexpected '/': expected a value"),
        ('{"nodes": [1, ‸, 2]}', ",", "expected a value before ','"),
        ('{"nodes": [], ‸, "x": 1}', ",", "expected a property name before ','"),
        ('{"nodes": [], ‸[1]: 2}', "[", "expected a property name in double quotes"),
        ('{"nodes": [] ‸"x": 1}', '"', "expected ',' or '}' after an object member"),
    ],
)
def test_json_problems_are_reported_where_the_error_is(marked: str, bad: str, message: str) -> None:
    text, offset = at(marked)
    parsed = parse_json(text)
    problem = parsed.problems[0]
    assert problem.message == message
    assert problem.span.start == offset
    assert text[problem.span.start : problem.span.end] == bad
    assert "nodes" in only(parsed).definition


def test_json_mismatched_brackets_close_the_inner_containers() -> None:
    text = '{"nodes": [{"id": "a", "params": {"x": [1, 2}}, {"id": "b"}]}'
    parsed = parse_json(text)
    assert only(parsed).definition == {"nodes": [{"id": "a", "params": {"x": [1, 2]}}, {"id": "b"}]}
    assert parsed.problems[0].message == "expected ']' to close the array"
    assert parsed.problems[0].span.start == text.index("}}")


def test_json_nesting_too_deep_is_skipped_not_raised() -> None:
    text = '{"nodes": [{"id": "a", "params": ' + "[" * 5000 + "]" * 5000 + '}, {"id": "b"}]}'
    parsed = parse_json(text)
    nodes = only(parsed).definition["nodes"]
    assert nodes[1] == {"id": "b"}
    assert any(p.message == "nested too deeply to be read" for p in parsed.problems)


# -- JSON: the cursor --------------------------------------------------------------------


def check(
    find: Callable[[str, int], Cursor | None],
    marked: str,
    slot: Slot,
    prefix: str,
    replaced: str,
    **expected: Any,
) -> Cursor:
    text, offset = at(marked)
    cursor = find(text, offset)
    assert cursor is not None, marked
    assert cursor.slot is slot, (marked, cursor)
    assert cursor.prefix == prefix
    assert text[cursor.replace.start : cursor.replace.end] == replaced
    assert cursor.replace.start <= offset <= cursor.replace.end
    for name, value in expected.items():
        assert getattr(cursor, name) == value, (name, cursor)
    return cursor


NODE = '{"nodes": [{"id": "a", "type": "UserListNode", "params": '


@pytest.mark.parametrize(
    ("marked", "slot", "prefix", "replaced", "expected"),
    [
        # a node's type
        ('{"nodes": [{"id": "a", "type": "Us‸', Slot.NODE_TYPE, "Us", "Us", {"node": 0}),
        ('{"nodes": [{"id": "a", "type": "Us‸erX"}]}', Slot.NODE_TYPE, "Us", "UserX", {}),
        ('{"nodes": [{}, {"type": "‸"}]}', Slot.NODE_TYPE, "", "", {"node": 1, "quoted": True}),
        ('{"nodes": [{"type": ‸}]}', Slot.NODE_TYPE, "", "", {"quoted": False}),
        ('{"nodes": [{"type": Us‸}]}', Slot.NODE_TYPE, "Us", "Us", {"quoted": False}),
        ('{"nodes": [{"type": "Us‸}]}', Slot.NODE_TYPE, "Us", "Us", {}),
        # a key of params, the node's type written after it
        (
            '{"nodes": [{"id": "a", "params": {"na‸"}, "type": "UserCreateNode"}]}',
            Slot.PARAM_KEY,
            "na",
            "na",
            {"node": 0, "node_type": "UserCreateNode", "path": (), "quoted": True},
        ),
        (
            '{"nodes": [{"id": "a", "params": {‸}, "type": "UserCreateNode"}]}',
            Slot.PARAM_KEY,
            "",
            "",
            {"node_type": "UserCreateNode", "quoted": False},
        ),
        (
            '{"nodes": [{"id": "a", "params": {"name": "x", ‸\n}, "type": "T"}]}',
            Slot.PARAM_KEY,
            "",
            "",
            {"node_type": "T"},
        ),
        # keys inside params documents
        (NODE + '{"filter": {"ag‸', Slot.DOC_KEY, "ag", "ag", {"path": ("filter",)}),
        (
            NODE + '{"filter": {"age": {"$g‸"}}}}]}',
            Slot.DOC_KEY,
            "$g",
            "$g",
            {"path": ("filter", "age"), "node_type": "UserListNode", "node": 0},
        ),
        (
            NODE + '{"filter": {"$or": [{"‸"}]}}}]}',
            Slot.DOC_KEY,
            "",
            "",
            {"path": ("filter", "$or", 0)},
        ),
        (
            NODE + '{"update": {"$set": {"‸"}}}}]}',
            Slot.DOC_KEY,
            "",
            "",
            {"path": ("update", "$set")},
        ),
        (NODE + '{"data": [{}, {}, {‸}]}}]}', Slot.DOC_KEY, "", "", {"path": ("data", 2)}),
        (NODE + '{"data": {"na‸": 1}}}]}', Slot.DOC_KEY, "na", "na", {"path": ("data",)}),
        # string values naming fields
        (
            NODE + '{"order_by": ["-age", "na‸"]}}]}',
            Slot.FIELD_VALUE,
            "na",
            "na",
            {"path": ("order_by",)},
        ),
        (
            NODE + '{"order_by": "-a‸ge"}}]}',
            Slot.FIELD_VALUE,
            "-a",
            "-age",
            {"path": ("order_by",)},
        ),
        (
            NODE + '{"fields": [‸]}}]}',
            Slot.FIELD_VALUE,
            "",
            "",
            {"path": ("fields",), "quoted": False},
        ),
        (NODE + '{"fields": ["id", ‸', Slot.FIELD_VALUE, "", "", {"path": ("fields",)}),
        # connection endpoints
        (
            '{"nodes": [{"id": "create"}], "connections": [{"from": "create.re‸"}]}',
            Slot.ENDPOINT,
            "create.re",
            "create.re",
            {"key": "from"},
        ),
        (
            '{"nodes": [], "connections": [{"from": "a.id", "to": "‸b.x"}]}',
            Slot.ENDPOINT,
            "",
            "b.x",
            {"key": "to"},
        ),
        # the file's own keys
        ("{‸}", Slot.STRUCTURE_KEY, "", "", {"path": (), "quoted": False}),
        ('{"no‸', Slot.STRUCTURE_KEY, "no", "no", {"path": (), "workflow": None}),
        ('{"nodes": [], "‸"}', Slot.STRUCTURE_KEY, "", "", {"path": ()}),
        ('{"nodes": [{"id": "a", ‸}]}', Slot.STRUCTURE_KEY, "", "", {"path": ("nodes", 0)}),
        ('{"nodes": [{"id": "a" "ty‸"}]}', Slot.STRUCTURE_KEY, "ty", "ty", {"path": ("nodes", 0)}),
        ('{"nodes": [{"i‸d": "a"}]}', Slot.STRUCTURE_KEY, "i", "id", {"path": ("nodes", 0)}),
        (
            '{"nodes": [], "connections": [{"from": "a.id", "‸"}]}',
            Slot.STRUCTURE_KEY,
            "",
            "",
            {"path": ("connections", 0)},
        ),
    ],
)
def test_json_cursor(
    marked: str, slot: Slot, prefix: str, replaced: str, expected: dict[str, Any]
) -> None:
    check(cursor_json, marked, slot, prefix, replaced, **expected)


def test_json_cursor_carries_the_workflow_of_the_whole_text() -> None:
    text, offset = at(
        '{"nodes": [{"id": "create", "type": "UserCreateNode"},\n'
        '           {"id": "list", "type": "Us‸"}],\n'
        ' "connections": [{"from": "create.id", "to": "list.filter.id"}]}'
    )
    cursor = cursor_json(text, offset)
    assert cursor is not None and cursor.workflow is not None
    assert cursor.workflow == only(parse_json(text))
    assert cursor.workflow.node_index("create") == 0
    assert cursor.workflow.definition["connections"][0]["to"] == "list.filter.id"


@pytest.mark.parametrize(
    "marked",
    [
        '{"nodes": [], // a comm‸ent\n "connections": []}',
        '{"nodes": [], /* a comm‸ent */ "connections": []}',
        '{"nodes": [{"id": "a"‸}]}',  # a comma is due
        '{"nodes": [{"id": "a"} ‸]}',
        '{"nodes": [{"id": "a"}, ‸]}',  # a node is an object: no string fits here
        '{"nodes": [{"id": "a", "params": {"limit": 1‸}}]}',
        '{"nodes": [{"id": "a‸"}]}',
        "‸",
        '{"name": "x", "‸"}',  # keys of another kind of file
        '‸{"nodes": []}',
    ],
)
def test_json_no_cursor_where_nothing_is_completed(marked: str) -> None:
    text, offset = at(marked)
    assert cursor_json(text, offset) is None


def test_json_cursor_positions_count_code_points() -> None:
    marked = '{"nodes": [{"id": "Zoë 😀", "params": {"x": "😀😀"}, "type": "Us‸"}]}'
    check(cursor_json, marked, Slot.NODE_TYPE, "Us", "Us", node=0)


def test_json_cursor_out_of_range_is_none() -> None:
    assert cursor_json("{}", -1) is None
    assert cursor_json("{}", 3) is None


# -- YAML: values and spans --------------------------------------------------------------


def test_yaml_definition_is_what_safe_load_reads(yaml_loader: str) -> None:
    parsed = parse_yaml(EXAMPLE_YAML)
    assert parsed.problems == []
    workflow = only(parsed)
    assert workflow.definition == EXAMPLE == yaml.safe_load(EXAMPLE_YAML)
    assert workflow.span.start == 0 and workflow.span.end == len(EXAMPLE_YAML)


def test_yaml_spans_slice_values_and_keys_after_non_ascii_text(yaml_loader: str) -> None:
    text = EXAMPLE_YAML
    workflow = only(parse_yaml(text))
    assert value_text(text, workflow, ("nodes", 0, "params", "name")) == '"Zoë 😀"'
    assert value_text(text, workflow, ("nodes", 0, "params", "age")) == "36"
    assert value_text(text, workflow, ("nodes", 1, "id")) == "find"
    assert value_text(text, workflow, ("nodes", 1, "type")) == "UserListNode"
    assert value_text(text, workflow, ("nodes", 1, "params", "filter", "age", "$gte")) == "18"
    assert value_text(text, workflow, ("nodes", 1, "params", "filter", "age")) == "{$gte: 18}"
    assert value_text(text, workflow, ("nodes", 1, "params", "filter", "$or", 0, "name")) == "a"
    assert value_text(text, workflow, ("nodes", 1, "params", "order_by", 0)) == "-age"
    assert value_text(text, workflow, ("nodes", 1, "params", "order_by")) == "[-age]"
    assert value_text(text, workflow, ("nodes", 1, "params", "filter", "$or")) == "- name: a"
    assert value_text(text, workflow, ("connections", 0, "to")) == "find.filter.id"
    assert key_text(text, workflow, ("nodes", 1, "params", "filter", "age", "$gte")) == "$gte"
    assert key_text(text, workflow, ("nodes", 1, "params", "filter", "$or")) == "$or"
    assert key_text(text, workflow, ("connections", 0, "from")) == "from"
    assert key_text(text, workflow, ("nodes",)) == "nodes"
    assert value_text(text, workflow, ("nodes", 0, "params")) == ('name: "Zoë 😀"\n      age: 36')


def test_yaml_every_scalar_span_reads_back_as_its_value(yaml_loader: str) -> None:
    text = EXAMPLE_YAML
    workflow = only(parse_yaml(text))
    for path, span in workflow.values.items():
        if path[-1:] in (("node",), ("path",)):
            continue
        value = get(EXAMPLE, path)
        if not isinstance(value, (dict, list)):
            assert yaml.safe_load(text[span.start : span.end]) == value, path
    for path, span in workflow.keys.items():
        assert text[span.start : span.end] == path[-1]


def test_yaml_endpoint_parts_and_node_spans(yaml_loader: str) -> None:
    text = EXAMPLE_YAML
    workflow = only(parse_yaml(text))
    assert value_text(text, workflow, ("connections", 0, "from", "node")) == "create"
    assert value_text(text, workflow, ("connections", 0, "from", "path")) == "id"
    assert value_text(text, workflow, ("connections", 0, "to", "node")) == "find"
    assert value_text(text, workflow, ("connections", 0, "to", "path")) == "filter.id"
    first = workflow.node_spans[0]
    assert text[first.start : first.end] == (
        'id: create\n    type: UserCreateNode\n    params:\n      name: "Zoë 😀"\n      age: 36'
    )
    second = workflow.node_spans[1]
    assert text[second.start : second.end].endswith("order_by: [-age]")


def test_yaml_quoted_endpoints_have_parts_too() -> None:
    text = 'connections:\n  - {from: "a.id", to: \'b.x.y\'}\n  - from: "a\\x2eid"\n'
    workflow = only(parse_yaml(text))
    assert value_text(text, workflow, ("connections", 0, "from", "node")) == "a"
    assert value_text(text, workflow, ("connections", 0, "to", "path")) == "x.y"
    assert workflow.definition["connections"][1]["from"] == "a.id"
    assert ("connections", 1, "from", "node") not in workflow.values


def test_yaml_marks_count_code_points_after_astral_characters(yaml_loader: str) -> None:
    text = "nodes:\n  - id: 😀😀😀\n    type: ÅÄÖ\n    params: {name: '𝔘𝔫𝔦', age: 7}\n"
    workflow = only(parse_yaml(text))
    assert value_text(text, workflow, ("nodes", 0, "type")) == "ÅÄÖ"
    assert value_text(text, workflow, ("nodes", 0, "params", "name")) == "'𝔘𝔫𝔦'"
    assert value_text(text, workflow, ("nodes", 0, "params", "age")) == "7"


def test_yaml_byte_order_mark_and_crlf_keep_offsets(yaml_loader: str) -> None:
    text = "\ufeffnodes:\r\n  - id: é\r\n    type: UserCreateNode\r\n"
    workflow = only(parse_yaml(text))
    assert workflow.definition == {"nodes": [{"id": "é", "type": "UserCreateNode"}]}
    assert value_text(text, workflow, ("nodes", 0, "type")) == "UserCreateNode"
    assert key_text(text, workflow, ("nodes",)) == "nodes"


def test_yaml_scalars_resolve_like_the_safe_loader(yaml_loader: str) -> None:
    text = textwrap.dedent(
        """\
        nodes: []
        values:
          int: 18
          hex: 0x1F
          float: 1.5
          exp: 1e3
          inf: .inf
          yes: yes
          true: true
          null: null
          tilde: ~
          empty:
          quoted: "18"
          single: 'true'
          tagged: !!str 12
          forced: !!int "12"
          date: 2024-01-01
          block: |
            two
            lines
          folded: >
            one
            line
          12: twelve
        """
    )
    values = only(parse_yaml(text + "  bad: !!int twelve\n")).definition["values"]
    expected = yaml.safe_load(text)["values"]
    expected["bad"] = "twelve"  # kept as written rather than refused
    expected["date"] = "2024-01-01"  # timestamps keep their text
    expected["yes"] = expected.pop(True)
    expected["true"] = True
    expected["null"] = expected.pop(None)
    assert values == expected
    assert isinstance(values["int"], int) and values["quoted"] == "18"
    assert values[12] == "twelve"


def test_yaml_anchors_aliases_and_merges_do_not_crash() -> None:
    text = textwrap.dedent(
        """\
        base: &base {type: UserListNode, params: {limit: 5}}
        nodes:
          - <<: *base
            id: a
          - <<: [*base]
            id: b
            type: UserCountNode
          - id: c
            params: *base
        loop: &loop [*loop]
        """
    )
    workflow = only(parse_yaml(text))
    nodes = workflow.definition["nodes"]
    assert nodes[0] == {"id": "a", "type": "UserListNode", "params": {"limit": 5}}
    assert nodes[1]["type"] == "UserCountNode" and nodes[1]["params"] == {"limit": 5}
    assert nodes[2]["params"]["type"] == "UserListNode"
    assert workflow.definition["loop"] == [None]
    assert value_text(text, workflow, ("nodes", 0, "id")) == "a"


def test_yaml_many_aliases_are_built_once() -> None:
    lines = ["a0: &a0 [x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}]" for i in range(1, 40)]
    text = "nodes: []\n" + "\n".join(lines) + "\n"
    workflow = only(parse_yaml(text))
    assert workflow.definition["a39"][0] is workflow.definition["a38"]


@pytest.mark.parametrize(
    "text",
    [
        "version: '3'\nservices:\n  web:\n    image: nginx\n",
        "name: broken\nlist: [1, 2\n",
        "- nodes\n- connections\n",
        "",
        "# only a comment\n",
        "just a string\n",
        "node: []\n",
        "name: x\nversion: \x07\n",
    ],
)
def test_yaml_that_is_not_a_workflow_is_silent(text: str) -> None:
    assert parse_yaml(text) == Parsed()


def test_yaml_no_cursor_in_other_files() -> None:
    text = "version: '3'\nservices:\n  web:\n    image: nginx\n    ports: [80]\n"
    for offset in range(len(text) + 1):
        assert cursor_yaml(text, offset) is None, offset


def test_yaml_keys_of_a_new_file_are_completed() -> None:
    check(cursor_yaml, "‸", Slot.STRUCTURE_KEY, "", "", path=(), workflow=None)
    check(cursor_yaml, "node‸: []\n", Slot.STRUCTURE_KEY, "node", "node", workflow=None)


def test_yaml_only_the_first_document_is_read() -> None:
    text = "nodes: [{id: a}]\n---\nnodes: [ broken\n"
    parsed = parse_yaml(text)
    assert only(parsed).definition == {"nodes": [{"id": "a"}]}
    assert parsed.problems == []


# -- YAML: tolerance and problems --------------------------------------------------------


BROKEN_KEY = """\
nodes:
  - id: a
    type: UserCreateNode
    params:
      name: Ada
      ag
  - id: b
    type: UserListNode
"""


def test_yaml_key_without_colon_is_reported_and_skipped(yaml_loader: str) -> None:
    parsed = parse_yaml(BROKEN_KEY)
    workflow = only(parsed)
    assert workflow.definition == {
        "nodes": [
            {"id": "a", "type": "UserCreateNode", "params": {"name": "Ada"}},
            {"id": "b", "type": "UserListNode"},
        ]
    }
    (problem,) = parsed.problems
    assert BROKEN_KEY[problem.span.start : problem.span.end] == "ag"
    assert "expected ':'" in problem.message
    assert value_text(BROKEN_KEY, workflow, ("nodes", 1, "type")) == "UserListNode"


def test_yaml_unterminated_quote_keeps_the_rest(yaml_loader: str) -> None:
    text = 'nodes:\n  - id: a\n    type: "Us\n    params: {limit: 1}\n  - id: b\n    type: X\n'
    parsed = parse_yaml(text)
    workflow = only(parsed)
    assert workflow.definition["nodes"][0]["params"] == {"limit": 1}
    assert workflow.definition["nodes"][1] == {"id": "b", "type": "X"}
    (problem,) = parsed.problems
    assert text[problem.span.start : problem.span.end] == '"Us'
    assert "quoted scalar" in problem.message


def test_yaml_being_typed_at_the_end(yaml_loader: str) -> None:
    text = 'nodes:\n  - id: a\n    type: UserCreateNode\n  - id: b\n    type: "Us'
    workflow = only(parse_yaml(text))
    assert workflow.definition["nodes"][0] == {"id": "a", "type": "UserCreateNode"}
    assert workflow.definition["nodes"][1]["id"] == "b"
    text = "nodes:\n  - id: a\n    params:\n      filter:\n        age: {$gte: 1\n"
    parsed = parse_yaml(text)
    assert only(parsed).definition["nodes"][0]["id"] == "a"
    assert parsed.problems[0].span.start == text.index("{$gte")


def test_yaml_flow_collections_open_at_the_end_are_closed(yaml_loader: str) -> None:
    text = "nodes: [{id: a, type: X}, {id: b, type: Us"
    parsed = parse_yaml(text)
    workflow = only(parsed)
    assert workflow.definition == {"nodes": [{"id": "a", "type": "X"}, {"id": "b", "type": "Us"}]}
    assert value_text(text, workflow, ("nodes", 1)) == "{id: b, type: Us"
    assert value_text(text, workflow, ("nodes",)) == text[len("nodes: ") :]
    (problem,) = parsed.problems
    assert problem.code == "DF-WORKFLOW-SYNTAX"
    assert problem.span.start == text.index("{id: b")


@pytest.mark.parametrize(
    ("text", "bad", "nodes"),
    [
        (  # indented too little
            "nodes:\n  - id: a\n    type: X\n   params: {}\n  - id: b\n",
            "params:",
            [{"id": "a", "type": "X"}, {"id": "b"}],
        ),
        (  # a flow mapping never closed
            "nodes:\n  - id: a\n    params: {filter: {age: 1}\n    type: T\n  - id: b\n",
            "{filter:",
            [{"id": "a", "params": None, "type": "T"}, {"id": "b"}],
        ),
        (  # a second colon in a value
            "nodes:\n  - id: a\n    type: X: Y\n  - id: b\n",
            ":",
            [{"id": "a", "type": None}, {"id": "b"}],
        ),
        (  # an alias never defined
            "nodes:\n  - id: a\n    params: *nowhere\n  - id: b\n",
            "*nowhere",
            [{"id": "a", "params": None}, {"id": "b"}],
        ),
        (  # a character YAML refuses
            "nodes:\n  - id: é\x07\n  - id: b\n",
            "\x07",
            [{"id": "é"}, {"id": "b"}],
        ),
        (  # a broken key line: its value, then the line goes
            "nodes:\n  - id: a\n    par ams: x: y\n      deeper: 1\n    type: T\n  - id: b\n",
            ":",
            [{"id": "a", "par ams": {"deeper": 1}, "type": "T"}, {"id": "b"}],
        ),
    ],
)
def test_yaml_syntax_errors_are_reported_and_the_rest_is_read(
    yaml_loader: str, text: str, bad: str, nodes: list[Any]
) -> None:
    parsed = parse_yaml(text)
    assert only(parsed).definition["nodes"] == nodes
    (problem,) = parsed.problems
    assert text[problem.span.start : problem.span.end] == bad
    assert problem.message


def test_yaml_every_prefix_reads_without_raising_and_keeps_what_is_complete() -> None:
    text = EXAMPLE_YAML
    first_node_end = text.index("  - id: find")
    for end in range(len(text) + 1):
        prefix = text[:end]
        parsed = parse_yaml(prefix)
        cursor_yaml(prefix, end)
        if end >= first_node_end:
            assert only(parsed).definition["nodes"][0] == EXAMPLE["nodes"][0], end


# -- YAML: the cursor --------------------------------------------------------------------


YNODE = "nodes:\n  - id: a\n    type: UserListNode\n    params:\n"


@pytest.mark.parametrize(
    ("marked", "slot", "prefix", "replaced", "expected"),
    [
        # a node's type
        ("nodes:\n  - id: a\n    type: Us‸\n", Slot.NODE_TYPE, "Us", "Us", {"node": 0}),
        ("nodes:\n  - id: a\n    type: Us‸", Slot.NODE_TYPE, "Us", "Us", {"quoted": True}),
        ("nodes:\n  - id: a\n    type: Us‸erX\n", Slot.NODE_TYPE, "Us", "UserX", {}),
        ("nodes:\n  - id: a\n    type: ‸\n", Slot.NODE_TYPE, "", "", {}),
        ('nodes:\n  - id: a\n    type: "Us‸\n  - id: b\n', Slot.NODE_TYPE, "Us", "Us", {}),
        ("nodes:\n  - id: a\n    type: 'Us‸er'\n", Slot.NODE_TYPE, "Us", "User", {}),
        ("nodes:\n  - {id: a, type: Us‸}\n", Slot.NODE_TYPE, "Us", "Us", {}),
        ("nodes: [{id: a}, {id: b, type: ‸", Slot.NODE_TYPE, "", "", {"node": 1}),
        # keys of params, the node's type written after them
        (
            "nodes:\n  - id: a\n    params:\n      name: Ada\n      ag‸\n    type: UserCreateNode",
            Slot.PARAM_KEY,
            "ag",
            "ag",
            {"node": 0, "node_type": "UserCreateNode", "path": ()},
        ),
        (
            "nodes:\n  - id: a\n    type: UserCreateNode\n    params:\n      ag‸",
            Slot.PARAM_KEY,
            "ag",
            "ag",
            {"node_type": "UserCreateNode"},
        ),
        (YNODE + "      ‸\n", Slot.PARAM_KEY, "", "", {"node_type": "UserListNode"}),
        (YNODE + "      li‸mit: 1\n", Slot.PARAM_KEY, "li", "limit", {}),
        # keys inside params documents
        (YNODE + "      filter:\n        ag‸\n", Slot.DOC_KEY, "ag", "ag", {"path": ("filter",)}),
        (
            YNODE + "      filter:\n        age:\n          $g‸\n",
            Slot.DOC_KEY,
            "$g",
            "$g",
            {"path": ("filter", "age"), "node": 0, "node_type": "UserListNode"},
        ),
        (
            YNODE + "      filter: {age: {$g‸}}\n",
            Slot.DOC_KEY,
            "$g",
            "$g",
            {"path": ("filter", "age")},
        ),
        (
            YNODE + "      filter: {age: {$g‸\n",
            Slot.DOC_KEY,
            "$g",
            "$g",
            {"path": ("filter", "age")},
        ),
        (
            YNODE + "      filter:\n        $or:\n          - name: a\n          - na‸\n",
            Slot.DOC_KEY,
            "na",
            "na",
            {"path": ("filter", "$or", 1)},
        ),
        (
            YNODE + "      update:\n        $set:\n          ‸\n",
            Slot.DOC_KEY,
            "",
            "",
            {"path": ("update", "$set")},
        ),
        (
            YNODE + "      data:\n        - name: a\n        - name: b\n        - ag‸\n",
            Slot.DOC_KEY,
            "ag",
            "ag",
            {"path": ("data", 2)},
        ),
        # string values naming fields
        (
            YNODE + "      order_by:\n        - -age\n        - na‸\n",
            Slot.FIELD_VALUE,
            "na",
            "na",
            {"path": ("order_by",)},
        ),
        (
            YNODE + "      order_by: -a‸ge\n",
            Slot.FIELD_VALUE,
            "-a",
            "-age",
            {"path": ("order_by",)},
        ),
        (YNODE + "      fields: [id, na‸]\n", Slot.FIELD_VALUE, "na", "na", {"path": ("fields",)}),
        (YNODE + "      fields: [id, ‸", Slot.FIELD_VALUE, "", "", {"path": ("fields",)}),
        # connection endpoints
        (
            "nodes:\n  - id: create\nconnections:\n  - from: create.re‸\n",
            Slot.ENDPOINT,
            "create.re",
            "create.re",
            {"key": "from"},
        ),
        (
            "nodes: []\nconnections:\n  - from: a.id\n    to: 'b.‸x'\n",
            Slot.ENDPOINT,
            "b.",
            "b.x",
            {"key": "to"},
        ),
        # the file's own keys
        ("‸", Slot.STRUCTURE_KEY, "", "", {"path": (), "workflow": None}),
        ("nod‸", Slot.STRUCTURE_KEY, "nod", "nod", {"path": ()}),
        ("nodes:\n  - id: a\n‸", Slot.STRUCTURE_KEY, "", "", {"path": ()}),
        ("nodes:\n  - id: a\nconn‸\n", Slot.STRUCTURE_KEY, "conn", "conn", {"path": ()}),
        ("nodes:\n  - id: a\n    ‸\n", Slot.STRUCTURE_KEY, "", "", {"path": ("nodes", 0)}),
        ("nodes:\n  - id: a\n    ty‸pe: X\n", Slot.STRUCTURE_KEY, "ty", "type", {}),
        ("nodes:\n  - id: a\n  - ty‸\n", Slot.STRUCTURE_KEY, "ty", "ty", {"path": ("nodes", 1)}),
        (
            "nodes: []\nconnections:\n  - from: a.id\n    t‸\n",
            Slot.STRUCTURE_KEY,
            "t",
            "t",
            {"path": ("connections", 0)},
        ),
    ],
)
def test_yaml_cursor(
    yaml_loader: str,
    marked: str,
    slot: Slot,
    prefix: str,
    replaced: str,
    expected: dict[str, Any],
) -> None:
    cursor = check(cursor_yaml, marked, slot, prefix, replaced, **expected)
    assert cursor.quoted is True


def test_yaml_cursor_carries_the_workflow_of_the_whole_text() -> None:
    text, offset = at(
        "nodes:\n  - id: create\n    type: UserCreateNode\n  - id: list\n    type: Us‸\n"
        "connections:\n  - from: create.id\n    to: list.filter.id\n"
    )
    cursor = cursor_yaml(text, offset)
    assert cursor is not None and cursor.workflow is not None
    assert cursor.workflow == only(parse_yaml(text))
    assert cursor.workflow.node_index("create") == 0
    assert cursor.node == 1


def test_yaml_cursor_positions_count_code_points() -> None:
    marked = "nodes:\n  - id: Zoë 😀\n    params: {x: 😀😀}\n    type: Us‸\n"
    check(cursor_yaml, marked, Slot.NODE_TYPE, "Us", "Us", node=0)


@pytest.mark.parametrize(
    "marked",
    [
        "nodes:\n  - id: a  # a comm‸ent\n",
        "# comm‸ent\nnodes: []\n",
        "nodes:\n‸  - id: a\n",  # in the indentation before text
        "nodes:\n  - id: a‸\n",
        "nodes:\n  - id: a\n    type: X ‸\n",
        "nodes:\n  - id: a\n    params:\n      limit: 1‸0\n",
        "name: x\nver‸\n",  # keys of another kind of file
        "services:\n  web:\n    image: ngi‸nx\n",
    ],
)
def test_yaml_no_cursor_where_nothing_is_completed(marked: str) -> None:
    text, offset = at(marked)
    assert cursor_yaml(text, offset) is None


def test_yaml_cursor_out_of_range_is_none() -> None:
    assert cursor_yaml("nodes: []", -1) is None
    assert cursor_yaml("nodes: []", 10) is None
