"""Test doubles for the loop controller (tests only): a scripted policy server and completions
client, scripted judge and generator chat models, and a LoopRunner wired to them. Training is
real (TRL on the tiny random policy); no vLLM server is started.

The scenario is keyed by the word in "Please look up the word <word>":

- ``mastered-*``: the policy answers the label;
- ``pred-wrong``: the policy answers ``other``; the judge says the label is right;
- ``label-wrong``: the label has a typo (``lable-wrong``); the policy answers the user's word;
  the judge says the prediction is right (a relabel);
- ``both-wrong``: label and prediction both miss; the judge says neither.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from looptool.codecs import render_hermes
from looptool.loop.controller import LoopRunner
from looptool.loop.serving import ServedPolicy
from looptool.schema import ToolCall
from tests.fake_models import ModelCall, ScriptedChatModel

WORD = re.compile(r"look up the word ([\w-]+)")
LOOKUP = {
    "name": "lookup",
    "description": "Look a word up in the dictionary.",
    "parameters": {"type": "object", "properties": {"word": {"type": "string"}}, "required": ["word"]},
}
SPECIAL = ("pred-wrong", "label-wrong", "both-wrong")


def seed_line(word: str, label_word: str | None = None) -> dict[str, Any]:
    """One OpenAI-messages line: the user asks for ``word``; the label looks up ``label_word``."""
    call = {"id": "c1", "type": "function",
            "function": {"name": "lookup", "arguments": json.dumps({"word": label_word or word})}}
    return {"tools": [{"type": "function", "function": LOOKUP}],
            "messages": [{"role": "user", "content": f"Please look up the word {word}"},
                         {"role": "assistant", "content": "", "tool_calls": [call]}]}


def write_seed_file(path: Path, fillers: int) -> Path:
    lines = [seed_line("pred-wrong"), seed_line("label-wrong", "lable-wrong"), seed_line("both-wrong", "bath")]
    lines += [seed_line(f"mastered-{index}") for index in range(fillers)]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def policy_answer(word: str) -> str:
    """The scripted policy's greedy answer for the user's word."""
    if word == "pred-wrong" or word == "both-wrong":
        return render_hermes([ToolCall(name="lookup", arguments={"word": "other"})])
    return render_hermes([ToolCall(name="lookup", arguments={"word": word})])


def last_word(text: str) -> str:
    words = WORD.findall(text)
    if not words:
        raise AssertionError(f"no 'look up the word' request in {text[-300:]!r}")
    return words[-1]


@dataclass
class Result:
    text: str
    finish_reason: str = "stop"
    prompt_tokens: int = 10
    completion_tokens: int = 10


@dataclass
class Score:
    perplexity: float


HANG_AT = "LOOPTOOL_TEST_HANG_AT"  # train | probe | judge | expand: block in that stage
HANG_MARKER = "LOOPTOOL_TEST_HANG_MARKER"  # file written when the process blocks
CALL_LOG = "LOOPTOOL_TEST_CALL_LOG"  # every scripted model call, one line each


def record_call(stage: str, item: str) -> None:
    """Log one model call (across processes) and block forever when told to hang here.

    The process blocks at the *second* call of the stage named by ``LOOPTOOL_TEST_HANG_AT``
    (the first is finished and journaled by then), after writing the marker file."""
    log_path = os.environ.get(CALL_LOG)
    if log_path:
        with open(log_path, "a", encoding="utf-8") as stream:
            stream.write(f"{stage}\t{item}\n")
    if os.environ.get(HANG_AT) != stage:
        return
    COUNTS[stage] = COUNTS.get(stage, 0) + 1
    if COUNTS[stage] >= (1 if stage == "train" else 2):
        marker = os.environ.get(HANG_MARKER)
        if marker:
            Path(marker).write_text(stage, encoding="utf-8")
        time.sleep(600)


COUNTS: dict[str, int] = {}


@dataclass
class ScriptedPolicyClient:
    """Decodes the prompt, answers by the scenario; counts completions per word."""

    tokenizer: Any
    stage: str = "probe"
    calls: list[str] = field(default_factory=list)

    async def complete(self, prompt: Any, *, max_tokens: int = 64, temperature: float = 0.0, **extra: Any) -> Result:
        word = last_word(self.tokenizer.decode(prompt))
        self.calls.append(word)
        record_call(self.stage, word)
        return Result(policy_answer(word))

    async def continuation_logprobs(self, context: Any, continuation: Any) -> Score:
        word = last_word(self.tokenizer.decode(context))
        digits = re.findall(r"\d+", word)
        return Score(perplexity=1.0 + (int(digits[0]) if digits else 0) / 10)

    async def aclose(self) -> None:
        return None


class FakePolicyServer:
    """Stands in for PolicyServer: records what would be served."""

    def __init__(self) -> None:
        self.served: list[tuple[str, str | None]] = []
        self.stops = 0

    def __enter__(self) -> FakePolicyServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.stops += 1

    def policy(self, base: str | Path, adapter: str | Path | None = None, *, name: str = "policy") -> ServedPolicy:
        self.served.append((str(base), None if adapter is None else str(adapter)))
        return ServedPolicy(base_url="http://fake/v1", model=name if adapter else "base", base=str(base),
                            adapter=None if adapter is None else str(adapter))


def judge_reply(call: ModelCall) -> str:
    """A label judge that knows the scenario: finds which answer (A/B) is right."""
    prompt = call.text
    word = last_word(prompt.split("Answer A:")[0])
    record_call("judge", word)
    answer_a = prompt.split("Answer A:")[1].split("Answer B:")[0]
    if word == "both-wrong":
        correct = "neither"
    elif word == "pred-wrong":
        correct = "A" if '"pred-wrong"' in answer_a else "B"
    elif word == "label-wrong":
        correct = "A" if '"label-wrong"' in answer_a else "B"
    else:
        correct = "both"
    return json.dumps({"analysis": f"checked the word {word}", "correct": correct})


def generator_reply(heldout_word: Callable[[], str]) -> Callable[[ModelCall], str]:
    """Expansions of the pred-wrong seed: two good, one schema-invalid (local rejection), one
    ungrounded (validation rejection) and one duplicate of a held-out request."""

    def reply(call: ModelCall) -> str:
        record_call("expand", last_word(call.text))

        def entry(user: str, word: Any) -> dict[str, Any]:
            return {"user_message": user, "label_calls": [{"name": "lookup", "arguments": {"word": word}}],
                    "label_text": None}

        held = heldout_word()
        samples = [
            entry("Please look up the word gen-one", "gen-one"),
            entry("Please look up the word gen-two", "gen-two"),
            entry("Please look up the word gen-three", 3),
            entry("Please look up the word gen-four", "unrelated"),
            entry(f"Please look up the word {held}", held),
        ]
        return json.dumps({"samples": samples})

    return reply


class ScriptedLoopRunner(LoopRunner):
    """The controller with scripted models and no server; training stays real."""

    def __init__(self, *args: Any, heldout_word: Callable[[], str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fake_server = FakePolicyServer()
        self.judge_model = ScriptedChatModel(replies=[judge_reply], repeat_last=True)
        self.generator_model = ScriptedChatModel(replies=[generator_reply(heldout_word)], repeat_last=True)
        self.policy_clients: list[ScriptedPolicyClient] = []
        self.trained: list[str] = []

    def open_server(self) -> Any:
        return self.fake_server

    def probe_client(self, served: ServedPolicy) -> Any:
        tokenizer = list(self._tokenizers.values())[-1]
        client = ScriptedPolicyClient(tokenizer, stage="probe" if self.trained_any else "eval")
        self.policy_clients.append(client)
        return client

    def chat_model(self, role: str, **overrides: Any) -> Any:
        return self.judge_model if role == "judge" else self.generator_model

    @property
    def trained_any(self) -> bool:
        return bool(self.trained) or any(self.run.path.glob("loop/iter_*/train.done"))

    def train_policy(self, job: Any) -> Any:
        self.trained.append(str(job.data))
        record_call("train", Path(job.data).parent.name)
        return super().train_policy(job)

    @property
    def probed_words(self) -> list[str]:
        return [word for client in self.policy_clients for word in client.calls]


def heldout_word_of(run: Path) -> Callable[[], str]:
    """The request of the first held-out sample (the generator copies it, to be removed)."""
    from looptool.jsonl import read_jsonl
    from looptool.schema import Sample

    def word() -> str:
        heldout = read_jsonl(run / "seed" / "heldout.jsonl", Sample)
        return last_word(heldout[0].context[-1].content)

    return word


def main(run_dir: str) -> int:
    """Resume the scripted loop in ``run_dir`` (the kill tests run this in a subprocess)."""
    from looptool.config import load_config
    from looptool.rundir import RunDir

    run = Path(run_dir)
    runner = ScriptedLoopRunner(load_config(run / "config.yaml"), RunDir(run), heldout_word=heldout_word_of(run))
    runner.run_all()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
