"""Run one :class:`~looptool.schema.ToolCall` against an executable backend.

:func:`execute_tool_call` never raises and never ``eval``s: an unknown tool, arguments that do
not validate against the derived JSON Schema, a :class:`ToolError` raised by the method, or a
bug in the backend all come back as a :class:`ToolResult` with ``ok=False`` whose ``content``
is ``{"error": "..."}`` — the text the model sees in the tool message.
"""

from __future__ import annotations

import difflib
import json
import logging
from typing import Any

import jsonschema
from pydantic import ValidationError
from pydantic_core import to_jsonable_python

from looptool.agents.backends.base import BackendDefinitionError, ToolBackend, ToolError, ToolResult
from looptool.agents.backends.specs import BackendTool, backend_tools
from looptool.schema import ToolCall

log = logging.getLogger(__name__)

MAX_ERRORS_SHOWN = 5


def to_json_text(value: Any) -> str:
    """A tool result as JSON text; ``None`` becomes ``{"status": "ok"}``."""
    if value is None:
        value = {"status": "ok"}
    return json.dumps(to_jsonable_python(value), ensure_ascii=False)


def error_result(call: ToolCall, message: str, backend: str | None = None) -> ToolResult:
    """The error result the model sees as ``{"error": message}``."""
    return ToolResult(
        name=call.name, call_id=call.id, ok=False, error=message, backend=backend,
        content=json.dumps({"error": message}, ensure_ascii=False),
    )


def describe_schema_errors(schema: dict[str, Any], arguments: dict[str, Any]) -> list[str]:
    """Every JSON-Schema violation of ``arguments``, as short sentences naming the field."""
    validator = jsonschema.Draft202012Validator(schema)
    problems: list[str] = []
    for error in sorted(validator.iter_errors(arguments), key=lambda e: list(map(str, e.path))):
        where = "/".join(str(part) for part in error.path)
        problems.append(f"{where}: {error.message}" if where else error.message)
    return problems


def _unknown_tool(call: ToolCall, tools: dict[str, BackendTool], backend: str) -> ToolResult:
    close = difflib.get_close_matches(call.name, list(tools), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return error_result(
        call, f"unknown tool {call.name!r}{hint} (available: {', '.join(tools)})", backend
    )


def convert_arguments(tool: BackendTool, arguments: dict[str, Any]) -> dict[str, Any]:
    """Validate JSON arguments against the tool's schema and convert them to Python values.

    Raises :class:`ToolError` with every violation listed.
    """
    cleaned = {
        key: value
        for key, value in arguments.items()
        if not (value is None and key in tool.parameters and tool.parameters[key].default_is_none)
    }
    problems = describe_schema_errors(tool.spec.parameters, cleaned)
    if problems:
        shown = "; ".join(problems[:MAX_ERRORS_SHOWN])
        more = f" (and {len(problems) - MAX_ERRORS_SHOWN} more)" if len(problems) > MAX_ERRORS_SHOWN else ""
        raise ToolError(f"invalid arguments for {tool.name!r}: {shown}{more}")
    converted: dict[str, Any] = {}
    for key, value in cleaned.items():
        try:
            converted[key] = tool.parameters[key].adapter.validate_python(value)
        except ValidationError as error:
            first = error.errors()[0]
            raise ToolError(
                f"invalid arguments for {tool.name!r}: {key}: {first['msg']}"
            ) from None
    return converted


def execute_tool_call(backend: ToolBackend, call: ToolCall) -> ToolResult:
    """Run ``call`` on ``backend``; every failure becomes an error result (never raises)."""
    backend_name = type(backend).backend_name or type(backend).__name__
    try:
        tools = backend_tools(type(backend))
    except BackendDefinitionError as error:
        return error_result(call, f"backend {backend_name!r} is broken: {error}", backend_name)
    tool = tools.get(call.name)
    if tool is None:
        return _unknown_tool(call, tools, backend_name)
    try:
        kwargs = convert_arguments(tool, call.arguments)
        value = getattr(backend, call.name)(**kwargs)
        content = to_json_text(value)
    except ToolError as error:
        return error_result(call, str(error) or type(error).__name__, backend_name)
    except Exception as error:  # a bug in the backend: the dialogue still goes on
        log.exception("tool %s of backend %s failed", call.name, backend_name)
        return error_result(
            call, f"internal error in tool {call.name!r}: {type(error).__name__}: {error}",
            backend_name,
        )
    return ToolResult(name=call.name, call_id=call.id, ok=True, content=content,
                      backend=backend_name)
