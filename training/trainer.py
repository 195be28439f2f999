"""GRPO training driven by the ``train`` config section, with TRL's ``GRPOTrainer``.

:func:`run_training` checks everything it can before loading a model (data, rewards,
model folder), converts samples to prompts, trains with checkpoints in ``<out>/checkpoints``,
resumes from the last checkpoint when the same ``<out>`` is used again, evaluates held-out
ToolMatch accuracy and writes ``<out>/train_report.json``.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import signal
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from looptool.agents.backends.episode_env import UserPartner
from looptool.config import ServeSettings
from looptool.errors import UserError
from looptool.rundir import RunDir
from looptool.schema import Sample
from looptool.training.batching import BatchPlan, plan_batches
from looptool.training.data import Split, load_samples, split_heldout
from looptool.training.episode_training import (
    EpisodeData,
    attach_environments,
    check_data_kind,
    episode_heldout,
    episode_partner,
    load_training_episodes,
    prepare_episode_data,
    vllm_episode_heldout,
)
from looptool.training.evaluate import HeldoutResult, heldout_accuracy, vllm_heldout_accuracy
from looptool.training.examples import ExampleSet, build_examples
from looptool.training.model import load_tokenizer, model_type, resolve_model_path
from looptool.training.progress import RichProgressCallback
from looptool.training.report import (
    REPORT_NAME,
    DataCounts,
    PhasePeaks,
    TrainReport,
    peak_memory,
    reward_curve,
)
from looptool.training.rewards import UnknownRewardError, get_rewards
from looptool.training.settings import TrainSettings

log = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
STAGE = "train"


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on request after saving a checkpoint; rerun to resume."""


@dataclass(frozen=True)
class Hardware:
    """Device-dependent choices, made once per run."""

    device: str
    bf16: bool
    use_vllm: bool
    processes: int
    notes: tuple[str, ...] = ()


def quiet_libraries() -> None:
    """No tqdm bars or deprecation chatter from the libraries: the rich bar shows progress."""
    import datasets
    import transformers

    transformers.utils.logging.disable_progress_bar()
    datasets.disable_progress_bars()
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*gradient_checkpointing_(en|dis)able.*", category=FutureWarning)
    # episode mode relies on it knowingly (docs/training.md, episodes)
    warnings.filterwarnings("ignore", message="You are using 'environment_factory'", category=UserWarning)


def choose_hardware(settings: TrainSettings) -> Hardware:
    """CUDA when present (bf16 if supported, TRL's vLLM generation if vllm imports);
    otherwise CPU with bf16 off (TRL defaults it on, which is slower on CPU)."""
    import torch

    cuda = torch.cuda.is_available()
    if settings.device == "cuda" and not cuda:
        raise UserError("train.device is 'cuda' but no CUDA device is available")
    device = "cuda" if settings.device == "cuda" or (settings.device == "auto" and cuda) else "cpu"
    notes: list[str] = []
    if device == "cpu":
        bf16 = bool(settings.bf16)
        use_vllm = False
        if settings.use_vllm:
            notes.append("use_vllm ignored: TRL's vLLM generation needs CUDA")
    else:
        bf16 = torch.cuda.is_bf16_supported() if settings.bf16 is None else settings.bf16
        has_vllm = importlib.util.find_spec("vllm") is not None
        use_vllm = has_vllm if settings.use_vllm is None else settings.use_vllm
        if use_vllm and not has_vllm:
            raise UserError("train.use_vllm is true but the vllm package is not importable here")
    if settings.threads is not None:
        torch.set_num_threads(settings.threads)
    processes = int(os.environ.get("WORLD_SIZE", "1"))
    if device == "cpu" and settings.cpu_mmap_threshold_kib is not None:
        set_mmap_threshold(settings.cpu_mmap_threshold_kib * 1024)
    return Hardware(device=device, bf16=bf16, use_vllm=use_vllm, processes=processes, notes=tuple(notes))


M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number


def _libc() -> Any:
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name)
    except OSError:
        return None


