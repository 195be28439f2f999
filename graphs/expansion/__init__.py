"""EDDE: expand a policy's real errors into new hard samples. See docs/loop_agents.md."""

from looptool.agents.expander import ErrorSeed, GeneratedSample
from looptool.graphs.expansion.checks import RejectedSample
from looptool.graphs.expansion.context import ExpansionContext
from looptool.graphs.expansion.run import expand_error_seed
from looptool.graphs.expansion.settings import EddeSettings
from looptool.graphs.expansion.state import ExpansionResult
from looptool.graphs.expansion.validator import RulesValidator, SampleValidator, Validation

__all__ = [
    "EddeSettings",
    "ErrorSeed",
    "ExpansionContext",
    "ExpansionResult",
    "GeneratedSample",
    "RejectedSample",
    "RulesValidator",
    "SampleValidator",
    "Validation",
    "expand_error_seed",
]
