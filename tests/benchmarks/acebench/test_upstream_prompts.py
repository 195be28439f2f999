"""Prompts are upstream's constants verbatim, assembled as upstream does; the summary reports
the paper's English overall beside zh and both, with upstream's 3-decimal group rounding."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from looptool.benchmarks.acebench import AceBench
from looptool.benchmarks.acebench.categories import AGENT, NORMAL, SPECIAL
from looptool.benchmarks.acebench.prompts import UpstreamPromptsError, load_upstream_prompts
from looptool.benchmarks.acebench.summary import summarize_scores
from looptool.benchmarks.base import EndpointMode, EntryScore, EvalEntry
from tests.benchmarks.fakes import ScriptedBenchmarkModel
from tests.fake_models import ScriptedChatModel


def _constants(root: Path) -> dict[str, dict[str, str]]:
    """The upstream file read independently of the code under test."""
    data = json.loads((root / "prompts" / "upstream_prompts.json").read_text(encoding="utf-8"))
    return {name: entry["constants"] for name, entry in data["files"].items()}


def _first_request(bench: AceBench, entry: EvalEntry, reply: str = "[f()]") -> list[dict[str, Any]]:
    model = ScriptedBenchmarkModel([reply, "finish conversation"], mode=EndpointMode.PROMPT_PYTHON)
    bench.user_model = ScriptedChatModel(replies=["finish conversation"], repeat_last=True)
    try:
        asyncio.run(bench.run_entry(entry, model))
    finally:
        bench.user_model = None
    return model.requests[0]


@pytest.mark.parametrize(
    ("category", "file", "system_name", "fields"),
    [
        ("en_normal_atom_bool", "prompt_en", "SYSTEM_PROMPT_FOR_NORMAL_DATA_EN", ("time",)),
        ("zh_normal_preference", "prompt_zh", "SYSTEM_PROMPT_FOR_PREFERENCE_DATA_ZH", ("profile",)),
        ("en_special_incomplete", "prompt_en", "SYSTEM_PROMPT_FOR_SPECIAL_DATA_EN", ("time",)),
    ],
)
def test_prompt_records_get_upstreams_system_and_user_message(
    bench: AceBench, acebench_root: Path, category: str, file: str, system_name: str, fields: tuple[str, ...]
) -> None:
    constants = _constants(acebench_root)[f"model_inference/{file}.py"]
    entry = bench.load([category], limit=1)[0]
    record = bench.item_of(entry).turns[0].record
    system, user = _first_request(bench, entry)
    values = {name: getattr(record, name) for name in fields}
    assert system["content"] == constants[system_name].format(function=str(record.function), **values)
    user_name = "USER_PROMPT_ZH" if category.startswith("zh") else "USER_PROMPT_EN"
    assert user["content"] == constants[user_name].format(question=record.question)


def test_agent_multi_turn_travel_gets_the_whole_upstream_policy(bench: AceBench, acebench_root: Path) -> None:
    constants = _constants(acebench_root)
    entries = bench.load(["en_agent_multi_turn"])
    entry = next(e for e in entries if "Travel" in bench.item_of(e).agent.involved_classes)  # type: ignore[union-attr]
    system, user = _first_request(bench, entry)
    travel = constants["model_inference/prompt_en.py"]["TRAVEL_PROMPT_EN"]
    agent = constants["model_inference/multi_turn/common_agent.py"]["MULTI_TURN_AGENT_PROMPT_SYSTEM_EN"]
    assert len(travel) == 5313  # not a summary of it
    assert system["content"] == agent + travel
    record = bench.item_of(entry).agent
    assert record is not None
    assert user["content"].startswith(
        constants["model_inference/multi_turn/common_agent.py"]["MULTI_TURN_AGENT_PROMPT_USER_EN"].split("{functions}")[0]
        + str(record.function)
    )


def test_agent_multi_step_and_the_simulated_user_use_upstreams_prompts(bench: AceBench, acebench_root: Path) -> None:
    constants = _constants(acebench_root)
    entry = bench.load(["zh_agent_multi_step"], limit=1)[0]
    system, _ = _first_request(bench, entry)
    assert system["content"] == constants["model_inference/multi_step/common_agent_step.py"]["MULTI_TURN_AGENT_PROMPT_SYSTEM_ZH"]
    turn_entry = bench.load(["en_agent_multi_turn"], limit=1)[0]
    record = bench.item_of(turn_entry).agent
    assert record is not None
    user_model = ScriptedChatModel(replies=["finish conversation"], repeat_last=True)
    bench.user_model = user_model
    try:
        asyncio.run(bench.run_entry(turn_entry, ScriptedBenchmarkModel(["ok"], mode=EndpointMode.PROMPT_PYTHON)))
    finally:
        bench.user_model = None
    name = "SYSTEM_PROMPT_TRAVEL_EN" if "Travel" in record.involved_classes else "SYSTEM_PROMPT_BASE_EN"
    expected = constants["model_inference/multi_turn/APIModel_user.py"][name].format(instruction=record.question)
    assert user_model.calls and user_model.calls[0].messages[0].content == expected


def test_a_prompt_file_from_another_commit_is_refused(tmp_path: Path, acebench_root: Path) -> None:
    data = json.loads((acebench_root / "prompts" / "upstream_prompts.json").read_text(encoding="utf-8"))
    data["commit"] = "0" * 40
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "upstream_prompts.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(UpstreamPromptsError, match="from upstream commit '0000"):
        load_upstream_prompts(tmp_path)
    with pytest.raises(UpstreamPromptsError, match="does not exist"):
        load_upstream_prompts(tmp_path / "nowhere")


def _language_scores(language: str, normal: list[float], special: list[float], agent: list[float]) -> list[EntryScore]:
    scores = []
    for stems, values in ((NORMAL, normal), (SPECIAL, special), (AGENT, agent)):
        for stem, value in zip(stems, values, strict=True):
            scores.append(EntryScore(
                entry_id=f"{language}_{stem}_0", category=f"{language}_{stem}", score=value,
                variant_scores={"upstream": value, "strict": value},
            ))
    return scores


def test_overall_is_english_as_in_the_paper_with_zh_and_both_beside_it() -> None:
    # the paper's Qwen3-8B: normal 70.9, special 78.0, agent 34.2 -> 67.1 (English)
    scores = _language_scores("en", [0.709] * 12, [0.78] * 3, [0.342] * 2)
    scores += _language_scores("zh", [0.5] * 12, [0.5] * 3, [0.5] * 2)
    summary = summarize_scores(scores, "upstream")
    assert summary.overall() == 0.671
    assert summary.row("zh_summary", "upstream").score == 0.5  # type: ignore[union-attr]
    assert summary.row("both_summary", "upstream").score == pytest.approx((0.671 + 0.5) / 2)  # type: ignore[union-attr]
    headline = [(row.name, row.label) for row in summary.rows if row.headline]
    assert headline[0] == ("overall", "Overall (en, as the paper)")
    assert ("zh_summary", "Overall (zh)") in headline and ("both_summary", "Overall (mean of en and zh)") in headline
    only_zh = summarize_scores(_language_scores("zh", [0.5] * 12, [0.5] * 3, [0.5] * 2), "upstream")
    assert only_zh.overall() is None and only_zh.row("zh_summary", "upstream") is not None


def test_upstream_rounds_group_means_to_three_decimals_before_weighting() -> None:
    normal = [0.02] * 5 + [0.0] * 7  # mean 0.008333 -> 0.008
    special, agent = [0.04, 0.02, 0.02], [0.04, 0.02]  # 0.026667 -> 0.027, 0.03
    summary = summarize_scores(_language_scores("en", normal, special, agent), "upstream")
    assert summary.row("en_normal", "upstream").score == 0.008  # type: ignore[union-attr]
    assert summary.row("en_special", "upstream").score == 0.027  # type: ignore[union-attr]
    # 0.578*0.008 + 0.2676*0.027 + 0.1545*0.03 = 0.0162 -> 0.016 (unrounded groups would give 0.017)
    assert summary.overall() == 0.016
    strict = summarize_scores(_language_scores("en", normal, special, agent), "strict")
    assert strict.overall() == pytest.approx((0.578 * 0.1 / 12 + 0.2676 * 0.08 / 3 + 0.1545 * 0.03) / 1.0001)
