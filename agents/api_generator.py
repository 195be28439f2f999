"""The API generator role: writes one tool specification for a sampled generation request.

The request (:class:`ApiRequest`) merges one leaf of the context tree (domain, subdomain,
intent) with one constraint path (naming convention, parameter count band, parameter
types, required/optional mix, return format). The model answers with an :class:`ApiDraft`
through structured output (``with_structured_output(ApiDraft, method="json_schema")``;
vLLM enforces the schema with its grammar backend), which :func:`draft_to_spec` turns into
an OpenAI-format tool spec (JSON Schema parameters). Whether that spec honours the request
is decided by the rule checks of ``graphs.api_synthesis.rules``, not here.

Prompts are versioned :class:`agents.role_call.RolePrompt`s (``$name`` placeholders) and can
be replaced from the ``api_synth.prompts`` config section.
"""

from __future__ import annotations

import json
import re
import time
from typing import Annotated, Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from looptool.agents.role_call import RolePrompt
from looptool.traces import usage_of_error

ROLE = "generator"

JsonType = Literal["string", "integer", "number", "boolean", "array", "object"]

# ----------------------------------------------------------------------------- the request


class NamingRequirement(BaseModel):
    """How names must be written (one leaf of the constraint tree's naming dimension)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    convention: str
    description: str = ""
    function_pattern: str
    parameter_pattern: str
    example_function: str
    example_parameter: str


class ParameterRequirement(BaseModel):
    """Parameter count band, type structure and required/optional mix."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_count: int
    max_count: int
    types_option: str
    types_description: str = ""
    allowed_types: list[str]
    must_include: list[Literal["enum", "array", "object"]] = Field(default_factory=list)
    required_option: str
    required_description: str = ""
    min_required: int = 0
    max_required: int | None = None
    min_optional: int = 0
    max_optional: int | None = None


class ReturnRequirement(BaseModel):
    """What the function returns (one leaf of the return-format dimension)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    option: str
    description: str = ""
    types: list[str]
    items_type: str | None = None
    min_properties: int = 0
    required_properties: list[str] = Field(default_factory=list)


class ApiRequest(BaseModel):
    """One generation request: a context leaf merged with a constraint path."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sample_id: str
    domain: str
    subdomain: str
    intent: str
    intent_description: str = ""
    naming: NamingRequirement
    parameters: ParameterRequirement
    returns: ReturnRequirement
    min_description_chars: int = 12
    min_function_name_words: int = 2


# ----------------------------------------------------------------------------- the answer


# Grammar bounds (maxLength / maxItems / maxProperties, enforced by vLLM's structured output)
# keep a small model from looping inside one string or list until max_tokens runs out.
# They are generous: the constraint tree's limits are checked by the rules, not here.
MAX_NAME_CHARS = 64
MAX_DESCRIPTION_CHARS = 300
MAX_ENUM_VALUES = 12
MAX_PARAMETERS = 12
MAX_FIELDS = 8

Description = Annotated[str, StringConstraints(max_length=MAX_DESCRIPTION_CHARS)]
EnumValue = Annotated[str, StringConstraints(max_length=MAX_NAME_CHARS)]
EnumValues = Annotated[list[EnumValue], Field(max_length=MAX_ENUM_VALUES)]


class FieldDraft(BaseModel):
    """A property of a nested object (second level)."""

    type: JsonType
    description: Description
    enum: EnumValues | None = Field(default=None, description="allowed values, or null")


class ItemsDraft(BaseModel):
    """The element schema of an array parameter."""

    type: JsonType
    description: Description | None = None
    enum: EnumValues | None = Field(default=None, description="allowed values, or null")
    properties: dict[str, FieldDraft] | None = Field(
        default=None,
        max_length=MAX_FIELDS,
        description="for arrays of objects: the object's properties, or null",
    )


class ParameterDraft(BaseModel):
    """One top-level parameter."""

    type: JsonType
    description: Description
    enum: EnumValues | None = Field(default=None, description="allowed values, or null")
    items: ItemsDraft | None = Field(default=None, description="for type array: the items, or null")
    properties: dict[str, FieldDraft] | None = Field(
        default=None, max_length=MAX_FIELDS, description="for type object: its properties, or null"
    )


class ReturnsDraft(BaseModel):
    """The return value."""

    type: JsonType
    description: Description
    properties: dict[str, FieldDraft] | None = Field(
        default=None, max_length=MAX_FIELDS, description="for type object: the returned fields, or null"
    )
    items: ItemsDraft | None = Field(default=None, description="for type array: the items, or null")


