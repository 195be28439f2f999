"""The loop's seed set D_1: curated templates, imported data sets, the held-out split.

* **Curated** (:mod:`.instantiate`, templates in ``curated/*.yaml``): a few hundred samples
  over the executable backends (calculator, filesystem, calendar) and a shipped library of
  imported tools (``curated/travel_tools.json``), in six categories (single, multiple,
  parallel, missing_params, irrelevance, multi_turn); every label checked by execution.
* **Demonstrations** (:func:`with_demonstrations`): K earlier exchanges from other templates.
* **Slot expansion** (:func:`expand_by_slots`): the cheap EDDE generator for curated seeds.
* **Imported** (:func:`import_openai_jsonl`): OpenAI-messages JSONL, bad lines reported.
* **Split** (:func:`split_heldout`, :func:`dedup_key`, :func:`drop_heldout_duplicates`).
* **Build** (:func:`build_seed_set`): all of it from the ``seed`` config section.
* **Episodes** (:mod:`.episodes`): multi-step tasks checked by end state, curated
  (``curated/episodes.yaml``) and converted from accepted dialogues; see docs/episodes.md.

See docs/seed.md.
"""

from looptool.loop.seed.build import (
    SeedBuildError,
    SeedReport,
    SeedSet,
    SplitCount,
    build_seed_set,
    collect_samples,
)
from looptool.loop.seed.catalog import Catalog, TemplateError, load_catalog
from looptool.loop.seed.demos import with_demonstrations
from looptool.loop.seed.imported import ImportedSamples, ImportProblem, import_openai_jsonl
from looptool.loop.seed.instantiate import (
    CuratedExpansion,
    LabelCheck,
    check_curated_sample,
    expand_curated,
)
from looptool.loop.seed.metadata import (
    CuratedOrigin,
    DemonstrationInfo,
    curated_origin,
    demonstration_info,
)
from looptool.loop.seed.settings import CuratedSource, SeedSettings, SeedSources
from looptool.loop.seed.slot_expansion import (
    NotExpandableError,
    can_expand_by_slots,
    expand_by_slots,
)
from looptool.loop.seed.sources import sample_category, source_item, source_kind
from looptool.loop.seed.split import (
    DedupResult,
    SeedSplit,
    dedup_key,
    drop_heldout_duplicates,
    split_heldout,
)
from looptool.loop.seed.templates import CATEGORIES, Category

__all__ = [
    "CATEGORIES",
    "Catalog",
    "Category",
    "CuratedExpansion",
    "CuratedOrigin",
    "CuratedSource",
    "DedupResult",
    "DemonstrationInfo",
    "ImportProblem",
    "ImportedSamples",
    "LabelCheck",
    "NotExpandableError",
    "SeedBuildError",
    "SeedReport",
    "SeedSet",
    "SeedSettings",
    "SeedSources",
    "SeedSplit",
    "SplitCount",
    "TemplateError",
    "build_seed_set",
    "can_expand_by_slots",
    "check_curated_sample",
    "collect_samples",
    "curated_origin",
    "dedup_key",
    "demonstration_info",
    "drop_heldout_duplicates",
    "expand_by_slots",
    "expand_curated",
    "import_openai_jsonl",
    "load_catalog",
    "sample_category",
    "source_item",
    "source_kind",
    "split_heldout",
    "with_demonstrations",
]