class TrimFreedMemory(TrainerCallback):
    """``malloc_trim(0)`` after every forward/backward pass and optimizer step (glibc only):
    memory freed by one pass goes back to the OS instead of staying with the process."""

    def __init__(self) -> None:
        self._trim = getattr(_libc(), "malloc_trim", None)

    def _release(self) -> None:
        if self._trim is not None:
            self._trim(0)

    def on_substep_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                       **kwargs: Any) -> None:
        self._release()

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                    **kwargs: Any) -> None:
        self._release()


def set_mmap_threshold(size: int) -> bool:
    """Have glibc mmap every allocation above ``size`` bytes, so freed tensors return to the OS.

    glibc raises its mmap threshold dynamically (up to 32 MiB) each time an mmapped block is
    freed; after that, activation-sized tensors come from the heap and their memory stays with
    the process, which is what made GRPO's peak RSS grow far beyond what torch holds. Fixing the
    threshold turns that off. Returns False where there is no glibc (then nothing changes)."""
    mallopt = getattr(_libc(), "mallopt", None)
    return bool(mallopt(M_MMAP_THRESHOLD, int(size))) if mallopt is not None else False


class StopOnSignal(TrainerCallback):
    """First Ctrl-C (or SIGTERM): finish the step, save a checkpoint, stop. Second: abort."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def request(self) -> None:
        self.requested = True

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        log.warning("stop requested: finishing this step and saving a checkpoint (again to abort)")
        self.requested = True

    def install(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[signum] = signal.signal(signum, self._handle)
            except ValueError:  # not the main thread
                return

    def uninstall(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if self.requested:
            control.should_save = True
            control.should_training_stop = True


class TokenCounter(TrainerCallback):
    """Tokens and trainer time of this invocation (a resumed run starts from the checkpoint)."""

    def __init__(self) -> None:
        self.start_tokens = 0
        self.start_step = 0
        self.started = 0.0
        self.seconds = 0.0

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        # a resumed run has loaded the checkpoint's counters by now
        self.started = time.perf_counter()
        self.start_step = state.global_step
        self.start_tokens = int(state.num_input_tokens_seen or 0)

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        self.seconds = time.perf_counter() - self.started


@dataclass
class TrainJob:
    """Everything one ``looptool train`` needs."""

    data: Path
    out: Path
    settings: TrainSettings
    model: str = "embedded"
    seed: int = 0
    heldout_data: Path | None = None
    callbacks: Sequence[TrainerCallback] = field(default_factory=tuple)
    serve: ServeSettings | None = None
    """How to serve the trained model for held-out decoding (``train.heldout_backend``)."""
    user_partner: UserPartner | None = None
    """The simulated user behind ``ask_user`` (required by ``train.simulated_user``)."""


@dataclass(frozen=True)
class PreparedData:
    train: ExampleSet
    heldout: ExampleSet
    samples: int
    call_labels: int


def prepare_data(
    job: TrainJob, samples: list[Sample], heldout: list[Sample] | None, tokenizer: Any
) -> PreparedData:
    """Prompts for training and for the held-out slice (a file of its own, or a seeded
    slice of the training file)."""
    settings = job.settings
    if heldout is not None:
        split = Split(train=samples, heldout=heldout)
    else:
        split = split_heldout(samples, fraction=settings.holdout_fraction, limit=settings.holdout_max, seed=job.seed)
    def convert(part: list[Sample]) -> ExampleSet:
        return build_examples(part, tokenizer, max_prompt_tokens=settings.max_prompt_tokens, preamble=settings.preamble)

    train = convert(split.train)
    if not train.examples:
        raise UserError(
            f"{job.data}: none of the {len(split.train)} training prompts fits train.max_prompt_tokens="
            f"{settings.max_prompt_tokens} even after dropping old turns (the tools and the last user "
            "turn alone are longer); raise the limit"
        )
    return PreparedData(
        train=train,
        heldout=convert(split.heldout),
        samples=len(split.train) + len(split.heldout),
        call_labels=sum(1 for sample in [*split.train, *split.heldout] if sample.label_kind == "calls"),
    )


def data_counts(data: PreparedData | None, episodes: EpisodeData | None) -> DataCounts:
    """The report's data counts for either kind of run."""
    if episodes is not None:
        return DataCounts(
            samples=episodes.episodes, train=len(episodes.train.rows), heldout=len(episodes.heldout),
            call_labels=0, text_labels=0, episodes=episodes.episodes, truncated_prompts=0,
            over_limit_prompts=episodes.train.over_limit + episodes.heldout_over_limit,
            max_prompt_tokens_seen=episodes.train.max_prompt_tokens_seen)
    assert data is not None
    return DataCounts(
        samples=data.samples,
        train=len(data.train.examples),
        heldout=len(data.heldout.examples),
        call_labels=data.call_labels,
        text_labels=data.samples - data.call_labels,
        truncated_prompts=data.train.truncated + data.heldout.truncated,
        over_limit_prompts=data.train.over_limit + data.heldout.over_limit,
        max_prompt_tokens_seen=max(data.train.max_prompt_tokens_seen, data.heldout.max_prompt_tokens_seen),
    )


