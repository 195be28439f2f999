"""The benchmark adapter extension point: data types, the :class:`Benchmark` base class,
the model-under-test description :class:`ModelEndpoint`, and the benchmark registry.

A benchmark is driven by the runner (:mod:`benchmarks.runner`) through a fixed pipeline::

    benchmark = create_benchmark("bfcl_v3", {"...options..."})
    categories = benchmark.resolve_categories(["simple", "live"])   # validated, aliases expanded
    entries = benchmark.load(categories, limit=10)                  # list[EvalEntry]
    output = await benchmark.run_entry(entry, chat_model)           # EntryOutput (stored as JSONL)
    scores = benchmark.score_batch(entries, outputs)                # list[EntryScore], pure
    summary = benchmark.summarize(scores)                           # BenchmarkSummary (table rows)

Only ``run_entry`` talks to the model; ``score`` / ``score_batch`` / ``summarize`` are pure
functions of stored data, so ``looptool rescore`` re-scores a finished sweep without any
request. The runner owns concurrency, storage, resume, retries of transport failures and
reports; a benchmark never writes files of its own.

Writing a benchmark::

    @register_benchmark
    class MyBench(Benchmark):
        name = "mybench"
        version = "1"
        Options = MyBenchOptions          # a BenchmarkOptions subclass (language, data_dir, ...)

        def categories(self) -> list[str]: ...
        def load(self, categories, limit=None) -> list[EvalEntry]: ...
        async def run_entry(self, entry, model: ChatModel) -> EntryOutput: ...
        def score(self, entry, output) -> EntryScore: ...
        def summarize(self, scores) -> BenchmarkSummary: ...

The registry is :data:`BENCHMARKS` (a :class:`looptool.registry.Registry`). Built-in
benchmarks are imported lazily from :data:`BUILTIN_MODULES`; outside packages add theirs
through the ``looptool.benchmarks`` entry-point group (``mybench = "module:Class"``, the
entry point's name equal to the class's ``name``). An unknown benchmark or category name
raises :class:`looptool.errors.UnknownNameError` naming the closest known one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from enum import StrEnum
from typing import Any, ClassVar, Literal, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, field_validator

from looptool.config import SamplingSettings
from looptool.errors import UnknownNameError, unknown_name_message
from looptool.registry import Registry
from looptool.schema import Message, ToolCall, ToolSpec


def suggest(name: str, known: Sequence[str], what: str) -> UnknownNameError:
    """An :class:`UnknownNameError` for ``name`` naming the closest of ``known``."""
    return UnknownNameError(unknown_name_message(name, known, what))


# ---------------------------------------------------------------- the model under test


class EndpointMode(StrEnum):
    """How tools are offered to the model and how its calls are decoded.

    * ``function_calling``: OpenAI ``tools=[...]``; the server's tool parser returns
      ``tool_calls`` (vLLM needs ``--enable-auto-tool-choice --tool-call-parser ...``).
    * ``prompt_hermes``: tools in the system prompt (:mod:`looptool.prompts`), the reply's
      ``<tool_call>`` blocks parsed by :func:`looptool.codecs.parse_hermes`.
    * ``prompt_python``: tools in the system prompt, the reply parsed as Python-call syntax
      ``[f(a=1), g(b='x')]`` by :func:`looptool.codecs.parse_python` (BFCL's prompt style).
    """

    FUNCTION_CALLING = "function_calling"
    PROMPT_HERMES = "prompt_hermes"
    PROMPT_PYTHON = "prompt_python"

    @property
    def is_prompt(self) -> bool:
        return self is not EndpointMode.FUNCTION_CALLING


LEADERBOARD_MAX_TOKENS = 4096
"""BFCL's local handlers allow up to 4,096 new tokens (less when the context is shorter): a
thinking model (Qwen3) needs them. vLLM 0.32 clamps ``max_tokens`` to what the context leaves;
a server that refuses instead is asked again with what fits
(:func:`benchmarks.runner.chat.fitted_max_tokens`)."""


def default_eval_sampling() -> SamplingSettings:
    """A :class:`ModelEndpoint`'s default: greedy, seeded, 512 new tokens (the loop's quick
    benchmark slices of small policies rely on it)."""
    return SamplingSettings(temperature=0.0, top_p=1.0, max_tokens=512, seed=0)


def leaderboard_sampling() -> SamplingSettings:
    """``looptool eval`` and sweep checkpoints: greedy, seeded, :data:`LEADERBOARD_MAX_TOKENS`."""
    return SamplingSettings(temperature=0.0, top_p=1.0, max_tokens=LEADERBOARD_MAX_TOKENS, seed=0)


class ModelEndpoint(BaseModel):
    """An OpenAI-compatible chat endpoint under test (any server, a served checkpoint, an API).

    ``label`` names the model in reports and storage (defaults to ``model``); results of
    different modes are stored apart, so one model can be evaluated in both modes.
    """

    model_config = ConfigDict(extra="forbid")

    label: str = ""
    base_url: str = Field(default="http://127.0.0.1:8765/v1", description="OpenAI-compatible /v1 URL")
    model: str = Field(default="smollm2", description="model name the server knows")
    api_key: str = "EMPTY"
    api_key_env: str | None = Field(
        default=None, description="read the API key from this environment variable (keeps it out of run folders)"
    )
    mode: EndpointMode = EndpointMode.PROMPT_HERMES
    sampling: SamplingSettings = Field(default_factory=default_eval_sampling)
    concurrency: int = Field(default=8, ge=1, le=1024, description="requests in flight")
    timeout_s: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=2, ge=0, description="retries of transport errors / 5xx")
    extra_body: dict[str, Any] = Field(default_factory=dict, description="sent with every request")
    preamble: str = Field(
        default="",
        description="prompt_hermes only: text before the tool list in the system prompt, as train.preamble "
        "(the loop sets it so a policy is evaluated with the prompt it was trained on)",
    )

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"base_url {url!r} must start with http:// or https://")
        return url.rstrip("/")

    @property
    def display_name(self) -> str:
        return self.label or self.model

    @property
    def cell_name(self) -> str:
        """File-system-safe name of this model+mode, used for storage folders."""
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in self.display_name)
        return f"{safe}__{self.mode.value}"


class ModelReply(BaseModel):
    """One model response, decoded.

    ``text`` is the assistant text outside any tool calls; ``tool_calls`` the calls decoded
    in the endpoint's mode (empty when none or when decoding failed); ``parse_error`` says why
    decoding failed (garbage output is data, scored as wrong, never an exception); ``error``
    is a request-level failure the model is blamed for (e.g. HTTP 400: prompt too long).
    ``tool_results`` are the results the benchmark fed back for these calls, if it executed them.
    """

    model_config = ConfigDict(extra="forbid")

    text: str = ""
    raw: str = Field(default="", description="the raw completion text (prompt modes)")
    tool_calls: list[ToolCall] = Field(default_factory=list)
    parse_error: str | None = None
    error: str | None = None
    finish_reason: str | None = None
    latency_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tool_results: list[str] = Field(default_factory=list)

    @property
    def decoded(self) -> bool:
        """True when the reply decoded cleanly into at least one tool call."""
        return bool(self.tool_calls) and self.parse_error is None and self.error is None


class TurnOutput(BaseModel):
    """The model's replies during one user turn (several steps when tools are executed)."""

    model_config = ConfigDict(extra="forbid")

    replies: list[ModelReply] = Field(default_factory=list)


