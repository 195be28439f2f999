"""``looptool eval``, ``looptool sweep`` and ``looptool rescore``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from looptool.benchmarks.base import (
    EndpointError,
    EndpointMode,
    ModelEndpoint,
    benchmark_names,
    leaderboard_sampling,
)
from looptool.benchmarks.runner.engine import (
    CellPlan,
    CellResult,
    EvalAborted,
    all_finished,
    failed_results,
    plan_cells,
    rescore,
    run_plans,
)
from looptool.benchmarks.runner.lock import RunFolderLock
from looptool.benchmarks.runner.report import cell_reports, print_tables, write_results
from looptool.benchmarks.runner.seeds import seed_statistics, seed_table, seeded_endpoints
from looptool.benchmarks.runner.settings import CheckpointSpec, EvalSettings
from looptool.commands import add_config_arguments, config_from_args
from looptool.config import LoopToolConfig
from looptool.errors import UserError
from looptool.jsonl import write_json_atomic
from looptool.logs import console, setup_logging
from looptool.rundir import RunDir

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    modes = [mode.value for mode in EndpointMode]

    evaluate = subparsers.add_parser(
        "eval",
        help="evaluate one model endpoint on benchmarks (resumable with --out)",
        description="Evaluate one OpenAI-compatible endpoint. Rerun with the same --out to resume.",
    )
    add_config_arguments(evaluate)
    evaluate.add_argument(
        "--benchmark", "-b", action="append", help="benchmark name (repeatable; default: eval.benchmarks, i.e. bfcl_v3)"
    )
    evaluate.add_argument(
        "--categories", "-k", nargs="+", metavar="CATEGORY",
        help="categories or aliases; with several benchmarks write BENCHMARK:CATEGORY",
    )
    evaluate.add_argument("--limit", type=int, help="at most N entries per category (default: eval.limit, i.e. all)")
    evaluate.add_argument(
        "--mode", choices=modes,
        help="how tools are offered and calls decoded (default: eval.models[0].mode, else prompt_python: BFCL's "
        "prompt handler; function_calling follows BFCL's Qwen FC handler; prompt_hermes is the training format, "
        "not a leaderboard configuration)",
    )
    evaluate.add_argument(
        "--base-url", help="OpenAI-compatible /v1 URL (default: eval.models[0].base_url, else http://127.0.0.1:8765/v1)"
    )
    evaluate.add_argument("--model", help="served model name (default: eval.models[0].model, else smollm2)")
    evaluate.add_argument("--label", help="name of the model in reports (default: the model name)")
    evaluate.add_argument("--api-key", help="API key (default: eval.models[0].api_key, else EMPTY)")
    evaluate.add_argument("--concurrency", type=int, help="requests in flight (default: eval.models[0].concurrency, else 8)")
    evaluate.add_argument(
        "--max-tokens", type=int,
        help="completion token limit per request (default: eval.models[0].sampling.max_tokens, else 4096 as BFCL; "
        "a server that refuses more than its context leaves is asked again with what fits)",
    )
    evaluate.set_defaults(handler=_eval_command)

    sweep = subparsers.add_parser(
        "sweep",
        help="evaluate models x checkpoints x benchmarks from a config (resumable with --out)",
        description="Evaluate every eval.models endpoint and every eval.checkpoints folder (served "
        "one at a time with vLLM) on every eval.benchmarks benchmark. Rerun with the same --out to resume.",
    )
    add_config_arguments(sweep)
    sweep.add_argument("--limit", type=int, help="at most N entries per category (default: eval.limit, i.e. all)")
    sweep.add_argument(
        "--seeds", type=int, default=1, metavar="N",
        help="run every sampling cell (temperature > 0) N times with seeds seed..seed+N-1 and report mean and "
        "spread (default: 1; greedy cells always run once)",
    )
    sweep.set_defaults(handler=_sweep_command)

    again = subparsers.add_parser(
        "rescore",
        help="re-score a finished or partial eval/sweep folder from its stored outputs",
        description="Recompute every cell's scores, summary and the run's reports (results.json, results.csv, "
        "chart.png) from the stored outputs.jsonl only: no model is queried, so it works with the servers "
        "gone, e.g. after a scorer change. Cells keep the settings they were produced with.",
    )
    again.add_argument("run_dir", help="the eval/sweep run folder")
    again.add_argument("--no-chart", action="store_true", help="skip chart.png (default: draw it)")
    again.set_defaults(handler=_rescore_command)

    listing = subparsers.add_parser("benchmarks", help="list benchmarks and their categories")
    listing.set_defaults(handler=_list_command)


# ---------------------------------------------------------------- helpers


def _settings(config: LoopToolConfig) -> EvalSettings:
    return config.section("eval", EvalSettings)


def _split_categories(items: Sequence[str], benchmarks: Sequence[str]) -> dict[str, list[str]]:
    chosen: dict[str, list[str]] = {}
    for item in items:
        benchmark, _, name = item.rpartition(":")
        if not benchmark:
            if len(benchmarks) != 1:
                raise UserError(f"category {item!r} is ambiguous with several benchmarks; write BENCHMARK:{item}")
            benchmark = benchmarks[0]
        if benchmark not in benchmarks:
            raise UserError(f"category {item!r} names benchmark {benchmark!r}, which is not selected ({', '.join(benchmarks)})")
        chosen.setdefault(benchmark, []).append(name)
    return chosen


def _endpoint_from_args(args: argparse.Namespace, settings: EvalSettings) -> ModelEndpoint:
    # without a configured model: BFCL's published prompt handler and BFCL's token budget
    base = settings.models[0] if settings.models else ModelEndpoint(
        mode=EndpointMode.PROMPT_PYTHON, sampling=leaderboard_sampling()
    )
    update: dict[str, object] = {}
    for option, key in (("base_url", "base_url"), ("model", "model"), ("label", "label"),
                        ("api_key", "api_key"), ("concurrency", "concurrency")):
        value = getattr(args, option)
        if value is not None:
            update[key] = value
    if args.mode:
        update["mode"] = EndpointMode(args.mode)
    if args.max_tokens is not None:
        update["sampling"] = base.sampling.model_copy(update={"max_tokens": args.max_tokens})
    return ModelEndpoint.model_validate({**base.model_dump(), **update})


def _finish(run_dir: Path, results: list[CellResult], chart: bool) -> int:
    reports = cell_reports(results)
    print_tables(reports)
    paths = write_results(run_dir, reports, chart=chart)
    repeated = seed_statistics(reports)
    if repeated:
        console.print(seed_table(repeated))
        paths.append(run_dir / "seeds.json")
        write_json_atomic(paths[-1], [item.model_dump(mode="json") for item in repeated])
    log.info("results: %s", ", ".join(str(path) for path in paths))
    failed = [result for result in results if result.errors and not result.manifest.complete]
    for result in failed:
        endpoint = result.plan.endpoint
        if result.plan.checkpoint is not None:
            fix = (f"see the server log {run_dir}/vllm-*.log for checkpoint {endpoint.display_name!r} "
                   "(folder, serve section: device, max_model_len, kv_cache_gib)")
        else:
            fix = (f"make {endpoint.base_url} serve model {endpoint.model!r} (start the server, or correct "
                   "base_url/model in eval.models)")
        log.error(
            "FAILED %s [%s] / %s: %s -- fix: %s, then rerun with --out %s (stored outputs are kept)",
            endpoint.display_name, endpoint.mode.value, result.plan.benchmark, result.errors[0][:300], fix, run_dir,
        )
    incomplete = [f"{r.model} [{r.mode}] / {r.benchmark}" for r in reports if not r.complete]
    if incomplete:
        log.warning("incomplete cells (rerun with --out %s to retry): %s", run_dir, "; ".join(incomplete))
        return 1
    return 0


def _run(plans: list[CellPlan], run_dir: Path, *, keep_going: bool = False) -> list[CellResult]:
    try:
        return asyncio.run(run_plans(plans, run_dir, keep_going=keep_going))
    except (EndpointError, EvalAborted) as error:
        raise UserError(f"{error} (outputs stored so far are kept; rerun with --out {run_dir} to resume)") from None


@contextmanager
def _run_folder(args: argparse.Namespace, config: LoopToolConfig) -> Iterator[RunDir]:
    """The run folder, created only after the recipe validated, locked while the run writes it."""
    out = Path(args.out) if args.out else Path(config.run.root) / f"{config.run.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    with RunFolderLock(out):
        run = RunDir.create(config, out)
        setup_logging(config.run.log_level, run.log_file)
        log.info("run folder %s", run.path, extra={"data": {"run_dir": str(run.path)}})
        yield run


# ---------------------------------------------------------------- commands


def _eval_command(args: argparse.Namespace) -> int:
    config = config_from_args(args, run_name="eval")
    settings = _settings(config)
    update: dict[str, object] = {}
    if args.benchmark:
        update["benchmarks"] = args.benchmark
    benchmarks = list(args.benchmark or settings.benchmarks)
    if args.categories:
        update["categories"] = _split_categories(args.categories, benchmarks)
    if args.limit is not None:
        update["limit"] = args.limit
    settings = settings.model_copy(update=update)
    endpoint = _endpoint_from_args(args, settings)
    plans = plan_cells(settings, [endpoint])  # every problem is reported before a folder is made
    with _run_folder(args, config) as run:
        return _finish(run.path, _run(plans, run.path), settings.chart)


def _checkpoint_settings(settings: EvalSettings, checkpoint: CheckpointSpec, mode: EndpointMode) -> EvalSettings:
    names = checkpoint.benchmarks_for(mode, settings.benchmarks)
    categories = {name: value for name, value in settings.categories.items() if name in names}
    return settings.model_copy(update={"benchmarks": names, "categories": categories})


def _validate_checkpoint(settings: EvalSettings, checkpoint: CheckpointSpec) -> None:
    for mode, names in checkpoint.mode_benchmarks.items():
        unknown = [name for name in names if name not in settings.benchmarks]
        if unknown:
            raise UserError(
                f"checkpoint {checkpoint.label!r}: mode_benchmarks.{mode.value} names {unknown}, "
                f"which are not in eval.benchmarks {settings.benchmarks}"
            )
    if checkpoint.path != "embedded" and not Path(checkpoint.path).is_dir():
        raise UserError(f"checkpoint {checkpoint.label!r}: folder {checkpoint.path} does not exist")
    for mode in checkpoint.modes:
        plan_cells(_checkpoint_settings(settings, checkpoint, mode), [])


def _sweep_command(args: argparse.Namespace) -> int:
    config = config_from_args(args, run_name="sweep")
    settings = _settings(config)
    if args.limit is not None:
        settings = settings.model_copy(update={"limit": args.limit})
    if not settings.models and not settings.checkpoints:
        raise UserError("the sweep has nothing to evaluate: set eval.models and/or eval.checkpoints")
    if args.seeds < 1:
        raise UserError(f"--seeds must be at least 1, not {args.seeds}")
    models = [seeded for endpoint in settings.models for seeded in seeded_endpoints(endpoint, args.seeds)]
    model_plans = plan_cells(settings, models)  # every problem is reported before a folder is made
    for checkpoint in settings.checkpoints:
        _validate_checkpoint(settings, checkpoint)
    with _run_folder(args, config) as run:
        results: list[CellResult] = []
        if model_plans:
            results.extend(_run(model_plans, run.path, keep_going=True))
        for checkpoint in settings.checkpoints:
            results.extend(_sweep_checkpoint(checkpoint, settings, config, run.path, args.seeds))
        return _finish(run.path, results, settings.chart)


def _sweep_checkpoint(
    checkpoint: CheckpointSpec, settings: EvalSettings, config: LoopToolConfig, run_dir: Path, seeds: int = 1
) -> list[CellResult]:
    """Serve one checkpoint and run its cells; a server that does not start fails only them."""
    from looptool.serve import VllmError

    def endpoint(mode: EndpointMode, base_url: str) -> ModelEndpoint:
        return ModelEndpoint(
            label=checkpoint.label, base_url=base_url, model=config.model.served_name, mode=mode,
            sampling=checkpoint.sampling, concurrency=checkpoint.concurrency, timeout_s=checkpoint.timeout_s,
        )

    results: list[CellResult] = []
    unserved = [
        plan for mode in checkpoint.modes
        for plan in plan_cells(_checkpoint_settings(settings, checkpoint, mode),
                               seeded_endpoints(endpoint(mode, "http://not-served"), seeds), checkpoint=checkpoint.path)
    ]
    if all_finished(unserved, run_dir):  # a rerun of a finished checkpoint starts no server
        log.info("checkpoint %s: every cell finished earlier, not served", checkpoint.label)
        return _run(unserved, run_dir, keep_going=True)
    try:
        with _served(checkpoint, config, run_dir) as base_url:
            for mode in checkpoint.modes:
                plans = plan_cells(_checkpoint_settings(settings, checkpoint, mode),
                                   seeded_endpoints(endpoint(mode, base_url), seeds), checkpoint=checkpoint.path)
                results.extend(_run(plans, run_dir, keep_going=True))
    except VllmError as error:
        log.error("checkpoint %s could not be served: %s", checkpoint.label, error)
        results.extend(failed_results(unserved, run_dir, f"the checkpoint could not be served: {error}"))
    return results


@contextmanager
def _served(checkpoint: CheckpointSpec, config: LoopToolConfig, run_dir: Path) -> Iterator[str]:
    """Serve ``checkpoint`` with :class:`looptool.serve.VllmServer` (``serve`` section settings,
    a free port, the log in the run folder); yields its /v1 URL and stops it afterwards."""
    from looptool.serve import VllmServer, free_port

    path = checkpoint.path
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in checkpoint.label)
    server = VllmServer.from_settings(
        config.serve,
        model_path=path,
        served_name=config.model.served_name,
        log_path=run_dir / f"vllm-{safe}.log",
        port=free_port(config.serve.host if config.serve.host not in ("0.0.0.0", "") else "127.0.0.1"),
    )
    log.info("serving checkpoint %s (%s) on %s", checkpoint.label, path, server.base_url)
    try:
        server.start()  # a VllmError fails this checkpoint's cells only (see _sweep_checkpoint)
    except BaseException:
        server.stop()
        raise
    try:
        yield server.base_url
    finally:
        server.stop()


def _rescore_command(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise UserError(f"run folder {run_dir} does not exist")
    with RunFolderLock(run_dir):
        setup_logging(logging.getLevelName(logging.getLogger().level), run_dir / "log.jsonl")
        results = rescore(run_dir)
        return _finish(run_dir, results, not args.no_chart)


def _list_command(args: argparse.Namespace) -> int:
    from looptool.benchmarks.base import get_benchmark_class

    for name in benchmark_names():
        cls = get_benchmark_class(name)
        benchmark = cls()
        try:
            console.print(f"[bold]{name}[/bold] (v{cls.version}): {', '.join(benchmark.categories())}")
            aliases = benchmark.category_aliases()
            if aliases:
                console.print(f"  aliases: {', '.join(sorted(aliases))}")
        finally:
            benchmark.close()
    return 0
