"""Bad input fails with a clear message before any model is loaded or step is taken."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

import looptool.cli
from looptool.errors import UserError
from looptool.jsonl import write_jsonl
from looptool.training.settings import TrainSettings
from looptool.training.trainer import TrainJob, run_training

from .conftest import make_samples


def job(tmp_path: Path, data: Path, model: str, **settings: object) -> TrainJob:
    return TrainJob(data=data, out=tmp_path / "out", settings=TrainSettings(**settings), model=model)


def assert_nothing_started(tmp_path: Path) -> None:
    assert not (tmp_path / "out" / "checkpoints").exists()
    assert not (tmp_path / "out" / "train_report.json").exists()


def test_empty_dataset(tmp_path: Path) -> None:
    data = tmp_path / "empty.jsonl"
    data.write_text("\n")
    with pytest.raises(UserError, match="data set is empty"):
        run_training(job(tmp_path, data, "embedded"))
    assert_nothing_started(tmp_path)


def test_label_names_a_tool_not_offered(tmp_path: Path) -> None:
    good = make_samples(2)
    bad = good[0].model_dump(mode="json")  # a call label
    bad["id"] = "bad-sample"
    bad["label_calls"] = [{"name": "book_flight", "arguments": {}}]
    data = tmp_path / "samples.jsonl"
    data.write_text(good[0].model_dump_json() + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(UserError) as raised:
        run_training(job(tmp_path, data, "embedded"))
    message = str(raised.value)
    assert "record 2" in message and "'bad-sample'" in message
    assert "'book_flight', which is not offered" in message
    assert "get_weather" in message  # the offered tools are listed
    assert_nothing_started(tmp_path)


def test_invalid_json_line(tmp_path: Path) -> None:
    data = tmp_path / "samples.jsonl"
    data.write_text(make_samples(1)[0].model_dump_json() + "\n{not json\n")
    with pytest.raises(UserError, match=r"samples.jsonl:2: invalid JSON"):
        run_training(job(tmp_path, data, "embedded"))


def test_model_folder_that_does_not_exist(tmp_path: Path, samples_file: Path) -> None:
    with pytest.raises(UserError, match=r"model folder .*no-such-model does not exist"):
        run_training(job(tmp_path, samples_file, str(tmp_path / "no-such-model")))
    assert_nothing_started(tmp_path)


def test_folder_that_is_not_a_model(tmp_path: Path, samples_file: Path) -> None:
    (tmp_path / "notamodel").mkdir()
    with pytest.raises(UserError, match="has no config.json"):
        run_training(job(tmp_path, samples_file, str(tmp_path / "notamodel")))


def test_unknown_reward_name(tmp_path: Path, samples_file: Path) -> None:
    with pytest.raises(UserError, match="did you mean 'tool_match_shaped'"):
        run_training(job(tmp_path, samples_file, "embedded", rewards=["tool_match_shapd"]))


def test_bad_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="epsilon_high"):
        TrainSettings(epsilon=0.3, epsilon_high=0.2)
    with pytest.raises(ValueError, match="num_generations"):
        TrainSettings(num_generations=1)


@pytest.fixture
def only_train_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(looptool.cli, "COMMAND_MODULES", ("looptool.training.cli",))


def test_cli_reports_bad_input_and_exits_2(
    tmp_path: Path, only_train_command: None, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "empty.jsonl"
    write_jsonl(data, [])
    with caplog.at_level(logging.ERROR):
        code = looptool.cli.main(["train", "--data", str(data), "--init", "embedded", "--out", str(tmp_path / "out")])
    assert code == 2
    assert "data set is empty" in caplog.text
    with caplog.at_level(logging.ERROR):
        code = looptool.cli.main(
            ["train", "--data", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "out2")]
        )
    assert code == 2
    assert "missing.jsonl does not exist" in caplog.text
    with caplog.at_level(logging.ERROR):
        code = looptool.cli.main(
            ["train", "--data", str(data), "--set", "train.modee=lora", "--out", str(tmp_path / "out3")]
        )
    assert code == 2
    assert "train.modee" in caplog.text