class EntryOutput(BaseModel):
    """Everything the model produced for one entry; stored one JSON line per entry.

    Single-turn benchmarks produce one turn with one reply. ``extra`` holds benchmark-specific
    data needed to re-score without the model (e.g. a simulated user's messages, an end state).
    ``error`` is set when the entry could not be run to the end (it is still scored, as wrong).
    """

    model_config = ConfigDict(extra="forbid")

    entry_id: str
    category: str
    turns: list[TurnOutput] = Field(default_factory=list)
    error: str | None = None
    requests: int = 0
    latency_s: float = 0.0
    extra: dict[str, Any] = Field(default_factory=dict)

    @property
    def replies(self) -> list[ModelReply]:
        return [reply for turn in self.turns for reply in turn.replies]


class EvalEntry(BaseModel):
    """One benchmark item. ``id`` is unique within the benchmark; ``payload`` is the
    benchmark's own record (question, functions, ground truth...) as JSON-compatible data."""

    model_config = ConfigDict(extra="forbid")

    id: str
    category: str
    payload: dict[str, Any] = Field(default_factory=dict)


class EntryScore(BaseModel):
    """The score of one entry: ``score`` in [0, 1] (1 = correct).

    ``valid`` is False when the output was malformed (undecodable, request error); such an
    entry scores 0. ``variant_scores`` carries the entry's score under other scoring variants
    (e.g. ACEBench ``{"upstream": 0.0, "strict": 1.0}``); ``details`` explains the verdict.
    """

    model_config = ConfigDict(extra="forbid")

    entry_id: str
    category: str
    score: float = Field(ge=0.0, le=1.0)
    valid: bool = True
    details: dict[str, Any] = Field(default_factory=dict)
    variant_scores: dict[str, float] = Field(default_factory=dict)


