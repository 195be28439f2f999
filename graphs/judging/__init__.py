"""JGLV: judge probe mismatches (is the prediction or the label wrong?). See docs/loop_agents.md."""

from looptool.agents.label_judge import AnswerOrder, Prediction, Verdict
from looptool.graphs.judging.context import JudgingContext, PanelJudge, build_panel
from looptool.graphs.judging.evidence import ExecutionEvidence, gather_evidence
from looptool.graphs.judging.panel import JudgeVote, count_votes
from looptool.graphs.judging.run import judge_mismatch
from looptool.graphs.judging.settings import JglvSettings, PanelSeat
from looptool.graphs.judging.state import LabelVerdict

__all__ = [
    "AnswerOrder",
    "ExecutionEvidence",
    "JglvSettings",
    "JudgeVote",
    "JudgingContext",
    "LabelVerdict",
    "PanelJudge",
    "PanelSeat",
    "Prediction",
    "Verdict",
    "build_panel",
    "count_votes",
    "gather_evidence",
    "judge_mismatch",
]
