"""build_seed_set: sources, split, dedup, demonstrations and the report; the seed section."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from looptool.config import ConfigError, load_config
from looptool.jsonl import read_jsonl
from looptool.loop.seed import (
    SeedBuildError,
    SeedSettings,
    build_seed_set,
    curated_origin,
    dedup_key,
    demonstration_info,
    source_item,
    split_heldout,
)
from looptool.loop.seed.settings import SECTION
from looptool.schema import Sample

from .test_imported import GOOD
from .test_split import dialogue_turns


def settings(**changes: object) -> SeedSettings:
    data: dict[str, object] = {"sources": {"curated": {"tool_sets": ["calculator", "travel_tools"]}},
                               "heldout_fraction": 0.2, "seed": 1}
    data.update(changes)
    return SeedSettings.model_validate(data)


@pytest.fixture
def imported_file(tmp_path: Path) -> Path:
    path = tmp_path / "chats.jsonl"
    path.write_text("\n".join([json.dumps(GOOD), "{broken"]) + "\n", encoding="utf-8")
    return path


def test_all_sources_counted_split_and_demonstrated(imported_file: Path) -> None:
    dialogues = [sample for number in range(10) for sample in dialogue_turns(number)]
    config = settings(sources={"curated": {"tool_sets": ["calculator", "travel_tools"]},
                               "imported": [str(imported_file)]})
    seed_set = build_seed_set(config, dialogue_samples=dialogues)
    report = seed_set.report
    assert set(report.by_source) == {"curated", "imported", "dialogues"}
    assert report.by_source["dialogues"].train + report.by_source["dialogues"].heldout == 30
    assert report.by_source["imported"].train + report.by_source["imported"].heldout == 2
    total = sum(count.train + count.heldout for count in report.by_category.values())
    assert total == len(seed_set.train) + len(seed_set.heldout)
    assert {"single", "multiple", "parallel", "missing_params", "irrelevance", "multi_turn"} <= set(report.by_category)
    assert report.import_problems and ":2: not valid JSON" in report.import_problems[0]
    train_items = {source_item(sample) for sample in seed_set.train}
    assert not train_items & {source_item(sample) for sample in seed_set.heldout}
    assert {curated_origin(s).tool_set for s in seed_set.train if curated_origin(s)} == {"calculator", "travel_tools"}
    with_demos = [s for s in seed_set.train if demonstration_info(s)]
    assert len(with_demos) > 0.8 * len([s for s in seed_set.train if curated_origin(s)])


def test_demonstrations_never_show_a_heldout_request() -> None:
    seed_set = build_seed_set(settings())
    held_ids = {sample.id for sample in seed_set.heldout}
    for sample in [*seed_set.train, *seed_set.heldout]:
        info = demonstration_info(sample)
        if info is not None:
            assert not set(info.sources) & held_ids


def test_training_side_repeating_a_heldout_request_is_dropped() -> None:
    base = [sample for number in range(20) for sample in dialogue_turns(number, turns=1)]
    plain = settings(sources={"curated": {"enabled": False}}, heldout_fraction=0.25, demonstrations=0)
    held = build_seed_set(plain, dialogue_samples=base).heldout[0]
    for number in range(50):  # a dialogue id for the copy that lands on the training side
        copy = held.model_copy(update={"id": "copy-of-held", "lineage": held.lineage.model_copy(
            update={"dialogue_id": f"another-dialogue-{number}"})})
        split = split_heldout([*base, copy], 0.25, plain.seed)
        if copy in split.train and held in split.heldout:
            break
    else:
        pytest.fail("no dialogue id puts the copy on the training side")
    seed_set = build_seed_set(plain, dialogue_samples=[*base, copy])
    assert "copy-of-held" not in {sample.id for sample in seed_set.train}
    assert held in seed_set.heldout
    assert seed_set.report.dropped_heldout_duplicates == 1
    assert dedup_key(copy) == dedup_key(held)


def test_same_settings_same_seed_set() -> None:
    assert build_seed_set(settings()) == build_seed_set(settings())


def test_written_files_read_back(tmp_path: Path) -> None:
    seed_set = build_seed_set(settings(demonstrations=2))
    seed_set.write(tmp_path / "seed")
    assert read_jsonl(tmp_path / "seed" / "train.jsonl", Sample) == seed_set.train
    assert read_jsonl(tmp_path / "seed" / "heldout.jsonl", Sample) == seed_set.heldout
    report = json.loads((tmp_path / "seed" / "seed_report.json").read_text())
    assert report["by_source"]["curated"]["heldout"] == len(seed_set.heldout)


def test_bad_inputs_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(SeedBuildError, match="missing.jsonl"):
        build_seed_set(settings(sources={"imported": [str(tmp_path / "missing.jsonl")]}))
    with pytest.raises(SeedBuildError, match="empty"):
        build_seed_set(settings(sources={"curated": {"enabled": False}}))
    twice = dialogue_turns(1)
    with pytest.raises(SeedBuildError, match="dlg1-t0"):
        build_seed_set(settings(), dialogue_samples=[*twice, twice[0]])


def test_seed_section_in_a_recipe(tmp_path: Path) -> None:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("seed:\n  demonstrations: 2\n  sources:\n    curated:\n      categories: [single]\n")
    config = load_config(recipe, ["seed.heldout_fraction=0.25"])
    section = config.section(SECTION, SeedSettings)
    assert section.demonstrations == 2 and section.heldout_fraction == 0.25
    assert section.sources.curated.categories == ["single"]
    with pytest.raises(ConfigError, match="categories"):
        load_config(recipe, ["seed.sources.curated.categories=[singel]"])