class SummaryRow(BaseModel):
    """One line of a benchmark's score table, laid out like its leaderboard.

    ``kind``: ``category`` (a data category), ``group`` (an aggregate such as BFCL's
    ``live``), or ``overall``. ``parent`` names the group a row rolls into (layout only).
    ``variant`` tells scoring variants apart ("" when the benchmark has one).
    ``label`` is the column's name on the public leaderboard or in the paper (e.g. BFCL's
    "Non-Live AST Acc"); ``headline`` rows form the short table a user puts next to them.
    Scores are fractions in [0, 1]; reports print them as percentages.
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    kind: Literal["category", "group", "overall"]
    score: float
    count: int = 0
    parent: str | None = None
    variant: str = ""
    label: str = ""
    headline: bool = False


class BenchmarkSummary(BaseModel):
    """Per-category scores, group aggregates and the overall, as the benchmark defines them."""

    model_config = ConfigDict(extra="forbid")

    benchmark: str
    rows: list[SummaryRow] = Field(default_factory=list)

    def overall(self, variant: str = "") -> float | None:
        for row in self.rows:
            if row.kind == "overall" and row.variant == variant:
                return row.score
        return None

    def row(self, name: str, variant: str = "") -> SummaryRow | None:
        return next((r for r in self.rows if r.name == name and r.variant == variant), None)


@runtime_checkable
class ChatModel(Protocol):
    """What ``Benchmark.run_entry`` gets: the model under test behind one endpoint.

    The product implementation is :class:`benchmarks.runner.chat.OpenAIChatModel` (httpx,
    retries, request counting); unit tests pass a scripted object with the same methods.
    """

    endpoint: ModelEndpoint

    async def chat(self, messages: list[Message], tools: list[ToolSpec]) -> ModelReply:
        """Send ``messages`` offering ``tools`` in the endpoint's mode; return the decoded reply.

        Function-calling mode sends OpenAI ``tools`` and assistant/tool messages natively.
        Prompt modes put the tools into the system prompt (system messages in ``messages``
        become its preamble), render earlier assistant calls in the mode's syntax and tool
        results as ``<tool_response>`` user turns, and parse the reply with our codecs.
        Raises :class:`EndpointError` only for transport failures after retries.
        """
        ...

    async def chat_raw(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None
    ) -> ModelReply:
        """Send pre-rendered chat dicts (and optional OpenAI tools) as they are; the reply's
        calls are decoded in the endpoint's mode. For benchmarks with their own prompts."""
        ...


class EndpointError(RuntimeError):
    """The endpoint could not be reached or kept failing (not the model's fault).

    The runner does not store an output for such an entry: a rerun retries it."""


# ---------------------------------------------------------------- the benchmark adapter


