"""GRPO as configured actually happens: clip range, scheduler, train.trl, over-long prompts,
one renderer and one decoder for training and evaluation, served held-out evaluation."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from looptool.benchmarks.base import EndpointMode
from looptool.benchmarks.runner.chat import decode_reply, render_request
from looptool.codecs import render_hermes, tool_calls_match
from looptool.config import ServeSettings
from looptool.errors import UserError
from looptool.jsonl import write_jsonl
from looptool.loop.probe import prompt_ids
from looptool.schema import Message, Role, Sample
from looptool.training.batching import plan_batches
from looptool.training.evaluate import served_heldout_accuracy
from looptool.training.examples import build_examples
from looptool.training.model import load_tokenizer
from looptool.training.rewards import completion_text, register_reward, score_tool_match
from looptool.training.settings import TrainSettings
from looptool.training.trainer import Hardware, TrainJob, grpo_config, heldout_backend, run_training
from tests.fake_openai_server import COMPLETIONS_PATH, FakeOpenAIServer
from tests.training.conftest import make_samples

CPU = Hardware(device="cpu", bf16=False, use_vllm=False, processes=1)
FAST: dict[str, Any] = {
    "prompts_per_step": 2,
    "num_generations": 2,
    "max_completion_tokens": 8,
    "holdout_fraction": 0.0,
    "save_steps": 100,
    "heldout_backend": "transformers",
    "save_final_model": False,
}


# ---------------------------------------------------------------- updates per rollout batch


def test_batch_plan_with_several_updates_per_rollout_batch() -> None:
    plan = plan_batches(prompts_per_step=4, num_generations=4, micro_batch_size=8, updates_per_generation=3)
    assert (plan.per_device_train_batch_size, plan.gradient_accumulation_steps) == (8, 2)
    assert plan.steps_per_generation == 6 and plan.generation_batch_size == 48
    # a rollout batch larger than the data set is shrunk (TRL would drop it and never step)
    small = plan_batches(prompts_per_step=4, num_generations=4, micro_batch_size=None, train_prompts=9,
                         updates_per_generation=8)
    assert small.updates_per_generation == 2 and any("updates_per_generation lowered" in n for n in small.notes)


def test_official_layout_reaches_trl(tmp_path: Path) -> None:
    """256 prompts per rollout batch, 8 updates of 32: TRL generates once every 8 steps."""
    settings = TrainSettings(prompts_per_step=32, num_generations=16, micro_batch_size=16, updates_per_generation=8,
                             lr_scheduler_type="constant", weight_decay=0.01)
    plan = plan_batches(prompts_per_step=32, num_generations=16, micro_batch_size=16, processes=1,
                        updates_per_generation=8)
    args = grpo_config(TrainJob(data=tmp_path, out=tmp_path, settings=settings), plan, CPU)
    assert args.per_device_train_batch_size * args.steps_per_generation == 256 * 16
    assert args.steps_per_generation == 8 * args.gradient_accumulation_steps
    assert args.generation_batch_size == 256 * 16
    assert args.lr_scheduler_type == "constant" and args.weight_decay == 0.01


@register_reward("test_completion_length")
def completion_length(completions: Any, **columns: Any) -> list[float]:
    """A reward with spread on a random model (ToolMatch is 0 for all its rollouts: no gradient)."""
    return [len(completion_text(completion)) / 40 for completion in completions]


def clip_run(tiny_model_dir: Path, samples_file: Path, out: Path, updates: int) -> list[float]:
    settings = TrainSettings(**{**FAST, "updates_per_generation": updates, "max_steps": 2, "learning_rate": 0.05,
                                "temperature": 1.0, "max_completion_tokens": 12, "mode": "full",
                                "rewards": ["test_completion_length"]})
    report = run_training(TrainJob(data=samples_file, out=out, settings=settings, model=str(tiny_model_dir), seed=3))
    assert report.batch["updates_per_generation"] == updates
    assert [point.step for point in report.reward_curve] == [1, 2]
    return [point.clip_region for point in report.reward_curve if point.clip_region is not None]


def test_clip_range_acts_only_with_several_updates_per_rollout_batch(
    tiny_model_dir: Path, samples_file: Path, tmp_path: Path
) -> None:
    # one update per rollout batch: old log-probs are the current ones, every ratio is 1
    single = clip_run(tiny_model_dir, samples_file, tmp_path / "one", updates=1)
    assert single and all(value == 0.0 for value in single)
    # two updates: the second step's ratios come from a moved policy and some are clipped
    double = clip_run(tiny_model_dir, samples_file, tmp_path / "two", updates=2)
    assert len(double) == 2 and double[1] > 0.0


def test_constant_learning_rate_by_default(tiny_model_dir: Path, samples_file: Path, tmp_path: Path) -> None:
    settings = TrainSettings(**{**FAST, "max_steps": 2, "learning_rate": 1e-3})
    report = run_training(TrainJob(data=samples_file, out=tmp_path / "run", settings=settings, model=str(tiny_model_dir)))
    assert [point.learning_rate for point in report.reward_curve] == [1e-3, 1e-3]


def test_unknown_scheduler_is_named() -> None:
    with pytest.raises(ValidationError, match="unknown lr_scheduler_type 'constnat'; did you mean 'constant'"):
        TrainSettings(lr_scheduler_type="constnat")


# ---------------------------------------------------------------- train.trl


def test_trl_fields_pass_through(tmp_path: Path) -> None:
    settings = TrainSettings(trl={"mask_truncated_completions": True, "chat_template_kwargs": {"enable_thinking": False}})
    plan = plan_batches(prompts_per_step=2, num_generations=2, micro_batch_size=None)
    args = grpo_config(TrainJob(data=tmp_path, out=tmp_path, settings=settings), plan, CPU)
    assert args.mask_truncated_completions is True
    assert args.chat_template_kwargs == {"enable_thinking": False}


def test_trl_unknown_field_gets_the_closest_name() -> None:
    with pytest.raises(ValidationError, match="'mask_truncated_completion' is not a GRPOConfig field.*did you mean "
                                              "'mask_truncated_completions'"):
        TrainSettings(trl={"mask_truncated_completion": True})


def test_trl_field_owned_by_looptool_is_refused_with_the_key_to_use() -> None:
    with pytest.raises(ValidationError, match="'learning_rate' is set by LoopTool from train.learning_rate") as error:
        TrainSettings(trl={"learning_rate": 1.0, "steps_per_generation": 4})
    assert "train.updates_per_generation" in str(error.value)


def test_every_field_looptool_sets_is_declared_owned(tmp_path: Path) -> None:
    """The refusal list and the config builder cannot drift apart."""
    from looptool.training.trl_fields import OWNED_FIELDS

    captured: dict[str, Any] = {}

    class Capture:
        def __init__(self, **kwargs: Any) -> None:
            captured.update(kwargs)

    import trl

    original = trl.GRPOConfig
    trl.GRPOConfig = Capture  # type: ignore[misc,assignment]
    try:
        grpo_config(TrainJob(data=tmp_path, out=tmp_path, settings=TrainSettings()),
                    plan_batches(prompts_per_step=2, num_generations=2, micro_batch_size=None), CPU)
    finally:
        trl.GRPOConfig = original  # type: ignore[misc]
    assert captured and set(captured) <= set(OWNED_FIELDS)


def test_trl_value_rejected_by_trl_is_a_user_error(tmp_path: Path) -> None:
    settings = TrainSettings(trl={"vllm_importance_sampling_mode": "bogus"})
    plan = plan_batches(prompts_per_step=2, num_generations=2, micro_batch_size=None)
    try:
        grpo_config(TrainJob(data=tmp_path, out=tmp_path, settings=settings), plan, CPU)
    except UserError as error:
        assert "train.trl" in str(error)


# ---------------------------------------------------------------- over-long prompts


def call_samples(count: int) -> list[Sample]:
    """``count`` samples with call labels (make_samples ends on a text-reply label)."""
    return make_samples(count + 1)[:count]


def long_sample(index: int) -> Sample:
    base = call_samples(1)[0]
    return base.model_copy(update={"id": f"long{index}", "context": [Message(role=Role.USER, content="word " * 400)]})


def test_prompts_over_the_limit_after_truncation_are_dropped_and_counted(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    tokenizer = load_tokenizer(tiny_model_dir)
    limit = build_examples(make_samples(8), tokenizer, max_prompt_tokens=10**6).max_prompt_tokens_seen + 20
    samples = [*make_samples(4), long_sample(0)]
    converted = build_examples(samples, tokenizer, max_prompt_tokens=limit)
    assert converted.dropped == ["long0"] and converted.over_limit == 1
    assert [example.sample_id for example in converted.examples] == ["s0", "s1", "s2", "s3"]

    data = tmp_path / "data.jsonl"
    write_jsonl(data, [*make_samples(6), long_sample(0), long_sample(1)])
    settings = TrainSettings(**{**FAST, "max_steps": 1, "max_prompt_tokens": limit})
    report = run_training(TrainJob(data=data, out=tmp_path / "run", settings=settings, model=str(tiny_model_dir)))
    assert report.data.over_limit_prompts == 2 and report.data.train == 6


def test_no_prompt_fits_is_a_clear_error_before_training(tiny_model_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data.jsonl"
    write_jsonl(data, [long_sample(0), long_sample(1)])
    settings = TrainSettings(**{**FAST, "max_prompt_tokens": 300})
    with pytest.raises(UserError, match="none of the 2 training prompts fits train.max_prompt_tokens=300"):
        run_training(TrainJob(data=data, out=tmp_path / "run", settings=settings, model=str(tiny_model_dir)))
    assert not (tmp_path / "run" / "checkpoints").exists()


# ---------------------------------------------------------------- one renderer, one decoder


def test_training_and_benchmark_prompts_are_the_same_rendering() -> None:
    sample = make_samples(3)[2]
    sample = sample.model_copy(update={"context": [Message(role=Role.SYSTEM, content="Be brief."), *sample.context]})
    example = build_examples([sample], None, max_prompt_tokens=4096, preamble="You are LoopTool.").examples[0]
    request = render_request(EndpointMode.PROMPT_HERMES, sample.context, sample.tools, preamble="You are LoopTool.")
    assert request.messages == example.prompt
    assert example.prompt[0]["content"].startswith("You are LoopTool.\n\nBe brief.")


@pytest.mark.parametrize("suffix", ["", "\nDone, calling the tools now."])
def test_label_as_completion_scores_one_in_training_and_in_evaluation(suffix: str) -> None:
    for sample in make_samples(8):
        if sample.label_kind == "calls":
            completion = render_hermes(sample.label_calls) + suffix
        else:
            completion = sample.label_text or ""
        assert score_tool_match(completion, sample.label_kind, sample.label_calls) == 1.0
        reply = decode_reply(EndpointMode.PROMPT_HERMES, completion)
        assert reply.parse_error is None
        if sample.label_kind == "calls":
            assert tool_calls_match(reply.tool_calls, sample.label_calls)
        else:
            assert not reply.tool_calls and reply.text.strip()


def test_a_wrong_completion_scores_zero_in_both() -> None:
    sample = call_samples(1)[0]
    wrong = render_hermes([call.model_copy(update={"arguments": {"city": "Nowhere"}}) for call in sample.label_calls])
    assert score_tool_match(wrong, "calls", sample.label_calls) == 0.0
    assert not tool_calls_match(decode_reply(EndpointMode.PROMPT_HERMES, wrong).tool_calls, sample.label_calls)


# ---------------------------------------------------------------- held-out evaluation on a server


def test_heldout_accuracy_through_a_served_model(tiny_model_dir: Path, tmp_path: Path) -> None:
    tokenizer = load_tokenizer(tiny_model_dir)
    examples = build_examples(call_samples(4), tokenizer, max_prompt_tokens=1024).examples
    answers = {tuple(prompt_ids(tokenizer, example)): example.label_completion() for example in examples[:3]}

    def complete(body: dict[str, Any]) -> str:
        return answers.get(tuple(body["prompt"]), "I do not know.")

    with FakeOpenAIServer(completion=complete, models=["trained"]) as server:
        result = asyncio.run(served_heldout_accuracy(server.base_url, "trained", tokenizer, examples,
                                                     max_new_tokens=32, journal=tmp_path / "heldout.jsonl"))
        sent = server.bodies(COMPLETIONS_PATH)
    assert result.samples == 4 and result.accuracy == 0.75
    assert len(sent) == 4 and all(body["temperature"] == 0.0 and body["max_tokens"] == 32 for body in sent)
    assert [p.reward for p in result.predictions] == [1.0, 1.0, 1.0, 0.0]


def test_heldout_backend_choice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    auto = TrainJob(data=tmp_path, out=tmp_path, settings=TrainSettings())
    assert heldout_backend(auto, "model") == "transformers"  # no serve section
    served = TrainJob(data=tmp_path, out=tmp_path, settings=TrainSettings(), serve=ServeSettings(device="cpu"))
    assert heldout_backend(served, None) == "transformers"  # multi-process LoRA: no full model folder
    monkeypatch.setenv("LOOPTOOL_VLLM_PYTHON", str(tmp_path / "no-such-python"))
    assert heldout_backend(served, "model") == "transformers"
    forced = TrainJob(data=tmp_path, out=tmp_path, settings=TrainSettings(heldout_backend="vllm"),
                      serve=ServeSettings(device="cpu"))
    with pytest.raises(UserError, match="train.heldout_backend is vllm but LOOPTOOL_VLLM_PYTHON=.* does not exist"):
        heldout_backend(forced, "model")
    python = tmp_path / "python"
    python.write_text("")
    monkeypatch.setenv("LOOPTOOL_VLLM_PYTHON", str(python))
    assert heldout_backend(served, "model") == "vllm"


# ---------------------------------------------------------------- memory defaults


def test_mmap_threshold_is_set_in_glibc() -> None:
    from looptool.training.trainer import set_mmap_threshold

    assert set_mmap_threshold(64 * 1024)  # glibc accepts it (Linux CI); 0 would mean refused


def test_cpu_defaults_bound_memory_and_cuda_defaults_do_not(tmp_path: Path) -> None:
    """Null checkpointing / micro-batch: on CPU checkpointing and 1 completion per pass (and
    malloc_trim), on CUDA neither; explicit values win on both."""
    settings = TrainSettings()
    assert settings.cpu_trim_memory
    assert settings.checkpointing_for("cpu") and not settings.checkpointing_for("cuda")
    assert settings.micro_batch_for("cpu") == 1 and settings.micro_batch_for("cuda") is None
    plan = plan_batches(prompts_per_step=2, num_generations=4, micro_batch_size=settings.micro_batch_for("cpu"))
    args = grpo_config(TrainJob(data=tmp_path, out=tmp_path, settings=settings), plan, CPU)
    assert args.activation_checkpointing or args.gradient_checkpointing
    assert (args.per_device_train_batch_size, args.gradient_accumulation_steps) == (1, 8)
    explicit = TrainSettings(gradient_checkpointing=False, micro_batch_size=8)
    assert not explicit.checkpointing_for("cpu") and explicit.micro_batch_for("cpu") == 8
    plan = plan_batches(prompts_per_step=2, num_generations=4, micro_batch_size=explicit.micro_batch_for("cpu"))
    args = grpo_config(TrainJob(data=tmp_path, out=tmp_path, settings=explicit), plan, CPU)
    assert not (args.activation_checkpointing or args.gradient_checkpointing)
    assert (args.per_device_train_batch_size, args.gradient_accumulation_steps) == (8, 1)


def test_the_reported_peak_is_the_trainings_own() -> None:
    """After a reset, the peak counts only what came later: a 300 MiB buffer freed before the
    reset does not show, one touched after it does."""
    from looptool.training.report import peak_memory, reset_peak_rss

    before = bytearray(300 * 2**20)
    del before
    if not reset_peak_rss():
        pytest.skip("this kernel does not allow resetting VmHWM")
    low, kind = peak_memory()
    assert kind == "rss"
    after = bytearray(300 * 2**20)
    high, _ = peak_memory()
    assert high - low >= 250 * 2**20
    del after


def test_each_phase_reports_its_own_peak() -> None:
    """A 300 MiB spike freed inside phase "spike" shows there, not in the phase after it, and
    the overall peak is the largest phase's."""
    from looptool.training.report import PhasePeaks, peak_memory, reset_peak_rss

    if not reset_peak_rss():
        pytest.skip("this kernel does not allow resetting VmHWM")
    phases = PhasePeaks()
    phases.begin("spike")
    spike = bytearray(300 * 2**20)
    del spike
    phases.begin("quiet")
    phases.end()
    assert set(phases.bytes) == {"spike", "quiet"}
    assert phases.bytes["spike"] - phases.bytes["quiet"] >= 250 * 2**20
    assert peak_memory(phases) == (phases.bytes["spike"], "rss")
