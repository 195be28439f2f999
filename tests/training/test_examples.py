"""Sample -> GRPO example conversion, truncation, and labels fed back as completions."""

from __future__ import annotations

from typing import Any

import pytest

from looptool.graphs.validation.samples import dialogue_samples
from looptool.prompts import chat_messages
from looptool.schema import Dialogue, Message, Role, Sample, ToolCall
from looptool.training.examples import build_example, build_examples, decode_label_calls
from looptool.training.rewards import tool_match, tool_match_shaped

from .conftest import TIME, WEATHER, make_samples


class WordTokenizer:
    """A stand-in chat tokenizer: one token per whitespace-separated word."""

    def apply_chat_template(self, conversation: list[dict[str, Any]], **kwargs: Any) -> dict[str, list[int]]:
        words = sum(len(message["content"].split()) + 2 for message in conversation)
        return {"input_ids": list(range(words))}


def long_dialogue() -> Sample:
    filler = " ".join(["word"] * 50)
    return Sample(
        id="long",
        tools=[WEATHER, TIME],
        context=[
            Message(role=Role.SYSTEM, content="Be brief."),
            Message(role=Role.USER, content=f"old question {filler}"),
            Message(role=Role.ASSISTANT, tool_calls=[ToolCall(name="get_time", arguments={"city": "Oslo"})]),
            Message(role=Role.TOOL, name="get_time", content=f"12:00 {filler}"),
            Message(role=Role.ASSISTANT, content=f"It is noon. {filler}"),
            Message(role=Role.USER, content=f"second question {filler}"),
            Message(role=Role.ASSISTANT, content=f"answer {filler}"),
            Message(role=Role.USER, content="And the weather in Oslo?"),
        ],
        label_calls=[ToolCall(name="get_weather", arguments={"city": "Oslo"})],
    )


def test_prompt_is_the_shared_tool_prompt() -> None:
    sample = make_samples()[0]
    example = build_example(sample, None, max_prompt_tokens=10_000)
    assert example.prompt == chat_messages(sample.tools, sample.context)
    assert '"get_weather"' in example.prompt[0]["content"]
    row = example.to_row()
    assert row["label_kind"] == "calls"
    assert decode_label_calls(row["label_calls"]) == sample.label_calls
    assert row["sample_id"] == sample.id


def test_a_dialogues_system_message_and_date_reach_the_training_prompt() -> None:
    system = Message(role=Role.SYSTEM, content="You are the travel desk of ACME.")
    dialogue = Dialogue(id="d-1", tools=[WEATHER], metadata={"now": "2024-07-14 06:00 (Sunday)"}, messages=[
        system, Message(role=Role.USER, content="Weather in Oslo tomorrow?"),
        Message(role=Role.ASSISTANT, tool_calls=[ToolCall(name="get_weather", arguments={"city": "Oslo"})])])
    sample = dialogue_samples(dialogue)[0]
    assert sample.context[0] == system and sample.now == "2024-07-14 06:00 (Sunday)"
    prompt = build_example(sample, WordTokenizer(), max_prompt_tokens=10_000).prompt
    assert [message["role"] for message in prompt] == ["system", "user"]
    head = prompt[0]["content"]
    assert head.startswith("You are the travel desk of ACME.\n\nCurrent date and time: 2024-07-14 06:00 (Sunday)")
    assert '"get_weather"' in head
    assert "Current date and time" not in chat_messages(sample.tools, sample.context)[0]["content"]


def test_preamble_goes_before_the_tools() -> None:
    sample = make_samples()[0]
    example = build_example(sample, None, max_prompt_tokens=10_000, preamble="Example: ...")
    assert example.prompt[0]["content"].startswith("Example: ...")


def test_truncation_drops_oldest_turns_and_keeps_tools_and_last_user_turn() -> None:
    tokenizer = WordTokenizer()
    sample = long_dialogue()
    full = build_example(sample, tokenizer, max_prompt_tokens=100_000)
    assert not full.truncated
    limit = full.prompt_tokens - 60  # forces dropping the first turn only
    cut = build_example(sample, tokenizer, max_prompt_tokens=limit)
    assert cut.truncated and not cut.over_limit
    assert cut.dropped_messages == 4  # user + assistant call + tool result + assistant reply
    assert cut.prompt_tokens <= limit
    contents = [message["content"] for message in cut.prompt]
    assert "Be brief." in contents[0] and '"get_weather"' in contents[0]
    assert contents[1].startswith("second question")
    assert contents[-1] == "And the weather in Oslo?"


def test_prompt_that_cannot_fit_is_dropped_and_counted() -> None:
    tokenizer = WordTokenizer()
    long = build_example(long_dialogue(), tokenizer, max_prompt_tokens=20)
    assert long.over_limit and long.truncated
    assert [m["content"] for m in long.prompt][1:] == ["And the weather in Oslo?"]
    examples = build_examples([long_dialogue(), make_samples()[0]], tokenizer, max_prompt_tokens=20)
    assert examples.examples == []  # the short sample's tool prompt alone is over 20 words too
    assert examples.over_limit == 2 and examples.dropped == [long.sample_id, make_samples()[0].id]


@pytest.mark.parametrize("reward", [tool_match, tool_match_shaped])
def test_labels_fed_as_completions_get_reward_one(reward) -> None:
    """A model that always answers with the label earns 1 on every sample (calls and text)."""
    examples = build_examples(make_samples(9), None, max_prompt_tokens=10_000)
    rows = examples.rows()
    assert {row["label_kind"] for row in rows} == {"calls", "text"}
    columns = {key: [row[key] for row in rows] for key in rows[0] if key != "prompt"}
    completions = [[{"role": "assistant", "content": e.label_completion()}] for e in examples.examples]
    assert reward(completions=completions, prompts=[row["prompt"] for row in rows], **columns) == [1.0] * len(rows)
    # and a shifted label (each prompt answered with its neighbour's label) does not
    shifted = completions[1:] + completions[:1]
    assert reward(completions=shifted, **columns) != [1.0] * len(rows)
