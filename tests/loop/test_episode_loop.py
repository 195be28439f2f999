"""The loop on episodes (``loop.episodes``) with scripted models and the tiny random policy
(real TRL training, both phases): probe records, every verdict path (a relabel that passes
check_episode), expansions accepted and rejected by replay, composition within the budget,
held-out end-state success in the report, and a kill inside episode judging.

Episodes ask "Create the directory /<word>" on the filesystem backend; the scenario is keyed
by the word, as in :mod:`tests.loop.fakes`:

- ``ok-*``: the policy makes the reference call (succeeds);
- ``ep-pred-wrong``: the policy makes /other; the judge says the reference is right;
- ``ep-label-wrong``: the reference makes /lable-wrong (a typo); the policy makes the asked
  directory; the judge says the policy is right (a relabel);
- ``ep-both-wrong``: the reference makes /bath, the policy /other; the judge says neither.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from looptool.config import load_config
from looptool.episodes import Episode, ExpectedOutcome
from looptool.jsonl import read_jsonl, write_jsonl
from looptool.loop.compose import CompositionCounts
from looptool.loop.episode_loop import split_episodes
from looptool.loop.records import (
    EpisodeExpansionRecord,
    EpisodeJudgeRecord,
    IterationSummary,
    RunReport,
)
from looptool.loop.seed.episodes import check_episode, with_replayed_end_state
from looptool.loop.seed.imported import import_openai_jsonl
from looptool.loop.seed.split import split_heldout
from looptool.loop.serving import ServedPolicy
from looptool.rundir import RunDir
from looptool.schema import Lineage, Message, OriginKind, Role, Sample, ToolCall
from looptool.traces import TraceStore
from looptool.training.episode_rollout import EpisodeOutcome
from tests.fake_models import ModelCall, ScriptedChatModel
from tests.loop.fakes import (
    SPECIAL,
    Result,
    ScriptedLoopRunner,
    ScriptedPolicyClient,
    generator_reply,
    judge_reply,
    last_word,
    record_call,
    write_seed_file,
)

DIRECTORY = re.compile(r"Create the directory /([\w-]+)")
EP_SPECIAL = ("ep-pred-wrong", "ep-label-wrong", "ep-both-wrong")
OK = [f"ok-{index}" for index in range(5)]
REFERENCE = {"ep-label-wrong": "lable-wrong", "ep-both-wrong": "bath"}


def hermes(*calls: ToolCall) -> str:
    return "\n".join("<tool_call>\n" + json.dumps({"name": c.name, "arguments": c.arguments}) + "\n</tool_call>"
                     for c in calls)


def mkdir(word: str) -> ToolCall:
    return ToolCall(name="mkdir", arguments={"path": f"/{word}"})


def make_episode(word: str) -> Episode:
    draft = Episode(
        id=f"mk-{word}", backends=["filesystem"], initial_state={"filesystem": {"files": {"/readme.txt": "hi"}}},
        context=[Message(role=Role.SYSTEM, content="You manage files."),
                 Message(role=Role.USER, content=f"Create the directory /{word}")],
        expected=ExpectedOutcome(end_state={"filesystem": {"_": None}}, calls=[mkdir(REFERENCE.get(word, word))]),
        lineage=Lineage(source_item=f"mk-{word}"))
    episode = with_replayed_end_state(draft, {"filesystem": ["files", "directories"]})
    assert check_episode(episode) == []
    return episode


def write_episode_file(path: Path) -> Path:
    write_jsonl(path, [make_episode(word) for word in [*EP_SPECIAL, *OK]])
    return path


def directory_word(text: str) -> str:
    words = DIRECTORY.findall(text)
    if not words:
        raise AssertionError(f"no 'Create the directory' request in {text[-300:]!r}")
    return words[-1]


# ------------------------------------------------------------------------------- scripted models


class EpisodePolicyClient(ScriptedPolicyClient):
    """The single-step scenario, plus episodes: the scenario's mkdir, then "Done."."""

    async def complete(self, prompt: Any, *, max_tokens: int = 64, temperature: float = 0.0, **extra: Any) -> Any:
        text = self.tokenizer.decode(prompt)
        if "Create the directory" not in text:
            return await super().complete(prompt, max_tokens=max_tokens, temperature=temperature, **extra)
        word = directory_word(text)
        self.calls.append(f"episode:{word}")
        record_call("episode_" + self.stage, word)
        if "<tool_response>" in text:
            return Result("Done.")
        return Result(hermes(mkdir("other" if word in ("ep-pred-wrong", "ep-both-wrong") else word)))


