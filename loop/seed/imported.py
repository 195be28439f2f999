"""Import tool-use data sets in OpenAI fine-tuning format (JSON Lines of
``{"messages": [...], "tools": [...]}``) as seed samples.

Every assistant turn with tool calls or text becomes one Sample: the context is every message
before it (system messages kept), the label its calls (or its text when it has no calls),
the tools the line's ``tools`` (or legacy ``functions``). Assistant turns with ``"weight": 0``
are context only. Lineage: origin ``imported``, ``source_item`` = ``<file>:<line>`` (all
turns of one conversation stay on one side of the held-out split), notes with the turn.

A bad line (not JSON, no messages, an invalid tool spec or message) is reported as
``file:line: reason`` and skipped; a bad turn (e.g. a call of a tool the line does not
offer) is reported with its turn and skipped; the import never stops on bad input.

The files are read as plain JSON lines rather than with ``datasets.load_dataset("json")``:
that loader stops at the first malformed line without naming it, so one bad line would lose
the whole file and the report could not say where the problem is.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from looptool.codecs import parse_openai
from looptool.labels import label_problems
from looptool.schema import (
    Lineage,
    Message,
    OriginKind,
    Role,
    Sample,
    SpecError,
    ToolCall,
    ToolSpec,
    validate_toolset,
)

log = logging.getLogger(__name__)

ROLES = {"system": Role.SYSTEM, "developer": Role.SYSTEM, "user": Role.USER,
         "assistant": Role.ASSISTANT, "tool": Role.TOOL}


class LineError(ValueError):
    """One line (or turn) cannot be imported; the message says why."""


@dataclass(frozen=True)
class ImportProblem:
    """A skipped line or turn: ``file:line: reason``."""

    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


@dataclass
class ImportedSamples:
    """The samples imported and the problems found (nothing is raised for bad lines)."""

    samples: list[Sample] = field(default_factory=list)
    problems: list[ImportProblem] = field(default_factory=list)
    lines: int = 0


def _text(content: Any, where: str) -> str:
    """Message content: a string, null, or a list of ``{"type": "text", "text": ...}`` parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                parts.append(part["text"])
            else:
                raise LineError(f"{where}: content part {part!r} is not a text part")
        return "".join(parts)
    raise LineError(f"{where}: content must be a string, null or a list of text parts")


def _calls(raw: dict[str, Any], where: str) -> list[ToolCall]:
    tool_calls = raw.get("tool_calls")
    if tool_calls is None and raw.get("function_call") is not None:
        tool_calls = [{"type": "function", "function": raw["function_call"]}]
    parsed = parse_openai(tool_calls)
    if parsed.error is not None:
        raise LineError(f"{where}: {parsed.error.message}")
    return parsed.calls


def _message(raw: Any, index: int, call_names: dict[str, str]) -> Message:
    where = f"messages[{index}]"
    if not isinstance(raw, dict):
        raise LineError(f"{where} is not an object")
    role = ROLES.get(str(raw.get("role")))
    if role is None:
        raise LineError(f"{where}: unknown role {raw.get('role')!r} (known: {', '.join(ROLES)})")
    content = _text(raw.get("content"), where)
    try:
        if role == Role.ASSISTANT:
            calls = _calls(raw, where)
            for call in calls:
                if call.id:
                    call_names[call.id] = call.name
            return Message(role=role, content=content, tool_calls=calls)
        if role == Role.TOOL:
            call_id = raw.get("tool_call_id")
            name = raw.get("name") or (call_names.get(call_id) if isinstance(call_id, str) else None)
            return Message(role=role, content=content, tool_call_id=call_id, name=name)
        return Message(role=role, content=content)
    except ValidationError as error:
        first = error.errors()[0]
        raise LineError(f"{where}: {str(first['msg']).removeprefix('Value error, ')}") from None