def grpo_config(job: TrainJob, plan: BatchPlan, hardware: Hardware) -> Any:
    """TRL's ``GRPOConfig`` for this job (``train.trl`` fields passed through as they are);
    a value TRL rejects becomes a :class:`UserError` naming ``train.trl``."""
    try:
        return _grpo_config(job, plan, hardware)
    except (TypeError, ValueError) as error:
        where = "train.trl" if job.settings.trl else "train"
        raise UserError(f"{where}: TRL's GRPOConfig rejected the settings: {error}") from None


def _grpo_config(job: TrainJob, plan: BatchPlan, hardware: Hardware) -> Any:
    from trl import GRPOConfig

    settings = job.settings
    extra: dict[str, Any] = {}
    if hardware.use_vllm:
        extra.update(
            vllm_mode=settings.vllm_mode,
            vllm_gpu_memory_utilization=settings.vllm_gpu_memory_utilization,
            vllm_max_model_length=settings.max_prompt_tokens + settings.max_completion_tokens,
        )
    dtype = "bfloat16" if hardware.bf16 else "float32"
    return GRPOConfig(
        output_dir=str(job.out / CHECKPOINTS),
        use_cpu=hardware.device == "cpu",
        bf16=hardware.bf16,
        fp16=False,
        model_init_kwargs={"dtype": dtype},
        per_device_train_batch_size=plan.per_device_train_batch_size,
        gradient_accumulation_steps=plan.gradient_accumulation_steps,
        steps_per_generation=plan.steps_per_generation,
        num_iterations=settings.num_iterations,
        num_generations=plan.num_generations,
        max_completion_length=settings.max_completion_tokens,
        max_tool_calling_iterations=settings.max_tool_calling_iterations,
        temperature=settings.temperature,
        top_p=settings.top_p,
        learning_rate=settings.learning_rate,
        lr_scheduler_type=settings.lr_scheduler_type,
        num_train_epochs=settings.epochs,
        max_steps=settings.max_steps,
        epsilon=settings.epsilon,
        epsilon_high=settings.epsilon_high,
        beta=settings.beta,
        loss_type=settings.loss_type,
        scale_rewards=settings.scale_rewards,
        warmup_steps=settings.warmup_ratio,
        weight_decay=settings.weight_decay,
        max_grad_norm=settings.max_grad_norm,
        activation_checkpointing=settings.checkpointing_for(hardware.device),
        reward_weights=settings.reward_weights,
        seed=job.seed,
        logging_steps=settings.logging_steps,
        save_strategy="steps",
        save_steps=settings.save_steps,
        save_total_limit=settings.save_total_limit,
        report_to=settings.report_to or "none",
        disable_tqdm=True,
        use_vllm=hardware.use_vllm,
        dataloader_num_workers=0,
        **extra,
        **settings.trl,
    )


