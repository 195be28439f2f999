"""Loading ACEBench: every category of both languages, conversations, bad input."""

from __future__ import annotations

import pytest

from looptool.benchmarks.acebench import AceBench
from looptool.benchmarks.acebench.categories import AGENT, MULTI_TURN, STEMS
from looptool.benchmarks.acebench.data import load_stem
from looptool.benchmarks.acebench.paths import ENV_VAR, AceBenchDataError, resolve_data_dir
from looptool.benchmarks.base import UnknownNameError, create_benchmark


def test_registered_in_benchmark_registry() -> None:
    assert isinstance(create_benchmark("acebench"), AceBench)


@pytest.mark.parametrize("language", ["en", "zh"])
def test_scored_units_per_language(acebench_root, language: str) -> None:
    counts = {stem: len(load_stem(acebench_root, language, stem)) for stem in STEMS}
    for stem in MULTI_TURN:
        assert counts[stem] == 50, stem  # conversations, not records
    assert counts["agent_multi_turn"] == 30 and counts["agent_multi_step"] == 20
    normal = sum(counts[stem] for stem in STEMS if stem.startswith("normal_"))
    special = sum(counts[stem] for stem in STEMS if stem.startswith("special_"))
    assert (normal, special, sum(counts[stem] for stem in AGENT)) == (700, 150, 50)


def test_multi_turn_conversation_groups_turn_records(acebench_root) -> None:
    items = load_stem(acebench_root, "en", "normal_multi_turn_user_adjust")
    assert sum(len(item.turns) for item in items) == 123
    first = items[0]
    assert first.id == "normal_multi_turn_user_adjust_0"
    assert [turn.record.id for turn in first.turns][:2] == [
        "normal_multi_turn_user_adjust_0_0",
        "normal_multi_turn_user_adjust_0_1",
    ]


def test_limit_and_entry_ids(bench: AceBench) -> None:
    entries = bench.load(["en_normal_atom_bool", "zh_agent_multi_step"], limit=3)
    assert [entry.id for entry in entries] == [
        "en_normal_atom_bool_0",
        "en_normal_atom_bool_1",
        "en_normal_atom_bool_2",
        "zh_agent_multi_step_0",
        "zh_agent_multi_step_1",
        "zh_agent_multi_step_2",
    ]


def test_aliases_expand_groups_and_languages(bench: AceBench) -> None:
    assert bench.resolve_categories(["special"]) == [
        "en_special_incomplete",
        "en_special_error_param",
        "en_special_irrelevant",
        "zh_special_incomplete",
        "zh_special_error_param",
        "zh_special_irrelevant",
    ]
    assert bench.resolve_categories(["zh_agent"]) == ["zh_agent_multi_turn", "zh_agent_multi_step"]
    assert len(bench.resolve_categories(["en"])) == len(STEMS)
    assert len(bench.resolve_categories(None)) == 2 * len(STEMS)


def test_unknown_category_suggests_closest(bench: AceBench) -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'en_normal_atom_bool'"):
        bench.resolve_categories(["en_normal_atom_boll"])
    with pytest.raises(UnknownNameError, match="did you mean 'special_irrelevant'"):
        bench.resolve_categories(["special_irelevant"])


def test_missing_data_folder_is_a_clear_error(tmp_path, monkeypatch) -> None:
    missing = tmp_path / "nowhere"
    monkeypatch.setenv(ENV_VAR, str(missing))
    with pytest.raises(AceBenchDataError, match=r"ACEBench data folder not found: .*nowhere"):
        resolve_data_dir()
    bench = AceBench()
    with pytest.raises(FileNotFoundError, match=ENV_VAR):
        bench.load(["en_normal_atom_bool"])


def test_option_data_dir_wins_over_env(acebench_root, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert resolve_data_dir(acebench_root) == acebench_root


def test_unknown_option_is_rejected() -> None:
    with pytest.raises(ValueError, match="languagez"):
        AceBench({"languagez": ["en"]})


def test_languages_option_accepts_one_name() -> None:
    assert AceBench({"language": "zh"}).categories()[0] == "zh_normal_atom_bool"
    assert AceBench({"languages": ["en"]}).categories()[-1] == "en_agent_multi_step"
    with pytest.raises(ValueError, match="'en' or 'zh'"):
        AceBench({"language": "fr"})
