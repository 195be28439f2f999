"""The data model every stage shares: tool specs, calls, messages, dialogues and samples.

All models are pydantic v2, serialise to one JSON object per line, and carry a
``schema_version`` so files written by an older LoopTool are recognised.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

import jsonschema
import jsonschema.exceptions
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

SCHEMA_VERSION = 1


def _known_schema_version(version: int) -> int:
    if version > SCHEMA_VERSION:
        raise ValueError(
            f"schema_version {version} is newer than this LoopTool reads ({SCHEMA_VERSION}); "
            "upgrade LoopTool or re-create the file"
        )
    if version < 1:
        raise ValueError(f"schema_version must be 1 to {SCHEMA_VERSION}, got {version}")
    return version


#: A record's data-model version: one this LoopTool writes or an older one; a newer one is
#: refused rather than read wrongly.
SchemaVersion = Annotated[int, AfterValidator(_known_schema_version)]

TOOL_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,127}$")

# Tool specs in the wild (OpenAI functions, BFCL, OpenAPI-derived) are Draft 7 schemas;
# one cached metaschema validator checks them (the 2020-12 metaschema is ~8x slower).
_METASCHEMA_VALIDATOR = jsonschema.Draft7Validator(jsonschema.Draft7Validator.META_SCHEMA)


def schema_problem(schema: Any) -> str | None:
    """Why ``schema`` is not a valid JSON Schema (Draft 7), or None when it is."""
    error = jsonschema.exceptions.best_match(_METASCHEMA_VALIDATOR.iter_errors(schema))
    if error is None:
        return None
    where = "/".join(str(part) for part in error.path) or "<root>"
    return f"not a valid JSON Schema at {where}: {error.message}"


class SpecError(ValueError):
    """A tool spec is invalid; the message names the offending field."""


class ToolSpec(BaseModel):
    """One tool in OpenAI function format: name, description, JSON-Schema parameters."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )
    returns: dict[str, Any] | None = None

    @field_validator("name")
    @classmethod
    def _check_name(cls, name: str) -> str:
        if not name or not name.strip():
            raise ValueError("tool name is empty")
        if not TOOL_NAME_PATTERN.match(name):
            raise ValueError(
                f"tool name {name!r} must start with a letter or '_' and contain only "
                "letters, digits, '_', '.', '-' (at most 128 characters)"
            )
        return name

    @field_validator("parameters")
    @classmethod
    def _check_parameters(cls, parameters: dict[str, Any]) -> dict[str, Any]:
        problem = schema_problem(parameters)
        if problem:
            raise ValueError(problem)
        if parameters.get("type", "object") != "object":
            raise ValueError(f"parameters.type must be 'object', got {parameters.get('type')!r}")
        properties = parameters.get("properties", {})
        for required in parameters.get("required", []):
            if required not in properties:
                raise ValueError(f"required parameter {required!r} is not in properties")
        return parameters

    @field_validator("returns")
    @classmethod
    def _check_returns(cls, returns: dict[str, Any] | None) -> dict[str, Any] | None:
        problem = schema_problem(returns) if returns is not None else None
        if problem:
            raise ValueError(problem)
        return returns

    @property
    def required(self) -> list[str]:
        return list(self.parameters.get("required", []))

    @property
    def properties(self) -> dict[str, Any]:
        return dict(self.parameters.get("properties", {}))

    def to_openai(self) -> dict[str, Any]:
        """The ``tools=[...]`` entry of the OpenAI chat API."""
        function: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
        }
        return {"type": "function", "function": function}

    @classmethod
    def from_openai(cls, data: dict[str, Any]) -> ToolSpec:
        """Accept either ``{"type": "function", "function": {...}}`` or the bare function."""
        body = data.get("function", data) if data.get("type") == "function" else data
        return load_tool_spec(body)


def load_tool_spec(data: dict[str, Any]) -> ToolSpec:
    """Validate one spec; a failure raises :class:`SpecError` naming the field."""
    from pydantic import ValidationError

    try:
        return ToolSpec.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "<spec>"
        name = data.get("name", "<unnamed>") if isinstance(data, dict) else "<not an object>"
        raise SpecError(f"tool {name!r}: field '{field}': {first['msg']}") from None


def validate_toolset(tools: list[ToolSpec]) -> list[ToolSpec]:
    """Reject duplicate tool names within one tool list."""
    seen: set[str] = set()
    for tool in tools:
        if tool.name in seen:
            raise SpecError(f"field 'tools': duplicate tool name {tool.name!r}")
        seen.add(tool.name)
    return tools


class ToolCall(BaseModel):
    """A call of one tool with keyword arguments."""

    model_config = ConfigDict(extra="forbid")

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    id: str | None = None


