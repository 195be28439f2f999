"""The ACEBench benchmark adapter (registered as ``acebench``).

Categories are ``<language>_<stem>`` (``en_normal_atom_bool``, ``zh_agent_multi_step``);
aliases expand a stem to every configured language (``normal_atom_bool``), a group
(``atom``, ``single_turn``, ``multi_turn``, ``normal``, ``special``, ``agent``), a language
(``en``, ``zh``) or both (``en_normal``). Multi-turn normal categories are scored per
conversation, so one entry is one conversation (one request per turn).

Every entry is scored in both modes; ``EntryScore.score`` is the ``scoring`` option's mode
and ``variant_scores`` has both.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, field_validator

from looptool.agents.backends.acebench import AceEnvironment, load_initial_state
from looptool.benchmarks.acebench import prompts as prompt_texts
from looptool.benchmarks.acebench.categories import (
    GROUPS,
    LANGUAGES,
    STEMS,
    Kind,
    category_name,
    kind_of,
    split_category,
)
from looptool.benchmarks.acebench.data import AceItem, load_stem_payloads
from looptool.benchmarks.acebench.episodes import (
    LLMUser,
    SimulatedUser,
    run_multi_step,
    run_multi_turn,
    run_prompt_record,
    user_sim_prompt,
)
from looptool.benchmarks.acebench.paths import derived_state_file, resolve_data_dir
from looptool.benchmarks.acebench.prompts import UpstreamPrompts, load_upstream_prompts
from looptool.benchmarks.acebench.scoring import ItemScore, score_agent_item, score_prompt_item
from looptool.benchmarks.acebench.summary import summarize_scores
from looptool.benchmarks.base import (
    Benchmark,
    BenchmarkOptions,
    BenchmarkSummary,
    ChatModel,
    EndpointMode,
    EntryOutput,
    EntryScore,
    EvalEntry,
    TurnOutput,
    register_benchmark,
)
from looptool.config import RoleSettings, SamplingSettings


class AceBenchOptions(BenchmarkOptions):
    """Options of ``acebench`` (config: ``eval.benchmark_options.acebench``)."""

    data_dir: str | None = Field(
        default=None,
        description="folder holding data/data_all and derived/ (default: $LOOPTOOL_ACEBENCH_DIR "
        "or ../shared/acebench next to the repository)",
    )
    languages: list[Literal["en", "zh"]] = Field(
        default_factory=lambda: list(LANGUAGES),
        validation_alias=AliasChoices("languages", "language"),
        description="languages to evaluate (a single name is accepted too)",
    )
    scoring: Literal["upstream", "strict"] = Field(
        default="upstream", description="mode of the primary score (both are always computed)"
    )
    max_dialog_messages: int = Field(default=40, ge=2, description="agent episode length limit")
    user_sim: RoleSettings | None = Field(
        default=None,
        description="model playing the user in agent multi_turn (default: the model under test "
        "at temperature 0)",
    )

    @field_validator("languages", mode="before")
    @classmethod
    def _non_empty(cls, languages: Any) -> Any:
        if isinstance(languages, str):
            languages = [languages]
        if not languages:
            raise ValueError("languages must name at least one of en, zh")
        return list(dict.fromkeys(languages))


@register_benchmark
class AceBench(Benchmark):
    """ACEBench (Chen et al., 2025): normal, special and agent tool-use categories."""

    name = "acebench"
    version = "2"
    output_neutral_options = frozenset({"data_dir", "languages", "scoring"})
    Options = AceBenchOptions

    def __init__(self, options: BenchmarkOptions | dict[str, Any] | None = None) -> None:
        super().__init__(options)
        #: a langchain chat model playing the user; when unset one is built from ``user_sim``
        self.user_model: Any = None
        self._user_models: dict[tuple[tuple[str, ...], str], Any] = {}

    @property
    def settings(self) -> AceBenchOptions:
        assert isinstance(self.options, AceBenchOptions)
        return self.options

    # -- categories

    def categories(self) -> list[str]:
        return [category_name(language, stem) for language in self.settings.languages for stem in STEMS]

    def category_aliases(self) -> dict[str, list[str]]:
        languages = self.settings.languages
        aliases: dict[str, list[str]] = {}
        for stem in STEMS:
            aliases[stem] = [category_name(language, stem) for language in languages]
        for group, stems in GROUPS.items():
            aliases[group] = [category_name(language, stem) for language in languages for stem in stems]
            for language in languages:
                aliases[f"{language}_{group}"] = [category_name(language, stem) for stem in stems]
        for language in languages:
            aliases[language] = [category_name(language, stem) for stem in STEMS]
        return aliases

    # -- data

    def _root(self) -> Path:
        return resolve_data_dir(self.settings.data_dir)

    @property
    def prompts(self) -> UpstreamPrompts:
        """Upstream's prompt constants from ``<acebench>/prompts/upstream_prompts.json``."""
        return load_upstream_prompts(self._root())

    def load(self, categories: list[str], limit: int | None = None) -> list[EvalEntry]:
        root = self._root()
        entries: list[EvalEntry] = []
        for category in categories:
            language, stem = split_category(category)
            payloads = load_stem_payloads(root, language, stem)
            for payload in payloads[:limit] if limit is not None else payloads:
                entries.append(
                    EvalEntry(id=f"{language}_{payload['id']}", category=category, payload=dict(payload))
                )
        return entries

    @staticmethod
    def item_of(entry: EvalEntry) -> AceItem:
        return AceItem.model_validate(entry.payload)

    # -- running

    def user_settings(self, model: ChatModel) -> RoleSettings:
        """The simulated user's role settings: ``user_sim`` (its empty ``base_urls`` filled with
        the endpoint under test), or the model under test itself at temperature 0."""
        endpoint = model.endpoint
        configured = self.settings.user_sim
        if configured is None:
            return RoleSettings(
                base_urls=[endpoint.base_url],
                model=endpoint.model,
                api_key=endpoint.api_key,
                sampling=SamplingSettings(temperature=0.0, max_tokens=256),
            )
        if not configured.base_urls:
            return configured.model_copy(update={"base_urls": [endpoint.base_url]})
        return configured

    def _user_for(self, model: ChatModel, item: AceItem) -> SimulatedUser:
        assert item.agent is not None
        chat_model = self.user_model
        if chat_model is None:
            settings = self.user_settings(model)
            key = (tuple(settings.base_urls), settings.model)
            chat_model = self._user_models.get(key)
            if chat_model is None:
                from looptool.agents.chat_models import make_chat_model

                chat_model = self._user_models[key] = make_chat_model(settings, role_name="user_sim")
        return LLMUser(chat_model, user_sim_prompt(self.prompts, item.language, item.agent), item.language)

    async def run_entry(self, entry: EvalEntry, model: ChatModel) -> EntryOutput:
        item = self.item_of(entry)
        function_calling = model.endpoint.mode is EndpointMode.FUNCTION_CALLING
        started = time.perf_counter()
        output = EntryOutput(entry_id=entry.id, category=entry.category, extra={"function_calling": function_calling})
        if item.kind is Kind.AGENT:
            assert item.agent is not None
            environment = AceEnvironment(
                item.language,
                item.agent.involved_classes,
                item.agent.initial_config,
                load_initial_state(derived_state_file(self._root(), item.language)),
            )
            if item.stem == "agent_multi_turn":
                episode = await run_multi_turn(
                    model,
                    self.prompts,
                    self._user_for(model, item),
                    environment,
                    item.language,
                    item.agent,
                    function_calling=function_calling,
                    max_messages=self.settings.max_dialog_messages,
                )
            else:
                episode = await run_multi_step(
                    model,
                    self.prompts,
                    environment,
                    item.language,
                    item.agent,
                    function_calling=function_calling,
                    max_messages=self.settings.max_dialog_messages,
                )
            output.turns = [TurnOutput(replies=episode.replies)]
            output.extra.update(episode.extra())
            output.error = episode.error
        else:
            for turn in item.turns:
                reply = await run_prompt_record(
                    model, self.prompts, item.language, turn.record, special=item.kind is Kind.SPECIAL, function_calling=function_calling
                )
                output.turns.append(TurnOutput(replies=[reply]))
        output.requests = len(output.replies)
        output.latency_s = time.perf_counter() - started
        return output

    # -- scoring

    def score_item(self, item: AceItem, output: EntryOutput) -> ItemScore:
        if item.kind is Kind.AGENT:
            return score_agent_item(item, output.extra)
        replies = [turn.replies[0] if turn.replies else None for turn in output.turns]
        return score_prompt_item(item, replies, bool(output.extra.get("function_calling")))

    def score(self, entry: EvalEntry, output: EntryOutput) -> EntryScore:
        item = self.item_of(entry)
        result = self.score_item(item, output)
        details: dict[str, Any] = dict(result.details)
        if result.process:
            details["process"] = result.process
        if output.error:
            details["run_error"] = output.error
        return EntryScore(
            entry_id=entry.id,
            category=entry.category,
            score=result.of(self.settings.scoring),
            valid=result.valid and output.error is None,
            details=details,
            variant_scores={"upstream": result.upstream, "strict": result.strict},
        )

    def summarize(self, scores: Sequence[EntryScore]) -> BenchmarkSummary:
        return summarize_scores(scores, self.settings.scoring, benchmark=self.name)

    def prompt_fingerprint(self, mode: EndpointMode) -> str:
        """Upstream's prompt file (prompt modes) or our function-calling prompts."""
        if mode is EndpointMode.FUNCTION_CALLING:
            texts = prompt_texts
            parts: Any = [texts.SPECIAL_RULES_EN, texts.SPECIAL_RULES_ZH, texts.AGENT_RULES_FC_EN,
                          texts.AGENT_RULES_FC_ZH, texts.MULTI_STEP_RULES_FC_EN, texts.MULTI_STEP_RULES_FC_ZH,
                          texts.ROLES_EN, texts.ROLES_ZH, texts.SYSTEM_TEMPLATE.template]
        else:
            parts = self.prompts.files
        return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]

    def mode_notes(self, mode: EndpointMode) -> list[str]:
        notes = [f"overall = English summary, as the paper; scoring {self.settings.scoring}"]
        if mode is EndpointMode.FUNCTION_CALLING:
            return [*notes, "function-calling prompt is LoopTool's (upstream has none): compare in prompt_python"]
        return [*notes, "upstream's prompts verbatim (agent transcript lines are LoopTool's)"]


def known_categories() -> list[str]:
    """Every category of both languages (for help texts)."""
    return [category_name(language, stem) for language in LANGUAGES for stem in STEMS]


__all__ = ["AceBench", "AceBenchOptions", "known_categories", "kind_of"]
