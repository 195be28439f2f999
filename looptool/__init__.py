"""LoopTool: closed-loop tool-use data evolution and GRPO training."""

__version__ = "0.1.0"