def episode_judge_reply(call: ModelCall) -> str:
    prompt = call.text
    if "Attempt A:" not in prompt:
        return judge_reply(call)
    word = directory_word(prompt.split("Attempt A:")[0])
    record_call("episode_judge", word)
    attempt_a = prompt.split("Attempt A:")[1].split("Attempt B:")[0]
    if word == "ep-both-wrong":
        correct = "neither"
    elif word == "ep-pred-wrong":
        correct = "A" if '"/ep-pred-wrong"' in attempt_a else "B"
    elif word == "ep-label-wrong":
        correct = "A" if '"/ep-label-wrong"' in attempt_a else "B"
    else:
        correct = "both"
    return json.dumps({"analysis": f"checked the directory {word}", "correct": correct})


def episode_generator_reply(heldout_word: Callable[[], str], heldout_instruction: Callable[[], str]) -> Callable[
        [ModelCall], str]:
    """Variants of an episode seed: one good, one whose call fails on replay, one that changes
    nothing (trivial), one copying a held-out instruction."""
    single_step = generator_reply(heldout_word)

    def reply(call: ModelCall) -> str:
        if "multi-step tasks" not in call.text:
            return single_step(call)
        word = directory_word(call.text.split("The original task")[1])
        record_call("episode_expand", word)
        state = {"filesystem": {"files": {"/notes.txt": "x"}}}
        episodes = [
            {"instruction": f"Create the directory /{word}-gen", "initial_state": state,
             "calls": [{"name": "mkdir", "arguments": {"path": f"/{word}-gen"}}]},
            {"instruction": f"Go into /{word}-missing and make a folder", "initial_state": state,
             "calls": [{"name": "cd", "arguments": {"path": f"/{word}-missing"}}]},
            {"instruction": "List the files", "initial_state": state,
             "calls": [{"name": "ls", "arguments": {"path": "/"}}]},
            {"instruction": heldout_instruction(), "initial_state": state,
             "calls": [{"name": "mkdir", "arguments": {"path": "/held"}}]},
        ]
        return json.dumps({"episodes": episodes})

    return reply


class EpisodeLoopRunner(ScriptedLoopRunner):
    def __init__(self, *args: Any, heldout_word: Callable[[], str], heldout_instruction: Callable[[], str],
                 **kwargs: Any) -> None:
        super().__init__(*args, heldout_word=heldout_word, **kwargs)
        self.judge_model = ScriptedChatModel(replies=[episode_judge_reply], repeat_last=True)
        self.generator_model = ScriptedChatModel(
            replies=[episode_generator_reply(heldout_word, heldout_instruction)], repeat_last=True)
        self.train_kinds: list[str] = []

    def probe_client(self, served: ServedPolicy) -> Any:
        tokenizer = list(self._tokenizers.values())[-1]
        client = EpisodePolicyClient(tokenizer, stage="probe" if self.trained_any else "eval")
        self.policy_clients.append(client)
        return client

    def train_policy(self, job: Any) -> Any:
        self.train_kinds.append(job.settings.sample_kind)
        return super().train_policy(job)

    @property
    def episode_calls(self) -> list[str]:
        return [word for client in self.policy_clients for word in client.calls if word.startswith("episode:")]


def heldout_functions(run: Path) -> tuple[Callable[[], str], Callable[[], str]]:
    def word() -> str:
        return last_word(read_jsonl(run / "seed" / "heldout.jsonl", Sample)[0].context[-1].content)

    def instruction() -> str:
        return read_jsonl(run / "seed" / "episodes" / "heldout.jsonl", Episode)[0].context[-1].content

    return word, instruction


# ------------------------------------------------------------------------------- the run


def split_seed(data: Path, episodes: Path, heldout: int) -> int:
    """A seed whose two splits keep every special request and episode in training."""
    samples = import_openai_jsonl([data]).samples
    pool = read_jsonl(episodes, Episode)
    for seed in range(500):
        held = {last_word(s.context[-1].content) for s in split_heldout(samples, 0.2, seed).heldout}
        _, held_episodes = split_episodes(pool, heldout, seed)
        if held and not held & set(SPECIAL) and not {e.id for e in held_episodes} & {f"mk-{w}" for w in EP_SPECIAL}:
            return seed
    raise AssertionError("no split seed keeps the special items in training")