class ApiDraft(BaseModel):
    """The generator's structured answer: one API (tool) definition."""

    name: str = Field(
        max_length=MAX_NAME_CHARS, description="the function name, in the requested naming convention"
    )
    description: Description = Field(description="what the function does, one or two sentences")
    parameters: dict[str, ParameterDraft] = Field(
        max_length=MAX_PARAMETERS,
        description="parameter name -> its schema, names in the requested naming convention",
    )
    required: list[str] = Field(max_length=MAX_PARAMETERS, description="names of the required parameters")
    returns: ReturnsDraft


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _drop_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_drop_nulls(item) for item in value]
    return value


def _object_schema(properties: dict[str, Any], required: list[str] | None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


def draft_to_spec(draft: ApiDraft) -> dict[str, Any]:
    """The draft as an OpenAI-format tool spec dict (``name``, ``description``, JSON-Schema
    ``parameters`` and ``returns``). Null fields are dropped; nothing is repaired, so the
    rule checks see exactly what the model wrote."""
    properties = {
        name: _drop_nulls(parameter.model_dump(mode="json"))
        for name, parameter in draft.parameters.items()
    }
    return {
        "name": draft.name,
        "description": draft.description,
        "parameters": _object_schema(properties, draft.required),
        "returns": _drop_nulls(draft.returns.model_dump(mode="json")),
    }


# ----------------------------------------------------------------------------- prompts

PROMPT_VERSION = "api-generator/v1"

SYSTEM_PROMPT = RolePrompt(
    name="api_generator.system",
    version=PROMPT_VERSION,
    text="""You are an API designer. You write the definition of one realistic web API \
function that a developer would publish, as a JSON object with these keys:
- "name": the function name,
- "description": one or two sentences saying what the function does,
- "parameters": an object mapping each parameter name to {"type", "description", "enum", \
"items", "properties"} (use null for what does not apply),
- "required": the list of required parameter names,
- "returns": {"type", "description", "properties", "items"} describing the result.
Types are JSON Schema types: string, integer, number, boolean, array, object. An array \
parameter declares its "items"; an object parameter declares its "properties"; an enum is \
a list of allowed string values. Every parameter and every property has a description.
Follow every constraint of the request exactly.""",
)

REQUEST_PROMPT = RolePrompt(
    name="api_generator.request",
    version=PROMPT_VERSION,
    text="""Design one API function.

Domain: $domain > $subdomain
Function intent: $intent — $intent_description

Constraints:
$constraints

Example of the answer format (a different API; do not copy it):
$example

Answer with the JSON object only.""",
)

FEEDBACK_PROMPT = RolePrompt(
    name="api_generator.feedback",
    version=PROMPT_VERSION,
    text="""Your API breaks these rules (attempt $attempt of $max_attempts):
$violations

Write the whole API again as one JSON object, fixing every point above and keeping all \
the original constraints.""",
)


class ApiGeneratorPrompts(BaseModel):
    """Overrides for the generator's prompts (``api_synth.prompts`` in a recipe). A text
    replaces the built-in prompt; ``version`` names the overriding version in provenance."""

    model_config = ConfigDict(extra="forbid")

    system: str | None = Field(default=None, description="system prompt text")
    request: str | None = Field(
        default=None,
        description="request template; placeholders $domain $subdomain $intent "
        "$intent_description $constraints $example",
    )
    feedback: str | None = Field(
        default=None, description="retry template; placeholders $violations $attempt $max_attempts"
    )
    version: str | None = Field(default=None, description="version label for overridden prompts")

    def resolved(self) -> tuple[RolePrompt, RolePrompt, RolePrompt]:
        return (
            SYSTEM_PROMPT.with_override(self.system, self.version),
            REQUEST_PROMPT.with_override(self.request, self.version),
            FEEDBACK_PROMPT.with_override(self.feedback, self.version),
        )

    def version_label(self) -> str:
        return "+".join(sorted({prompt.version for prompt in self.resolved()}))


# ----------------------------------------------------------------------------- rendering

_WORD_SPLIT = re.compile(r"[_\-\s]+|(?<=[a-z0-9])(?=[A-Z])")


def split_words(name: str) -> list[str]:
    """``getFlightOffers`` / ``get_flight_offers`` / ``get-flight-offers`` -> words."""
    return [word.lower() for word in _WORD_SPLIT.split(name.strip()) if word]


def apply_convention(words: list[str], convention: str) -> str:
    """Join words in a built-in convention (snake/camel/kebab/Pascal by name); an unknown
    convention falls back to snake_case (examples only; the rules use the regexes)."""
    key = convention.lower().replace("-", "").replace("_", "")
    if key.startswith("camel"):
        return words[0] + "".join(word.capitalize() for word in words[1:])
    if key.startswith("pascal"):
        return "".join(word.capitalize() for word in words)
    if key.startswith("kebab"):
        return "-".join(words)
    return "_".join(words)


def example_draft(convention: str) -> dict[str, Any]:
    """A one-shot example answer (weather forecast) written in ``convention``."""

    def name(*words: str) -> str:
        return apply_convention(list(words), convention)

    return {
        "name": name("get", "weather", "forecast"),
        "description": "Get the daily weather forecast for a city for the next few days.",
        "parameters": {
            name("city", "name"): {
                "type": "string",
                "description": "Name of the city, e.g. Lisbon.",
                "enum": None,
                "items": None,
                "properties": None,
            },
            name("forecast", "days"): {
                "type": "integer",
                "description": "Number of days to forecast, 1 to 7.",
                "enum": None,
                "items": None,
                "properties": None,
            },
            name("unit", "system"): {
                "type": "string",
                "description": "Units of the returned values.",
                "enum": ["metric", "imperial"],
                "items": None,
                "properties": None,
            },
        },
        "required": [name("city", "name")],
        "returns": {
            "type": "object",
            "description": "The forecast.",
            "properties": {
                name("high", "temperature"): {
                    "type": "number",
                    "description": "Highest temperature of the period.",
                    "enum": None,
                },
                "summary": {"type": "string", "description": "Short text summary.", "enum": None},
            },
            "items": None,
        },
    }


def _bound(low: int, high: int | None) -> str:
    if high is None:
        return f"at least {low}"
    if low == high:
        return f"exactly {low}"
    return f"between {low} and {high}" if low > 0 else f"at most {high}"


def constraint_lines(request: ApiRequest) -> list[str]:
    """The request's constraints as short imperative lines for the prompt."""
    naming = request.naming
    params = request.parameters
    returns = request.returns
    lines = [
        f"- Naming: {naming.convention} ({naming.description}) for the function name and every "
        f"parameter name, e.g. function {naming.example_function!r}, parameter "
        f"{naming.example_parameter!r}. The function name has at least "
        f"{request.min_function_name_words} words.",
        f"- Parameters: {_bound(params.min_count, params.max_count)} top-level parameters.",
        f"- Parameter types: {params.types_description or params.types_option}; allowed types: "
        f"{', '.join(params.allowed_types)}.",
    ]
    if params.must_include:
        wanted = {
            "enum": "a string parameter with an enum of allowed values",
            "array": "an array parameter with typed items",
            "object": "an object parameter with its own described properties",
        }
        lines.append("- Must include: " + "; ".join(wanted[item] for item in params.must_include) + ".")
    required = _bound(params.min_required, params.max_required)
    optional = _bound(params.min_optional, params.max_optional)
    lines.append(
        f"- Required/optional: {params.required_description or params.required_option}: "
        f"{required} required and {optional} optional parameters."
    )
    shape = " or ".join(returns.types)
    detail = f" of {returns.items_type} items" if returns.items_type else ""
    if returns.required_properties:
        detail += f" with fields {', '.join(returns.required_properties)}"
    elif returns.min_properties:
        detail += f" with at least {returns.min_properties} described fields"
    lines.append(f"- Returns: {returns.description or returns.option} (type {shape}{detail}).")
    lines.append(
        f"- Descriptions: the function description has at least {request.min_description_chars} "
        "characters; every parameter and property has a description."
    )
    return lines


# ----------------------------------------------------------------------------- the call


class PreviousAttempt(BaseModel):
    """An earlier answer and what was wrong with it, fed back on a retry."""

    model_config = ConfigDict(extra="forbid")

    answer: str
    problems: list[str]


class GenerationOutcome(BaseModel):
    """One generator call: the parsed draft, or why there is none."""

    model_config = ConfigDict(extra="forbid")

    draft: ApiDraft | None = None
    raw_text: str = ""
    error: str | None = None
    error_kind: Literal["output", "model"] | None = None
    messages: list[dict[str, str]] = Field(default_factory=list)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.draft is not None


_CHAT_ROLES = {"system": "system", "human": "user", "ai": "assistant"}


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content)
    return str(content)


