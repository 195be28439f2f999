import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from looptool.config import SECTIONS, ConfigError, load_config, register_section, resolved_dict
from looptool.errors import DuplicateNameError, UserError
from looptool.rundir import RunDir


class DemoSection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    steps: int = 1
    name: str = "x"


@pytest.fixture(autouse=True)
def demo_section():
    """A section of this module's tests only: registered per test, then removed, so other
    tests' resolved configs never carry it."""
    register_section("demo_section", DemoSection)
    yield
    SECTIONS.unregister("demo_section")


def test_defaults_and_overrides(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("serve:\n  port: 9000\ndemo_section:\n  steps: 3\n")
    config = load_config(recipe, ["serve.port=9100", "roles.judge.sampling.temperature=0.5", "demo_section.name=y"])
    assert config.serve.port == 9100
    assert config.roles.judge.sampling.temperature == 0.5
    assert config.section("demo_section", DemoSection) == DemoSection(steps=3, name="y")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["serve.port=notanumber"], "serve.port"),
        (["serv.port=1"], "did you mean 'serve'"),
        (["demo_section.stepz=2"], "demo_section.stepz"),
        (["noequals"], "key.sub=value"),
        (["serve.port=1", "serve.port.x=1"], "'port' is not a section"),
    ],
)
def test_bad_overrides_name_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)


def test_missing_file():
    with pytest.raises(ConfigError, match="does not exist"):
        load_config("/no/such.yaml")


def test_resolved_config_written_to_run_folder(tmp_path):
    config = load_config(None, ["run.name=t", "demo_section.steps=7"])
    run = RunDir.create(config, tmp_path / "run")
    written = (run.path / "config.yaml").read_text()
    assert "steps: 7" in written and "port: 8765" in written
    assert resolved_dict(config)["demo_section"]["steps"] == 7
    run.mark_done("stage1", {"n": 3})
    assert run.is_done("stage1") and not run.is_done("stage2")


REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / "configs" / "smoke.yaml"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("serve.prot=1", r"unknown config key 'serve.prot'; did you mean 'serve.port'\?"),
        ("train.lora.rr=4", r"unknown config key 'train.lora.rr'; did you mean 'train.lora.r'\?"),
        (
            "roles.judge.sampling.temprature=0.1",
            r"unknown config key 'roles.judge.sampling.temprature'; did you mean 'roles.judge.sampling.temperature'\?",
        ),
        ("eval.models=[{lable: x}]", r"unknown config key 'eval.models.0.lable'; did you mean 'eval.models.0.label'[ ?]"),
        ("dialogue_synth.concurency=2", r"did you mean 'dialogue_synth.concurrency'\?"),
        # nothing close: the known keys of that level are listed
        ("dialogue_synth.n=16", r"unknown config key 'dialogue_synth.n' \(known keys of dialogue_synth: .*concurrency"),
        ("pipline.dialogues=2", r"unknown config section 'pipline'; did you mean 'pipeline'\?"),
    ],
)
def test_unknown_keys_at_any_depth_suggest_the_closest(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(SMOKE, [override])


def test_every_problem_is_reported_at_once() -> None:
    overrides = ["serve.port=x", "noequals", "serv.port=1", "train.lora.rr=4", "train.max_steps=-", "run.nme=a"]
    with pytest.raises(ConfigError) as raised:
        load_config(SMOKE, overrides)
    keys = [problem.key for problem in raised.value.problems]
    assert sorted(keys) == sorted(["serve.port", "noequals", "serv", "train.lora.rr", "train.max_steps", "run.nme"])
    text = str(raised.value)
    assert text.startswith(f"6 problems in {SMOKE}:")
    assert "config key 'serve.port': Input should be a valid integer" in text and "(got 'x')" in text
    assert isinstance(raised.value, UserError) and isinstance(raised.value, ValueError)


def test_section_registry_refuses_kernel_names_and_duplicates() -> None:
    with pytest.raises(ValueError, match="belongs to the kernel"):
        register_section("serve", DemoSection)
    register_section("demo_section", DemoSection)  # the same model again is fine

    class Other(BaseModel):
        pass

    with pytest.raises(DuplicateNameError, match="'demo_section' is already registered"):
        register_section("demo_section", Other)


def _fresh_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_load_config_knows_every_section_without_prior_imports() -> None:
    code = (
        "import sys\n"
        "from looptool.config import SECTION_MODULES, load_config\n"
        "assert not [m for m in SECTION_MODULES if m in sys.modules], 'imported too early'\n"
        "config = load_config('configs/pipeline_smoke.yaml')\n"
        "print(config.model_extra['pipeline']['dialogues'], config.model_extra['train']['max_steps'])\n"
    )
    done = _fresh_python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["16", "4"]


def test_api_synthesis_graph_factory_loads_the_smoke_recipe() -> None:
    """langgraph.json's ``api_synthesis`` entry is called with no prior imports."""
    code = (
        "from looptool.graphs.api_synthesis.graph import make_graph\n"
        "graph = make_graph()\n"
        "print(type(graph).__name__)\n"
    )
    done = _fresh_python(code, LOOPTOOL_CONFIG=str(SMOKE))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "CompiledStateGraph"


def test_readme_configuration_example_is_a_valid_override() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    command = re.search(r"```bash\n(.*?)\n```", section, re.S)
    assert command, "README's Configuration section has no command"
    words = shlex.split(command.group(1))
    recipe = words[words.index("--config") + 1]
    overrides = [words[i + 1] for i, word in enumerate(words) if word == "--set"]
    assert overrides, "the example shows no --set override"
    load_config(REPO / recipe, overrides)


def test_cli_reports_a_bad_key_without_a_traceback(caplog: pytest.LogCaptureFixture) -> None:
    from looptool.cli import main

    assert main(["pipeline", "--config", str(SMOKE), "--set", "dialogue_synth.n=16"]) == 2
    assert "unknown config key 'dialogue_synth.n'" in caplog.text