class BenchmarkOptions(BaseModel):
    """Options of a benchmark (subclass per benchmark; set from the config's ``eval`` section
    as ``benchmark_options: {name: {...}}``). Unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class Benchmark(ABC):
    """A benchmark adapter: a fixed pipeline with hooks (see the module docstring).

    Subclasses set ``name`` (registry key), ``version`` (bump when prompts or decoding change:
    it is part of a cell's identity, so outputs of another version are never mixed in) and
    ``Options``. Methods must be safe to call from the runner's
    event loop: ``run_entry`` is awaited concurrently for many entries (keep per-entry state
    local, e.g. a fresh tool backend per entry); the others are called synchronously.
    """

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    Options: ClassVar[type[BenchmarkOptions]] = BenchmarkOptions
    output_neutral_options: ClassVar[frozenset[str]] = frozenset()
    """Options that never change what the model outputs (where the data lives, how outputs
    are scored): left out of a cell's identity, so changing them reuses stored outputs."""

    def __init__(self, options: BenchmarkOptions | dict[str, Any] | None = None) -> None:
        if isinstance(options, BenchmarkOptions):
            self.options = options
        else:
            self.options = self.Options.model_validate(options or {})

    # -- categories

    @abstractmethod
    def categories(self) -> list[str]:
        """Every data category, in leaderboard order."""

    def category_aliases(self) -> dict[str, list[str]]:
        """Names that expand to several categories (e.g. ``live``, ``multi_turn``)."""
        return {}

    def resolve_categories(self, requested: Sequence[str] | None) -> list[str]:
        """Validate and expand requested names (``None``/empty/``all`` = every category).

        Raises :class:`UnknownNameError` suggesting the closest name on a typo."""
        known = self.categories()
        if not requested or "all" in requested:
            return known
        aliases = self.category_aliases()
        chosen: list[str] = []
        for name in requested:
            expanded = aliases.get(name, [name] if name in known else None)
            if expanded is None:
                raise suggest(name, [*known, *aliases, "all"], f"{self.name} category")
            chosen.extend(category for category in expanded if category not in chosen)
        return [category for category in known if category in chosen]

    # -- the pipeline hooks

    @abstractmethod
    def load(self, categories: list[str], limit: int | None = None) -> list[EvalEntry]:
        """Entries of ``categories`` (already resolved), at most ``limit`` per category
        (the first ones, in data order). A missing data folder raises FileNotFoundError
        naming the folder."""

    @abstractmethod
    async def run_entry(self, entry: EvalEntry, model: ChatModel) -> EntryOutput:
        """Query the model for one entry (looping over turns / tool executions as the
        benchmark prescribes) and return everything needed to score it. Model garbage is
        recorded, not raised; let :class:`EndpointError` propagate."""

    @abstractmethod
    def score(self, entry: EvalEntry, output: EntryOutput) -> EntryScore:
        """Score one stored output. Pure: no model, no network, no files written."""

    def score_batch(self, entries: Sequence[EvalEntry], outputs: Sequence[EntryOutput]) -> list[EntryScore]:
        """Score many outputs (``outputs[i]`` belongs to ``entries[i]``). Override when a
        batch is cheaper than one by one (e.g. an external checker process)."""
        return [self.score(entry, output) for entry, output in zip(entries, outputs, strict=True)]

    @abstractmethod
    def summarize(self, scores: Sequence[EntryScore]) -> BenchmarkSummary:
        """Per-category scores, groups and the overall as the benchmark's leaderboard does."""

    def prompt_fingerprint(self, mode: EndpointMode) -> str:
        """A hash of the benchmark's own prompt text for ``mode`` (part of a cell's identity, so
        a prompt change is never mixed with outputs of the old prompt); "" when the benchmark
        only uses the endpoint's rendering (:meth:`ChatModel.chat`)."""
        return ""

    def mode_notes(self, mode: EndpointMode) -> list[str]:
        """What the runs of ``mode`` follow and where they deliberately differ from the
        benchmark's reference harness; printed under the reports and kept in results.json."""
        return []

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (worker processes, files). Called once by the runner."""


# ---------------------------------------------------------------- the registry

BenchmarkT = TypeVar("BenchmarkT", bound=type[Benchmark])

BUILTIN_MODULES: tuple[str, ...] = ("looptool.benchmarks.bfcl", "looptool.benchmarks.acebench")
ENTRY_POINT_GROUP = "looptool.benchmarks"


def check_benchmark(name: str, cls: type[Benchmark]) -> type[Benchmark]:
    """Refuse a class that is not a :class:`Benchmark` or whose ``name`` is not ``name``."""
    if not isinstance(cls, type) or not issubclass(cls, Benchmark):
        raise TypeError(f"benchmark {name!r}: {cls!r} is not a subclass of benchmarks.base.Benchmark")
    if cls.name != name:
        raise ValueError(f"benchmark {name!r}: the class {cls.__qualname__} is named {cls.name!r}")
    return cls


BENCHMARKS: Registry[type[Benchmark]] = Registry(
    "benchmark",
    builtin_modules=BUILTIN_MODULES,
    entry_point_group=ENTRY_POINT_GROUP,
    check=check_benchmark,
)


def register_benchmark(cls: BenchmarkT) -> BenchmarkT:
    """Class decorator: register a :class:`Benchmark` subclass under its ``name``."""
    if not cls.name:
        raise ValueError(f"{cls.__qualname__} has no 'name'")
    BENCHMARKS.register(cls.name, cls)
    return cls


def benchmark_names() -> list[str]:
    return BENCHMARKS.names()


def get_benchmark_class(name: str) -> type[Benchmark]:
    """The registered class for ``name``; a typo raises with the closest known name."""
    return BENCHMARKS.get(name)


def create_benchmark(name: str, options: dict[str, Any] | None = None) -> Benchmark:
    """Instantiate the benchmark ``name`` with validated ``options``."""
    return get_benchmark_class(name)(options)