def overrides(model: Path, data: Path, episodes: Path, seed: int, iterations: int) -> list[str]:
    return [
        f"model.path={model}",
        "seed.sources.curated.enabled=false", f"seed.sources.imported=[{data}]",
        "seed.demonstrations=0", "seed.heldout_fraction=0.2", f"seed.seed={seed}",
        f"loop.iterations={iterations}", "loop.budget=16", "loop.evaluate_benchmarks=false", "loop.progress=false",
        "loop.probe.high_ppl_top_fraction=0.5",
        f"loop.episodes.file={episodes}", "loop.episodes.share=0.375", "loop.episodes.heldout=2",
        "loop.episodes.max_completion_tokens=64", "loop.episodes.max_tool_calling_iterations=2",
        "jglv.execution_evidence=false", "edde.generator=llm", "edde.k=4",
        "dialogue_synth.validation.judge=false",
        "train.mode=full", "train.max_steps=1", "train.num_generations=2", "train.prompts_per_step=2",
        "train.max_completion_tokens=8", "train.max_prompt_tokens=512", "train.device=cpu", "train.bf16=false",
        "train.save_steps=1", "train.rewards=[tool_match]",
    ]


def make_config(tmp_path: Path, model: Path, iterations: int, extra: list[str] | None = None) -> Any:
    data = write_seed_file(tmp_path / "seed.jsonl", 9)
    episodes = write_episode_file(tmp_path / "episodes.jsonl")
    return load_config(None, overrides(model, data, episodes, split_seed(data, episodes, 2), iterations) + (extra or []))


def new_runner(config: Any, run: RunDir) -> EpisodeLoopRunner:
    word, instruction = heldout_functions(run.path)
    return EpisodeLoopRunner(config, run, heldout_word=word, heldout_instruction=instruction)


