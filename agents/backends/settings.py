"""The ``tools`` config section: how dialogues run their tools.

.. code-block:: yaml

    tools:
      executable_backends: true   # run a tool on a registered backend when one fits
      simulator:
        role: generator           # the model role that simulates every other tool
        history_window: 20        # earlier calls shown to the simulator
        reuse_identical_calls: true
        max_attempts: 2           # tries per call before the call fails with the reason
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from looptool.config import register_section


class SimulatorSettings(BaseModel):
    """The LLM-simulated backend."""

    model_config = ConfigDict(extra="forbid")

    role: str = Field(default="generator", description="model role under `roles` that simulates tools")
    history_window: int = Field(default=20, ge=0, description="earlier calls shown in the prompt")
    reuse_identical_calls: bool = Field(
        default=True,
        description="repeat the earlier result of an identical call while no call changed state",
    )
    max_attempts: int = Field(default=2, ge=1, le=5, description="tries per call")
    max_summary_chars: int = Field(default=2000, ge=200, description="cap on the state summary")


class ToolsSettings(BaseModel):
    """The ``tools`` section."""

    model_config = ConfigDict(extra="forbid")

    executable_backends: bool = Field(
        default=True, description="run tools on registered executable backends when they fit"
    )
    simulator: SimulatorSettings = Field(default_factory=SimulatorSettings)


register_section("tools", ToolsSettings)