def describe_error(error: BaseException | str | None) -> str:
    """A short, model-readable account of why a reply did not parse."""
    if error is None:
        return "nothing parsed"
    if isinstance(error, ValidationError):
        parts = []
        for item in error.errors()[:3]:
            where = ".".join(str(part) for part in item["loc"]) or "<root>"
            parts.append(f"{where}: {item['msg']}" if item["type"] != "json_invalid" else item["msg"])
        more = error.error_count() - 3
        return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"


def _salvage_truncated(error: BaseException, outcome: GenerationOutcome) -> None:
    """A reply cut off at ``max_tokens`` (openai's ``LengthFinishReasonError`` carries the
    completion): keep its text and token counts, and say plainly what went wrong."""
    completion = getattr(error, "completion", None)
    if completion is None:
        return
    usage = usage_of_error(error)
    outcome.prompt_tokens, outcome.completion_tokens = usage.prompt_tokens, usage.completion_tokens
    choices = getattr(completion, "choices", None) or []
    if choices:
        outcome.raw_text = _text(getattr(choices[0].message, "content", "") or "")
    limit = f" ({outcome.completion_tokens} tokens)" if outcome.completion_tokens else ""
    outcome.error = f"the answer was cut off at the token limit{limit}; write a shorter, complete JSON object"