@pytest.mark.slow
def test_two_iterations_with_episodes(tmp_path: Path, tiny_model_dir: Path) -> None:
    config = make_config(tmp_path, tiny_model_dir, iterations=2)
    run = RunDir.create(config, tmp_path / "run")
    runner = new_runner(config, run)
    runner.run_all()
    it1 = run.path / "loop" / "iter_1"

    # budget: 16 = 10 single-step + 6 episodes; both phases train each iteration, step first
    assert runner.train_kinds == ["step", "episode", "step", "episode"]
    assert 0 < len(read_jsonl(it1 / "data.jsonl", Sample)) <= 10
    e1 = read_jsonl(it1 / "episodes.jsonl", Episode)
    heldout = read_jsonl(run.path / "seed" / "episodes" / "heldout.jsonl", Episode)
    assert len(e1) == 6 and len(heldout) == 2
    assert not {e.lineage.source_item for e in e1} & {e.lineage.source_item for e in heldout}
    assert (it1 / "episode_train" / "train_report.json").is_file()

    # probe: one record per episode; the three special ones failed
    outcomes = {o.episode_id: o for o in read_jsonl(it1 / "episode_probe" / "outcomes.jsonl", EpisodeOutcome)}
    assert set(outcomes) == {e.id for e in e1}
    assert {i for i, o in outcomes.items() if not o.success} == {f"mk-{w}" for w in EP_SPECIAL}
    pred = outcomes["mk-ep-pred-wrong"]
    assert pred.stop_reason == "answered" and pred.first_divergence == 0 and len(pred.turns) == 2
    assert pred.steps[0].arguments == {"path": "/other"} and pred.steps[0].ok

    # judge: every verdict path; the relabel passes check_episode with the replayed end state
    verdicts = {r.episode_id: r for r in read_jsonl(it1 / "episode_judge" / "verdicts.jsonl", EpisodeJudgeRecord)}
    assert {i: r.verdict.value for i, r in verdicts.items()} == {
        "mk-ep-pred-wrong": "PRED_WRONG", "mk-ep-label-wrong": "LABEL_WRONG", "mk-ep-both-wrong": "BOTH_WRONG"}
    assert {i: r.action for i, r in verdicts.items()} == {
        "mk-ep-pred-wrong": "error_seed", "mk-ep-label-wrong": "relabeled", "mk-ep-both-wrong": "dropped"}
    relabeled = verdicts["mk-ep-label-wrong"].episode
    assert relabeled is not None and check_episode(relabeled) == []
    assert relabeled.expected.calls == [mkdir("ep-label-wrong")]
    assert "/ep-label-wrong" in relabeled.expected.end_state["filesystem"]["directories"]
    assert relabeled.lineage.origin == OriginKind.RELABELED and relabeled.lineage.parent_id == "mk-ep-label-wrong"
    assert relabeled.metadata["relabel"]["calls"][0]["arguments"] == {"path": "/lable-wrong"}

    # expand: per seed one accepted; replay failure, trivial task and held-out copy rejected
    expansions = read_jsonl(it1 / "episode_expand" / "expansions.jsonl", Episode)
    records = read_jsonl(it1 / "episode_expand" / "outcomes.jsonl", EpisodeExpansionRecord)
    assert {e.context[-1].content for e in expansions} == {
        "Create the directory /ep-pred-wrong-gen", "Create the directory /ep-label-wrong-gen"}
    assert all(check_episode(e) == [] and e.lineage.origin == OriginKind.EXPANDED for e in expansions)
    assert {e.lineage.parent_id for e in expansions} == {"mk-ep-pred-wrong", relabeled.id}
    for record in records:
        assert record.asked == 4 and record.produced == 4 and len(record.accepted_ids) == 1
        kinds = sorted(reason.split(":")[0] for reason in record.rejected)
        assert kinds == ["check failed", "duplicate", "replay failed"], record.rejected

    # compose: error seeds, expansions, fresh episodes up to the episode budget; no id twice
    counts = CompositionCounts.model_validate_json((it1 / "episode_compose" / "composition.json").read_text())
    e2 = read_jsonl(run.path / "loop" / "iter_2" / "episodes.jsonl", Episode)
    assert (counts.error_seeds, counts.expansions) == (2, 2)
    assert counts.total == len(e2) <= 6 and len({e.id for e in e2}) == len(e2)
    assert counts.fresh == len(e2) - 4
    assert not {e.id for e in e2} & {e.id for e in heldout}

    # summary and report: counts per iteration, held-out end-state success of every policy
    summary = IterationSummary.model_validate_json((it1 / "iteration.json").read_text())
    episodes = summary.episodes
    assert episodes is not None
    assert (episodes.trained_on, episodes.probed, episodes.succeeded) == (6, 6, 3)
    assert episodes.verdicts == {"PRED_WRONG": 1, "LABEL_WRONG": 1, "BOTH_WRONG": 1}
    assert episodes.relabeled == 1 and episodes.error_seeds == 2
    assert episodes.expansions_asked == 8 and episodes.expansions_accepted == 2
    assert episodes.expansions_rejected == {"check failed": 2, "duplicate": 2, "replay failed": 2}
    assert episodes.next_counts == {"error_seeds": 2, "expansions": 2, "fresh": counts.fresh}
    assert episodes.heldout_episodes == 2 and episodes.heldout_success == 1.0  # held-out are ok-* episodes
    report = RunReport.model_validate_json((run.path / "run_report.json").read_text())
    assert report.base_episode_success == 1.0 and report.episode_heldout_size == 2
    assert all(s.episodes is not None for s in report.iterations) and len(report.iterations) == 2

    from looptool.loop.report import build_report, render_markdown

    markdown = render_markdown(build_report([run.path]))
    assert "held-out end-state success" in markdown and "Episodes" in markdown

    with TraceStore.for_run(run.path, readonly=True) as store:
        ids = {info.trace_id for info in store.traces()}
    assert {f"jglv:1:episode:mk-{w}" for w in EP_SPECIAL} <= ids
    assert "edde:1:episode:mk-ep-pred-wrong" in ids


def test_the_default_recipe_leaves_episodes_off() -> None:
    from looptool.loop.settings import LoopSettings

    settings = load_config(Path(__file__).resolve().parents[2] / "configs" / "smoke.yaml").section("loop", LoopSettings)
    assert not settings.episodes.enabled and settings.step_budget == settings.budget == 16
    on = LoopSettings(budget=16, episodes={"file": "curated", "share": 0.25})
    assert (on.step_budget, on.episode_budget) == (12, 4)
    with pytest.raises(ValueError, match="leaves no single-step sample"):
        LoopSettings(budget=1, episodes={"file": "curated", "share": 0.5})


