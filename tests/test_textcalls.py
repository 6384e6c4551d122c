"""Text tool-call recovery: every shape the embedded models produce, malformed calls, non-calls."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentgym.models.textcalls import TextRecovery, recover_tool_calls

TOOLS = {"read_file", "run", "write_file"}
CALL_A = '{"name": "run", "arguments": {"cmd": "a"}}'
CALL_B = '{"name": "run", "arguments": {"cmd": "b"}}'
TWO_IN_ONE_TAG = f"<tool_call>\n{CALL_A}\n{CALL_B}\n</tool_call>"


def calls(rec: TextRecovery) -> list[tuple[str, dict[str, object]]]:
    return [(c.name, json.loads(c.arguments)) for c in rec.calls]


def test_tool_call_tag() -> None:
    text = 'Let me look.\n<tool_call>\n{"name": "read_file", "arguments": {"path": "a.py"}}\n</tool_call>'
    rec = recover_tool_calls(text, TOOLS)
    assert calls(rec) == [("read_file", {"path": "a.py"})]
    assert rec.format_errors == []
    assert rec.remaining_text == "Let me look."
    assert rec.calls[0].raw == text[len("Let me look.\n") :]


def test_several_tags_in_order() -> None:
    text = (
        '<tool_call>{"name": "run", "arguments": {"cmd": "ls"}}</tool_call>\n'
        '<tool_call>{"name": "read_file", "arguments": {"path": "b"}}</tool_call>'
    )
    assert calls(recover_tool_calls(text, TOOLS)) == [("run", {"cmd": "ls"}), ("read_file", {"path": "b"})]


def test_missing_closing_tag_at_end() -> None:
    rec = recover_tool_calls('<tool_call>\n{"name": "run", "arguments": {"cmd": "pwd"}}\n', TOOLS)
    assert calls(rec) == [("run", {"cmd": "pwd"})]
    assert rec.format_errors == [] and rec.remaining_text == ""


def test_two_values_in_one_tag() -> None:
    text = TWO_IN_ONE_TAG
    assert calls(recover_tool_calls(text, TOOLS)) == [("run", {"cmd": "a"}), ("run", {"cmd": "b"})]


@pytest.mark.parametrize("lang", ["json", "", "tool_call", "JSON"])
def test_fenced_block(lang: str) -> None:
    text = f'I will read it.\n```{lang}\n{{\n  "name": "read_file",\n  "arguments": {{"path": "x"}}\n}}\n```\nDone.'
    rec = recover_tool_calls(text, TOOLS)
    assert calls(rec) == [("read_file", {"path": "x"})]
    assert rec.remaining_text == "I will read it.\n\nDone."


def test_fenced_list_of_calls() -> None:
    text = '```json\n[{"name": "run", "arguments": {"cmd": "a"}}, {"name": "read_file", "args": {"path": "p"}}]\n```'
    assert calls(recover_tool_calls(text, TOOLS)) == [("run", {"cmd": "a"}), ("read_file", {"path": "p"})]


def test_bare_object_whole_content() -> None:
    rec = recover_tool_calls('  {"name": "run", "arguments": {"cmd": "ls -la"}}  ', TOOLS)
    assert calls(rec) == [("run", {"cmd": "ls -la"})]
    assert rec.remaining_text == ""


def test_bare_object_in_prose() -> None:
    text = 'Next I call {"name": "read_file", "arguments": {"path": "s/{x}.py"}} and then think.'
    rec = recover_tool_calls(text, TOOLS)
    assert calls(rec) == [("read_file", {"path": "s/{x}.py"})]
    assert rec.remaining_text == "Next I call  and then think."


def test_bare_list_whole_content() -> None:
    text = '[{"name": "run", "arguments": {"cmd": "a"}}, {"name": "run", "arguments": {"cmd": "b"}}]'
    assert calls(recover_tool_calls(text, TOOLS)) == [("run", {"cmd": "a"}), ("run", {"cmd": "b"})]


def test_arguments_as_json_string() -> None:
    text = '```json\n{"name": "run", "arguments": "{\\"cmd\\": \\"python src/app.py\\"}"}\n```'
    assert calls(recover_tool_calls(text, TOOLS)) == [("run", {"cmd": "python src/app.py"})]


@pytest.mark.parametrize("key", ["parameters", "args"])
def test_alternative_argument_keys(key: str) -> None:
    text = f'<tool_call>{{"name": "write_file", "{key}": {{"path": "a", "text": "b"}}}}</tool_call>'
    assert calls(recover_tool_calls(text, TOOLS)) == [("write_file", {"path": "a", "text": "b"})]


def test_function_wrapper() -> None:
    text = '{"type": "function", "function": {"name": "run", "arguments": "{\\"cmd\\": \\"ls\\"}"}}'
    assert calls(recover_tool_calls(text, TOOLS)) == [("run", {"cmd": "ls"})]


def test_known_tool_without_arguments() -> None:
    assert calls(recover_tool_calls('<tool_call>{"name": "run"}</tool_call>', TOOLS)) == [("run", {})]
    assert calls(recover_tool_calls('{"name": "run"}', TOOLS)) == [("run", {})]


def test_unicode_arguments_survive() -> None:
    rec = recover_tool_calls('{"name": "write_file", "arguments": {"text": "héllo ✓"}}', TOOLS)
    assert calls(rec) == [("write_file", {"text": "héllo ✓"})]


# --- malformed ---------------------------------------------------------------------------------


def test_truncated_json_in_tag() -> None:
    rec = recover_tool_calls('<tool_call>\n{"name": "read_file", "arguments": {"path": "a.py"\n', TOOLS)
    assert rec.calls == []
    assert len(rec.format_errors) == 1 and "valid JSON" in rec.format_errors[0]


def test_unknown_tool_is_a_format_error() -> None:
    rec = recover_tool_calls('<tool_call>{"name": "delete_all", "arguments": {}}</tool_call>', TOOLS)
    assert rec.calls == []
    assert "unknown tool 'delete_all'" in rec.format_errors[0] and "read_file" in rec.format_errors[0]
    bare = recover_tool_calls('{"name": "delete_all", "arguments": {}}', TOOLS)
    assert bare.calls == [] and "unknown tool" in bare.format_errors[0]


def test_missing_name() -> None:
    rec = recover_tool_calls('<tool_call>{"arguments": {"cmd": "ls"}}</tool_call>', TOOLS)
    assert rec.calls == [] and 'no "name"' in rec.format_errors[0]


def test_arguments_list() -> None:
    rec = recover_tool_calls('<tool_call>{"name": "run", "arguments": ["ls"]}</tool_call>', TOOLS)
    assert rec.calls == [] and "must be a JSON object, got an array" in rec.format_errors[0]


def test_arguments_string_not_json() -> None:
    rec = recover_tool_calls('```json\n{"name": "run", "arguments": "ls -la"}\n```', TOOLS)
    assert rec.calls == [] and "not valid JSON" in rec.format_errors[0]


def test_good_and_bad_calls_together() -> None:
    text = (
        '<tool_call>{"name": "run", "arguments": {"cmd": "ls"}}</tool_call>'
        '<tool_call>{"name": "nope", "arguments": {}}</tool_call>'
    )
    rec = recover_tool_calls(text, TOOLS)
    assert calls(rec) == [("run", {"cmd": "ls"})] and len(rec.format_errors) == 1
    assert rec.remaining_text == ""


def test_truncated_bare_call_does_not_double_report() -> None:
    rec = recover_tool_calls('Calling {"function": {"name": "run", "arguments": {"cmd": "ls"}}', TOOLS)
    assert rec.calls == [] and len(rec.format_errors) == 1
    assert rec.remaining_text == "Calling"


def test_non_json_inside_tag() -> None:
    rec = recover_tool_calls("<tool_call>run ls</tool_call>", TOOLS)
    assert rec.calls == [] and len(rec.format_errors) == 1


# --- not calls ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "The repository has 3 top-level entries.",
        '{"count": 3}',
        '```json\n{"top_level_entries": 7}\n```',
        'The answer is {"name": "Alice", "age": 3}.',
        "Use a dict like {a: 1} or a set {1, 2}.",
        '```python\nprint({"name": "run", "arguments": {}})\n```',
        '[{"count": 1}, {"count": 2}]',
        "",
    ],
)
def test_not_a_call(text: str) -> None:
    rec = recover_tool_calls(text, TOOLS)
    assert rec.calls == [] and rec.format_errors == []
    assert rec.remaining_text == text


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('{}[]":,<>/` \nabcnmetoolcarguspfijd_\\0123')), max_size=200))
def test_arbitrary_json_ish_text_never_raises(text: str) -> None:
    rec = recover_tool_calls(text, TOOLS)
    for call in rec.calls:
        assert call.name in TOOLS and isinstance(json.loads(call.arguments), dict)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_never_raises(text: str) -> None:
    assert isinstance(recover_tool_calls(text, TOOLS).remaining_text, str)


def test_deep_nesting_does_not_raise() -> None:
    text = '<tool_call>{"name": "run", "arguments": ' + "[" * 100_000 + "</tool_call> {" * 3
    rec = recover_tool_calls(text, TOOLS)
    assert rec.calls == [] and rec.format_errors


def test_raw_of_several_calls_in_one_block() -> None:
    text = TWO_IN_ONE_TAG
    rec = recover_tool_calls(text, TOOLS)
    assert [c.raw for c in rec.calls] == [CALL_A, CALL_B]


def test_echoed_tool_definition_is_neither_call_nor_error() -> None:
    echo = (
        '<tools>\n{"type": "function", "function": {"name": "list_dir", "description": "List the entries", '
        '"parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}}\n'
        "</tools>\n"
        '{"name": "list_dir", "arguments": {"path": "src"}}'
    )
    rec = recover_tool_calls(echo, {"list_dir", "run_command"})
    assert [(c.name, json.loads(c.arguments)) for c in rec.calls] == [("list_dir", {"path": "src"})]
    assert rec.format_errors == []