def _is_transport_error(error: BaseException) -> bool:
    """Errors of the model server or network (not of the model's output)."""
    try:
        import openai
    except ImportError:  # pragma: no cover - langchain-openai depends on it
        return isinstance(error, TimeoutError | ConnectionError)
    return isinstance(error, openai.APIError | TimeoutError | ConnectionError)


class ApiGenerator:
    """Calls the ``generator`` role's chat model with structured output."""

    def __init__(
        self,
        model: BaseChatModel,
        prompts: ApiGeneratorPrompts | None = None,
        *,
        max_attempts: int = 3,
    ) -> None:
        self.prompts = prompts or ApiGeneratorPrompts()
        self.system, self.request_prompt, self.feedback_prompt = self.prompts.resolved()
        self.max_attempts = max_attempts
        self.model = model
        self.structured = model.with_structured_output(ApiDraft, method="json_schema", include_raw=True)

    @property
    def prompt_version(self) -> str:
        return self.prompts.version_label()

    def render_request(self, request: ApiRequest) -> str:
        return self.request_prompt.render(
            domain=request.domain,
            subdomain=request.subdomain,
            intent=request.intent,
            intent_description=request.intent_description or request.intent,
            constraints="\n".join(constraint_lines(request)),
            example=json.dumps(example_draft(request.naming.convention), ensure_ascii=False),
        )

    def messages(self, request: ApiRequest, history: list[PreviousAttempt]) -> list[BaseMessage]:
        """System prompt, the request, then each earlier answer with its problems."""
        messages: list[BaseMessage] = [
            SystemMessage(self.system.render()),
            HumanMessage(self.render_request(request)),
        ]
        for number, previous in enumerate(history, start=1):
            messages.append(AIMessage(previous.answer))
            messages.append(
                HumanMessage(
                    self.feedback_prompt.render(
                        violations="\n".join(f"- {problem}" for problem in previous.problems),
                        attempt=number + 1,
                        max_attempts=self.max_attempts,
                    )
                )
            )
        return messages

    async def agenerate(self, request: ApiRequest, history: list[PreviousAttempt]) -> GenerationOutcome:
        """One structured call. Never raises for model trouble: an unusable reply comes back
        with ``error_kind="output"`` (worth a retry with feedback), a server/network failure
        (after the client's own retries) with ``error_kind="model"``."""
        messages = self.messages(request, history)
        chat = [
            {"role": _CHAT_ROLES.get(message.type, message.type), "content": _text(message.content)}
            for message in messages
        ]
        started = time.perf_counter()
        try:
            result = await self.structured.ainvoke(messages)
        except Exception as error:  # classified below; the caller records the reason
            kind: Literal["output", "model"] = "model" if _is_transport_error(error) else "output"
            outcome = GenerationOutcome(
                error=describe_error(error) if kind == "output" else f"{type(error).__name__}: {error}",
                error_kind=kind,
                messages=chat,
                latency_s=time.perf_counter() - started,
            )
            _salvage_truncated(error, outcome)
            return outcome
        elapsed = time.perf_counter() - started
        raw = result.get("raw") if isinstance(result, dict) else None
        usage = getattr(raw, "usage_metadata", None) or {}
        outcome = GenerationOutcome(
            raw_text=_text(raw.content) if raw is not None else "",
            messages=chat,
            prompt_tokens=usage.get("input_tokens"),
            completion_tokens=usage.get("output_tokens"),
            latency_s=elapsed,
        )
        parsed = result.get("parsed") if isinstance(result, dict) else result
        if isinstance(parsed, ApiDraft):
            outcome.draft = parsed
            if not outcome.raw_text:
                outcome.raw_text = parsed.model_dump_json()
            return outcome
        problem = result.get("parsing_error") if isinstance(result, dict) else None
        outcome.error = f"the reply is not a valid ApiDraft JSON object: {describe_error(problem)}"
        outcome.error_kind = "output"
        return outcome