def peft_config(settings: TrainSettings) -> Any:
    if settings.mode != "lora":
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=settings.lora.r,
        lora_alpha=settings.lora.alpha,
        lora_dropout=settings.lora.dropout,
        target_modules=settings.lora.target_modules,
        task_type="CAUSAL_LM",
    )


def last_checkpoint(out: Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    folder = out / CHECKPOINTS
    return get_last_checkpoint(str(folder)) if folder.is_dir() else None


def _heldout_before(job: TrainJob, trainer: Any, tokenizer: Any, heldout: ExampleSet | EpisodeData,
                    resuming: bool) -> HeldoutResult | None:
    """Measured once, before the first step; kept in a file so a resumed run reports it too."""
    path = job.out / "heldout_before.json"
    if path.is_file():
        return HeldoutResult.model_validate_json(path.read_text(encoding="utf-8"))
    if not job.settings.evaluate_before or resuming:
        return None
    if isinstance(heldout, EpisodeData):
        result = episode_heldout(trainer.model, tokenizer, heldout.heldout, job.settings, job.out, label="before",
                                 partner=heldout.partner)
    else:
        result = heldout_accuracy(
            trainer.model,
            tokenizer,
            heldout.examples,
            max_new_tokens=job.settings.max_completion_tokens,
            batch_size=job.settings.eval_batch_size,
        )
    from looptool.jsonl import write_json_atomic

    write_json_atomic(path, result.model_dump(mode="json"))
    return result


def _prepared(data: PreparedData | None) -> PreparedData:
    if data is None:
        raise AssertionError("single-step data was not prepared")
    return data


def _heldout_after(job: TrainJob, trainer: Any, tokenizer: Any, backend: str, final_model: str | None,
                   heldout: ExampleSet | EpisodeData) -> HeldoutResult:
    """Held-out accuracy (or episode success) of the trained model. With vLLM one server is
    started by the main process; the other processes report nothing."""
    settings = job.settings
    if backend == "vllm" and not trainer.is_world_process_zero():
        return HeldoutResult()
    if isinstance(heldout, EpisodeData):
        if backend == "vllm":
            return vllm_episode_heldout(Path(str(final_model)), tokenizer, heldout.heldout, settings, job.serve,
                                        job.out, partner=heldout.partner)
        return episode_heldout(trainer.model, tokenizer, heldout.heldout, settings, job.out, label="after",
                               partner=heldout.partner)
    if backend == "vllm":
        return vllm_heldout_accuracy(Path(str(final_model)), tokenizer, heldout.examples, serve=job.serve,
                                     max_new_tokens=settings.max_completion_tokens, out=job.out)
    return heldout_accuracy(trainer.model, tokenizer, heldout.examples, max_new_tokens=settings.max_completion_tokens,
                            batch_size=settings.eval_batch_size)


def _save_final(job: TrainJob, trainer: Any, tokenizer: Any, processes: int) -> tuple[str | None, str | None]:
    """``<out>/model`` (full weights; LoRA merged) and ``<out>/adapter`` for LoRA.

    ``trainer.save_model`` gathers ZeRO-3 shards and writes on the main process only; every
    process must call it.
    """
    if not job.settings.save_final_model:
        return None, None
    model_dir = job.out / "model"
    if job.settings.mode != "lora":
        trainer.save_model(str(model_dir))
        return str(model_dir), None
    adapter_dir = job.out / "adapter"
    trainer.save_model(str(adapter_dir))
    if processes > 1:
        log.warning("LoRA adapter saved to %s; merge it into the base model offline (multi-process run)", adapter_dir)
        return None, str(adapter_dir)
    merged = trainer.model.merge_and_unload()
    merged.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    return str(model_dir), str(adapter_dir)


def heldout_backend(job: TrainJob, final_model: str | None) -> str:
    """``vllm`` or ``transformers`` for the held-out decoding after training.

    ``auto`` takes vLLM when its environment is installed, a ``serve`` section was given and a
    full model folder was written (a multi-process LoRA run leaves only an adapter)."""
    wanted = job.settings.heldout_backend
    if wanted == "transformers":
        return wanted
    problem = None
    if job.serve is None:
        problem = "no serve settings were given"
    elif final_model is None:
        problem = "no full model folder was written (train.save_final_model, or a multi-process LoRA run)"
    else:
        from looptool.serve import VllmError, resolve_device, vllm_python

        try:
            vllm_python(resolve_device(job.serve.device))
        except VllmError as error:
            problem = str(error)
    if problem is None:
        return "vllm"
    if wanted == "vllm":
        raise UserError(f"train.heldout_backend is vllm but {problem}")
    log.info("held-out decoding with transformers: %s", problem)
    return "transformers"


def run_training(job: TrainJob) -> TrainReport:
    """Train (or resume, or return the finished run's report); see the module docstring."""
    started = time.perf_counter()
    settings = job.settings
    phases = PhasePeaks()  # the report's peaks are this training's, not the whole process's (the loop)
    phases.begin("load")
    quiet_libraries()
    run = RunDir(job.out)
    report_path = job.out / REPORT_NAME
    if run.is_done(STAGE) and report_path.is_file():
        log.info("%s already finished; its report is %s (use a new --out to train again)", job.out, report_path)
        return TrainReport.model_validate_json(report_path.read_text(encoding="utf-8"))

    try:
        reward_funcs = get_rewards(settings.rewards)
    except UnknownRewardError as error:
        raise UserError(f"train.rewards: {error}") from None
    # bad data fails before the (slow) model resolution
    check_data_kind(job.data, settings)
    episode_mode = settings.sample_kind == "episode"
    if episode_mode:
        episode_files = (load_training_episodes(job.data),
                         load_training_episodes(job.heldout_data) if job.heldout_data is not None else None)
        samples, heldout = [], None
    else:
        samples = load_samples(job.data, invalid_labels=settings.invalid_labels)
        heldout = (load_samples(job.heldout_data, invalid_labels=settings.invalid_labels)
                   if job.heldout_data is not None else None)
    model_path = resolve_model_path(job.model)
    hardware = choose_hardware(settings)
    tokenizer = load_tokenizer(model_path)
    episodes = (prepare_episode_data(job.data, *episode_files, tokenizer, settings, job.seed,
                                     partner=episode_partner(job.settings, job.user_partner))
                if episode_mode else None)
    data = prepare_data(job, samples, heldout, tokenizer) if episodes is None else None
    train_rows = data.train.rows() if data is not None else episodes.train.dicts() if episodes else []
    heldout_count = len(data.heldout.examples) if data is not None else len(episodes.heldout) if episodes else 0
    plan = plan_batches(
        prompts_per_step=settings.prompts_per_step,
        num_generations=settings.num_generations,
        micro_batch_size=settings.micro_batch_for(hardware.device),
        processes=hardware.processes,
        train_prompts=len(train_rows),
        updates_per_generation=settings.updates_per_generation,
    )
    args = grpo_config(job, plan, hardware)  # a value TRL refuses fails here, before the model loads
    log.info(
        "GRPO on %s (%s, %s): %d train / %d held-out %s, %d prompts x %d rollouts per step, "
        "micro-batch %d x %d accumulation, %d update(s) per rollout batch, bf16=%s, vLLM=%s",
        model_path,
        model_type(model_path),
        settings.mode,
        len(train_rows),
        heldout_count,
        "episodes" if episode_mode else "prompts",
        plan.prompts_per_step,
        plan.num_generations,
        plan.per_device_train_batch_size,
        plan.gradient_accumulation_steps,
        plan.updates_per_generation,
        hardware.bf16,
        hardware.use_vllm,
    )

    from datasets import Dataset
    from transformers import PrinterCallback
    from trl import GRPOTrainer

    dataset = Dataset.from_list(train_rows)
    resume = last_checkpoint(job.out)
    stopper = StopOnSignal()
    trim = [TrimFreedMemory()] if hardware.device == "cpu" and settings.cpu_trim_memory else []
    counter = TokenCounter()
    progress = RichProgressCallback(list(settings.rewards))
    environments: Any = dict(episodes.environments) if episodes is not None else None
    trainer = GRPOTrainer(
        model=str(model_path),
        reward_funcs=list[Any](reward_funcs),
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft_config(settings),
        callbacks=[progress, counter, stopper, *trim, *job.callbacks],
        environment_factory=environments,
    )
    trainer.remove_callback(PrinterCallback)  # the rich bar and the run log replace printed dicts
    if episodes is not None:
        attach_environments(trainer, episodes)
    heldout_set: ExampleSet | EpisodeData = episodes if episodes is not None else _prepared(data).heldout
    phases.begin("heldout_before")
    before = _heldout_before(job, trainer, tokenizer, heldout_set, resuming=resume is not None)
    if resume:
        log.info("resuming from %s", resume)
    phases.begin("train")
    stopper.install()
    try:
        trainer.train(resume_from_checkpoint=resume)
    finally:
        stopper.uninstall()
        progress.close()
    state = trainer.state
    if stopper.requested:
        saved = last_checkpoint(job.out)
        raise TrainingInterrupted(
            f"training stopped at step {state.global_step}; checkpoint {saved}; "
            "run the same command again to resume"
        )

    phases.begin("save")
    final_model, adapter = _save_final(job, trainer, tokenizer, hardware.processes)
    phases.begin("heldout_after")
    backend = heldout_backend(job, final_model)
    after = _heldout_after(job, trainer, tokenizer, backend, final_model, heldout_set)
    phases.end()
    memory, memory_kind = peak_memory(phases)
    steps_here = state.global_step - counter.start_step
    tokens_here = int(state.num_input_tokens_seen or 0) - counter.start_tokens
    report = TrainReport(
        model=job.model,
        model_path=str(model_path),
        mode=settings.mode,
        device=hardware.device,
        bf16=hardware.bf16,
        use_vllm=hardware.use_vllm,
        steps=state.global_step,
        epochs=float(state.epoch or 0.0),
        resumed_from=resume,
        data=data_counts(data, episodes),
        batch={
            "prompts_per_step": plan.prompts_per_step,
            "num_generations": plan.num_generations,
            "generation_batch_size": plan.generation_batch_size,
            "per_device_train_batch_size": plan.per_device_train_batch_size,
            "gradient_accumulation_steps": plan.gradient_accumulation_steps,
            "updates_per_generation": plan.updates_per_generation,
            "steps_per_generation": plan.steps_per_generation,
            "num_iterations": settings.num_iterations,
            "gradient_checkpointing": settings.checkpointing_for(hardware.device),
            "processes": plan.processes,
        },
        settings=settings.model_dump(mode="json"),
        reward_curve=reward_curve(state.log_history, list(settings.rewards)),
        heldout_before=before,
        heldout_after=after,
        heldout_backend=backend,
        wall_time_s=time.perf_counter() - started,
        train_time_s=counter.seconds,
        seconds_per_step=counter.seconds / steps_here if steps_here else None,
        tokens_seen=int(state.num_input_tokens_seen or 0),
        tokens_per_s=tokens_here / counter.seconds if counter.seconds else None,
        peak_memory_bytes=memory,
        peak_memory_kind=memory_kind,
        peak_rss_by_phase=dict(phases.bytes),
        final_model=final_model,
        adapter=adapter,
        checkpoints=sorted(str(path) for path in (job.out / CHECKPOINTS).glob("checkpoint-*")),
        notes=[*plan.notes, *hardware.notes],
    )
    if not trainer.is_world_process_zero():
        return report
    path = report.write(job.out)
    run.mark_done(STAGE, {"steps": report.steps, "report": str(path)})
    log.info(
        "trained %d steps in %.1f s; held-out ToolMatch %s; report %s",
        report.steps,
        report.train_time_s,
        "n/a" if after.accuracy is None else f"{after.accuracy:.3f}",
        path,
        extra={"data": {"report": json.loads(report.model_dump_json(include={"steps", "train_time_s"}))}},
    )
    return report
