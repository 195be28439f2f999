import pytest
from pydantic import BaseModel, ConfigDict

from looptool.config import ConfigError, load_config, register_section, resolved_dict
from looptool.rundir import RunDir


class DemoSection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    steps: int = 1
    name: str = "x"


register_section("demo_section", DemoSection)


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
