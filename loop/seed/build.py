"""Build the loop's seed set D_1 from the configured sources, split and de-duplicated.

Order: curated templates (seeded) + imported data sets + the simulated dialogues' samples
(produced by the loop controller with graphs/dialogue and passed in) -> held-out split by
source item -> training samples that repeat a held-out request dropped -> K demonstrations
put before every sample (drawn from the training side only, so no held-out request appears
in any context) -> counts per source and per category for the loop report.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from looptool.jsonl import write_json_atomic, write_jsonl
from looptool.loop.seed.catalog import Catalog, load_catalog
from looptool.loop.seed.demos import count_short_of_demonstrations, with_demonstrations
from looptool.loop.seed.imported import import_openai_jsonl
from looptool.loop.seed.instantiate import expand_curated
from looptool.loop.seed.settings import SeedSettings
from looptool.loop.seed.sources import SOURCE_KINDS, sample_category, source_kind
from looptool.loop.seed.split import drop_heldout_duplicates, split_heldout
from looptool.schema import Sample

log = logging.getLogger(__name__)


class SeedBuildError(ValueError):
    """The seed set cannot be built (missing file, duplicate sample ids, no sample at all)."""


class SplitCount(BaseModel):
    """Samples on each side of the split."""

    model_config = ConfigDict(extra="forbid")

    train: int = 0
    heldout: int = 0


class SeedReport(BaseModel):
    """What the seed set holds, for the loop report (``seed_report.json``)."""

    model_config = ConfigDict(extra="forbid")

    by_source: dict[str, SplitCount] = Field(default_factory=dict)
    by_category: dict[str, SplitCount] = Field(default_factory=dict)
    dropped_heldout_duplicates: int = 0
    short_of_demonstrations: int = Field(
        default=0, description="samples with fewer demonstrations than asked (none eligible)"
    )
    import_problems: list[str] = Field(default_factory=list)
    curated_shortfalls: list[str] = Field(default_factory=list)


class SeedSet(BaseModel):
    """D_1: training samples, the fixed held-out slice, and the report."""

    model_config = ConfigDict(extra="forbid")

    train: list[Sample]
    heldout: list[Sample]
    report: SeedReport

    def write(self, folder: str | Path) -> None:
        """``train.jsonl``, ``heldout.jsonl`` and ``seed_report.json`` (each atomically)."""
        target = Path(folder)
        write_jsonl(target / "train.jsonl", self.train)
        write_jsonl(target / "heldout.jsonl", self.heldout)
        write_json_atomic(target / "seed_report.json", self.report.model_dump(mode="json"))


def _counts(train: Sequence[Sample], heldout: Sequence[Sample], key: str) -> dict[str, SplitCount]:
    label = source_kind if key == "source" else sample_category
    train_counts = Counter(label(sample) for sample in train)
    heldout_counts = Counter(label(sample) for sample in heldout)
    names = sorted(set(train_counts) | set(heldout_counts),
                   key=lambda name: (SOURCE_KINDS.index(name) if name in SOURCE_KINDS else 99, name))
    return {name: SplitCount(train=train_counts[name], heldout=heldout_counts[name]) for name in names}


def collect_samples(
    settings: SeedSettings,
    *,
    dialogue_samples: Sequence[Sample] = (),
    catalog: Catalog | None = None,
    report: SeedReport | None = None,
) -> list[Sample]:
    """Every sample of the configured sources, before the split (problems go to ``report``)."""
    report = report if report is not None else SeedReport()
    sources = settings.sources
    samples: list[Sample] = []
    if sources.curated.enabled:
        catalog = catalog or load_catalog(sources.curated.folder)
        curated = expand_curated(
            catalog, seed=settings.seed, categories=sources.curated.categories,
            tool_sets=sources.curated.tool_sets, instances=sources.curated.instances,
        )
        samples.extend(curated.samples)
        report.curated_shortfalls.extend(curated.shortfalls)
    if sources.imported:
        try:
            imported = import_openai_jsonl(sources.imported)
        except FileNotFoundError as error:
            raise SeedBuildError(f"seed.sources.imported: {error}") from None
        samples.extend(imported.samples)
        report.import_problems.extend(str(problem) for problem in imported.problems)
        for problem in imported.problems:
            log.warning("import: %s", problem)
    samples.extend(dialogue_samples)
    duplicates = sorted(name for name, count in Counter(sample.id for sample in samples).items()
                        if count > 1)
    if duplicates:
        shown = ", ".join(duplicates[:5]) + (" ..." if len(duplicates) > 5 else "")
        raise SeedBuildError(f"{len(duplicates)} sample id(s) occur more than once: {shown}")
    return samples


def build_seed_set(
    settings: SeedSettings,
    *,
    dialogue_samples: Sequence[Sample] = (),
    catalog: Catalog | None = None,
) -> SeedSet:
    """D_1 from ``settings`` (the ``seed`` config section) plus already simulated dialogue
    samples; see the module docstring for the steps."""
    report = SeedReport()
    if catalog is None and settings.sources.curated.enabled:
        catalog = load_catalog(settings.sources.curated.folder)
    samples = collect_samples(settings, dialogue_samples=dialogue_samples, catalog=catalog,
                              report=report)
    if not samples:
        raise SeedBuildError("the seed set is empty: enable curated templates, name imported "
                             "files or pass simulated dialogue samples")
    split = split_heldout(samples, settings.heldout_fraction, settings.seed)
    dedup = drop_heldout_duplicates(split.train, split.heldout)
    rng = random.Random(f"demos:{settings.seed}")
    k = settings.demonstrations
    train = with_demonstrations(dedup.kept, k, rng, pool=dedup.kept, catalog=catalog)
    heldout = with_demonstrations(split.heldout, k, rng, pool=dedup.kept, catalog=catalog)
    report.by_source = _counts(train, heldout, "source")
    report.by_category = _counts(train, heldout, "category")
    report.dropped_heldout_duplicates = len(dedup.dropped)
    report.short_of_demonstrations = count_short_of_demonstrations([*train, *heldout], k)
    log.info("seed set: %d train, %d held out (%d duplicates of held-out requests dropped)",
             len(train), len(heldout), len(dedup.dropped))
    return SeedSet(train=train, heldout=heldout, report=report)