def test_the_episode_split_never_puts_a_source_item_on_both_sides() -> None:
    episodes = [make_episode(word) for word in OK]
    twin = make_episode("ok-0").model_copy(update={"id": "mk-ok-0-twin"})
    train, held = split_episodes([*episodes, twin], 2, seed=3)
    assert len(held) >= 2 and train
    assert not {e.lineage.source_item for e in train} & {e.lineage.source_item for e in held}
    assert split_episodes([*episodes, twin], 2, seed=3) == (train, held)  # seeded


# ------------------------------------------------------------------------------- a kill


def main(run_dir: str) -> int:
    run = RunDir(Path(run_dir))
    new_runner(load_config(run.path / "config.yaml"), run).run_all()
    return 0


@pytest.mark.slow
def test_killed_in_episode_judging_the_rerun_keeps_finished_stages(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import signal
    import subprocess
    import time

    config = make_config(tmp_path, tiny_model_dir, iterations=1, extra=["loop.judge_concurrency=1"])
    run = RunDir.create(config, tmp_path / "run")
    calls, marker = tmp_path / "calls.log", tmp_path / "hung"
    env = {**os.environ, "LOOPTOOL_TEST_HANG_AT": "episode_judge", "LOOPTOOL_TEST_HANG_MARKER": str(marker),
           "LOOPTOOL_TEST_CALL_LOG": str(calls)}
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen([sys.executable, "-m", "tests.loop.test_episode_loop", str(run.path)], cwd=root,
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 600
    while not marker.exists():
        if process.poll() is not None:
            raise AssertionError(f"the run ended before blocking: {process.stderr.read()[-3000:]!r}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("the run never reached episode judging")
        time.sleep(0.2)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    it1 = run.path / "loop" / "iter_1"
    assert (it1 / "episode_probe.done").exists() and not (it1 / "episode_judge.done").exists()
    before = calls.read_text().splitlines()
    judged_before = [line for line in before if line.startswith("episode_judge")]
    assert len(judged_before) == 2  # one finished, one in flight

    monkeypatch.setenv("LOOPTOOL_TEST_CALL_LOG", str(calls))
    again = new_runner(load_config(run.path / "config.yaml"), run)
    again.run_all()
    after = calls.read_text().splitlines()[len(before):]
    assert again.train_kinds == [] and again.episode_calls == []  # training and probing were kept
    judged_after = [line for line in after if line.startswith("episode_judge")]
    assert len(judged_after) == 2 and judged_before[0] not in judged_after  # the finished one is not re-asked
    verdicts = read_jsonl(it1 / "episode_judge" / "verdicts.jsonl", EpisodeJudgeRecord)
    assert sorted(r.action for r in verdicts) == ["dropped", "error_seed", "relabeled"]
    assert (it1 / "episode_compose" / "next.jsonl").is_file()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))


def test_the_simulated_user_needs_a_server_for_the_training_phase(tmp_path: Path, tiny_model_dir: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """loop.episodes.simulated_user: refused while the loop's own server stops for training and
    no user server is named; a named server that does not answer is refused by URL; one that
    answers reaches training (train.simulated_user) and the plays (the partner)."""
    from looptool.agents.episode_user import SimulatedUserPartner
    from looptool.errors import UserError
    from looptool.loop.controller import LoopRunner
    from looptool.serve import free_port

    with pytest.raises(UserError, match=r"roles\.user_sim\.base_urls or loop\.stop_server_for_training"):
        LoopRunner(make_config(tmp_path, tiny_model_dir, 1, ["loop.episodes.simulated_user=true"]),
                   RunDir(tmp_path / "refused"))
    dead = f"http://127.0.0.1:{free_port()}/v1"
    runner = LoopRunner(make_config(tmp_path, tiny_model_dir, 1, [
        "loop.episodes.simulated_user=true", f"roles.user_sim.base_urls=[{dead}]"]), RunDir(tmp_path / "dead"))
    with pytest.raises(UserError, match=re.escape(dead)):
        runner.user_partner()
    monkeypatch.setattr("looptool.agents.episode_user.unreachable", lambda urls, timeout_s=5.0: [])
    assert isinstance(runner._play_settings().partner, SimulatedUserPartner)
    assert runner.episode_train_settings().simulated_user
    off = LoopRunner(make_config(tmp_path, tiny_model_dir, 1), RunDir(tmp_path / "off"))
    assert off._play_settings().partner is None and not off.episode_train_settings().simulated_user