class Role(StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


class Message(BaseModel):
    """One chat message; assistant messages may carry tool calls, tool messages a result."""

    model_config = ConfigDict(extra="forbid")

    role: Role
    content: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_call_id: str | None = None
    name: str | None = None
    reasoning: str | None = None

    @model_validator(mode="after")
    def _check_role_fields(self) -> Message:
        if self.tool_calls and self.role != Role.ASSISTANT:
            raise ValueError(f"only assistant messages carry tool_calls, not {self.role.value}")
        if self.role == Role.TOOL and not self.name and not self.tool_call_id:
            raise ValueError("a tool message needs the tool's name or the tool_call_id")
        return self


class OriginKind(StrEnum):
    """Where a sample came from."""

    SEED = "seed"
    IMPORTED = "imported"
    EXPANDED = "expanded"  # EDDE variant of an error seed
    RELABELED = "relabeled"  # label corrected by JGLV
    PREDICTION_WRONG = "prediction_wrong"  # kept as error seed, label confirmed
    HIGH_PPL = "high_ppl"  # mastered but high perplexity


#: How files written before :attr:`Lineage.dialogue_id` noted a sample's dialogue.
DIALOGUE_NOTE = "dialogue:"


class Lineage(BaseModel):
    """A sample's history: what produced it, from which parent, in which iteration."""

    model_config = ConfigDict(extra="forbid")

    origin: OriginKind = OriginKind.SEED
    parent_id: str | None = None
    iteration: int = 0
    stage: str = "seed"
    notes: list[str] = Field(default_factory=list)
    #: The item of its source it was made from (curated template id, dialogue id, imported
    #: ``file:line``); the held-out split never puts one item on both sides.
    source_item: str | None = None
    #: The seed dialogue the sample was cut from (kept through every later stage).
    dialogue_id: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _migrate_dialogue_note(cls, data: Any) -> Any:
        """Files written before ``dialogue_id`` existed carry it as a ``dialogue:<id>`` note."""
        if not isinstance(data, dict) or data.get("dialogue_id") is not None:
            return data
        notes = data.get("notes")
        if not isinstance(notes, list):
            return data
        found = next((note for note in notes if isinstance(note, str) and note.startswith(DIALOGUE_NOTE)), None)
        if found is None:
            return data
        return {**data, "dialogue_id": found.removeprefix(DIALOGUE_NOTE),
                "notes": [note for note in notes if note is not found]}


class Plan(BaseModel):
    """The Planner agent's plan for one simulated dialogue."""

    model_config = ConfigDict(extra="forbid")

    task: str
    tool_names: list[str] = Field(default_factory=list)
    turns: int = 1
    steps: list[str] = Field(default_factory=list)


class Dialogue(BaseModel):
    """A full simulated (or imported) dialogue with the tools it could use."""

    model_config = ConfigDict(extra="forbid")

    schema_version: SchemaVersion = SCHEMA_VERSION
    id: str
    tools: list[ToolSpec]
    messages: list[Message]
    plan: Plan | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("tools")
    @classmethod
    def _unique_tools(cls, tools: list[ToolSpec]) -> list[ToolSpec]:
        return validate_toolset(tools)


class Sample(BaseModel):
    """One training unit: tools + context -> label (tool calls or a text reply).

    ``context`` keeps the source's system messages; ``now`` is its date/time, if it has one."""

    model_config = ConfigDict(extra="forbid")

    schema_version: SchemaVersion = SCHEMA_VERSION
    id: str
    tools: list[ToolSpec]
    context: list[Message]
    label_calls: list[ToolCall] = Field(default_factory=list)
    label_text: str | None = None
    #: When the conversation takes place, as the source states it (e.g. ``"2024-07-14 06:00"``);
    #: rendered into the prompt so relative dates ("tomorrow") can be learned and judged.
    #: System messages of the source stay in ``context``.
    now: str | None = None
    lineage: Lineage = Field(default_factory=Lineage)
    #: Source-specific data, each key owned and typed by the stage that writes it (e.g.
    #: ``"curated"``: template id + slot values, read by ``looptool.loop.seed``).
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("tools")
    @classmethod
    def _unique_tools(cls, tools: list[ToolSpec]) -> list[ToolSpec]:
        return validate_toolset(tools)

    @model_validator(mode="after")
    def _check_label(self) -> Sample:
        if self.label_calls and self.label_text is not None:
            raise ValueError("a label is either tool calls or a text reply, not both")
        if not self.label_calls and self.label_text is None:
            raise ValueError("a sample needs a label: label_calls or label_text")
        offered = {tool.name for tool in self.tools}
        for call in self.label_calls:
            if call.name not in offered:
                raise ValueError(
                    f"label_calls names tool {call.name!r}, which is not offered "
                    f"(offered: {sorted(offered)})"
                )
        return self

    @property
    def label_kind(self) -> Literal["calls", "text"]:
        return "calls" if self.label_calls else "text"

    def tool(self, name: str) -> ToolSpec | None:
        return next((tool for tool in self.tools if tool.name == name), None)