def _tools(record: dict[str, Any]) -> list[ToolSpec]:
    raw_tools = record.get("tools", record.get("functions", []))
    if not isinstance(raw_tools, list):
        raise LineError("tools must be a list")
    tools: list[ToolSpec] = []
    for index, raw in enumerate(raw_tools):
        if not isinstance(raw, dict):
            raise LineError(f"tools[{index}] is not an object")
        try:
            tools.append(ToolSpec.from_openai(raw))
        except SpecError as error:
            raise LineError(f"tools[{index}]: {error}") from None
    try:
        return validate_toolset(tools)
    except SpecError as error:
        raise LineError(str(error)) from None


def file_tag(path: Path) -> str:
    """``<stem>-<6 hex digits of the path>``: sample ids unique across files of one name."""
    return f"{path.stem}-{hashlib.sha256(str(path).encode()).hexdigest()[:6]}"


def samples_from_record(record: Any, path: Path, line: int, result: ImportedSamples) -> None:
    """Append the samples of one parsed line to ``result`` (problems recorded there)."""
    source = str(path)
    if not isinstance(record, dict):
        raise LineError("a line must be a JSON object with 'messages'")
    raw_messages = record.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise LineError("'messages' is missing or not a non-empty list")
    tools = _tools(record)
    call_names: dict[str, str] = {}
    messages = [_message(raw, index, call_names) for index, raw in enumerate(raw_messages)]
    item = f"{source}:{line}"
    turn = 0
    for index, message in enumerate(messages):
        if message.role != Role.ASSISTANT:
            continue
        this_turn = turn
        turn += 1
        raw = raw_messages[index]
        if raw.get("weight") == 0 or (not message.tool_calls and not message.content.strip()):
            continue
        calls = [ToolCall(name=call.name, arguments=call.arguments) for call in message.tool_calls]
        try:
            sample = Sample(
                id=f"imp-{file_tag(path)}-L{line}-t{this_turn}",
                tools=tools,
                context=[earlier.model_copy(deep=True) for earlier in messages[:index]],
                label_calls=calls,
                label_text=None if calls else message.content,
                lineage=Lineage(origin=OriginKind.IMPORTED, iteration=0, stage="seed",
                                source_item=item, notes=[f"source:{item}", f"turn:{this_turn}"]),
            )
        except ValidationError as error:
            first = error.errors()[0]
            reason = str(first["msg"]).removeprefix("Value error, ")
            result.problems.append(ImportProblem(source, line, f"assistant turn {this_turn}: {reason}"))
            continue
        broken = label_problems(sample)
        if broken:  # a label the tool would refuse is reported and skipped, like any bad turn
            result.problems.append(ImportProblem(source, line, f"assistant turn {this_turn}: {'; '.join(broken)}"))
            continue
        result.samples.append(sample)


def import_openai_jsonl(paths: Iterable[str | Path]) -> ImportedSamples:
    """Every sample of the given JSONL files; bad lines and turns are reported, not raised.
    A path that does not exist raises ``FileNotFoundError`` naming it."""
    files = [Path(path) for path in paths]
    for path in files:
        if not path.is_file():
            raise FileNotFoundError(f"imported data set {path} does not exist")
    result = ImportedSamples()
    for path in files:
        before = (len(result.samples), len(result.problems))
        with path.open("rb") as stream:
            for line, raw in enumerate(stream, start=1):
                if not raw.strip():
                    continue
                result.lines += 1
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as error:
                    reason = f"byte 0x{raw[error.start]:02x} at column {error.start + 1} is not UTF-8"
                    result.problems.append(ImportProblem(str(path), line, reason))
                    continue
                try:
                    record = json.loads(text)
                except json.JSONDecodeError as error:
                    reason = f"not valid JSON: {error.msg} at column {error.colno}"
                    result.problems.append(ImportProblem(str(path), line, reason))
                    continue
                try:
                    samples_from_record(record, path, line, result)
                except LineError as error:
                    result.problems.append(ImportProblem(str(path), line, str(error)))
        log.info("%s: %d samples, %d problems", path, len(result.samples) - before[0],
                 len(result.problems) - before[1])
    return result
