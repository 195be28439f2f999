"""``prompt_python`` decoding against BFCL's own Qwen prompt handler, text by text.

Each text goes through BFCL's ``QwenHandler`` (think stripping + ``decode_ast``) in the BFCL
environment and through ours (:mod:`looptool.benchmarks.bfcl.decode` for Python, BFCL's
tree-sitter parsers in the worker for Java/JavaScript); both must agree on success and on
every decoded value. Ours never ``eval``s: arithmetic is computed on constants only."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from looptool.benchmarks.base import EvalEntry, ModelReply
from looptool.benchmarks.bfcl import BfclV3
from looptool.benchmarks.bfcl.adapter import ground_truth_calls
from looptool.benchmarks.bfcl.decode import UNNAMED_KEY, decode_prompt_reply, strip_think
from looptool.benchmarks.bfcl.worker_client import find_bfcl_python
from looptool.codecs import render_python

REFERENCE = Path(__file__).with_name("bfcl_handler_reference.py")

PYTHON_TEXTS = [
    "[get_weather(city='Paris')]",
    "<think>\nI should call it.\n</think>\n\n[get_weather(city='Paris', days=3)]",
    "<think>a</think><think>b</think>\n[f(a=1)]",
    "<think>\nunfinished reasoning [f(a=1)]",
    "```python\n[f(a=1), g(b='x')]\n```",
    "f(a=1)",
    "[f(a=1)",
    "f(a=2+3, b=2*3.5, c=10/4, d=7//2, e=2**10, f=7%3, g='ab'+'cd', h='x'*3, i=-2-3)",
    "[f(a=-1, b=+5, c=-1.5, d=-True)]",
    "[f(unit=celsius, flag=true, other=None, n=null)]",
    "[f(a=[1, 2, [3]], b={'k': 1, 2: 'v'}, c=(1, 2), d=...)]",
    "[f(when=datetime.now(), nested=g(x=1), plain=h())]",
    "[f(item=items[0], cell=grid[1][2])]",
    "[math.factorial(number=5), a.b.c(d=1)]",
    "[f(1, 2, a=3)]",
    "[f(**kwargs)]",
    "[f(a=lambda x: x)]",
    "[f(a=x.y)]",
    "[f(a={1, 2})]",
    "[f(a=f'{x}')]",
    "[f(a=1 < 2)]",
    "[f(a=not True)]",
    "[f(a=-x)]",
    "[f(a=1, a=2)]",
    "I cannot help with that.",
    "None of the functions can be used.",
    "[]",
    "",
    "'[f(a=1)]'",
    "[f(a='it''s')]",
    "[f(a=\"line\\nbreak\")]",
    "[f(a=1)] and some text",
    "[1, 2]",
    "[f(a=1), 2]",
    "{f(a=1), g(b=2)}",
    "[f(a=1e3, b=0x1F, c=1_000)]",
    "[f(a=[1, 2] + [3])]",
    "[f(a=2 ** 4000)]",
    "[f(a=1/0)]",
    "[f(a=1j)]",
    "[f(a=b'x')]",
    "[f(a={**d})]",
    "[f(a={'k': g(x=1)})]",
    "[x.f(a=1)(b=2)]",
    "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1}}\n</tool_call>",
]

JAVA_TEXTS = [
    "[Foo.bar(ruleIdx=42, start=5.0, name=\"x\")]",
    "<think>\ntyped literals\n</think>\n\n[Foo.bar(count=10L, ratio=1.5f, flag=true, c='c')]",
    "[Foo.bar(list=new ArrayList<>(Arrays.asList(\"a\", \"b\")), arr=new int[]{1, 2})]",
    "[Foo.bar(obj=new Thing(1, \"two\"), cls=String.class, call=x.y())]",
    "[bar(positional)]",
    "[bar(a=1, a=2)]",
    "[bar(a=)]",
    "not java at all {",
    "[first(a=1), second(b=2)]",
]

JAVASCRIPT_TEXTS = [
    "[foo(a=5, b=\"x\", c=[1,2], d={k: 1})]",
    "<think>js</think>\n[foo(big=10n, s='single', flag=true, f=function() {})]",
    "[foo(a=x.y, b=new Date())]",
    "[foo(positional)]",
    "[foo(a=1, a=2)]",
    "[foo(a=1), bar(b=2)]",
    "}}} garbage",
]


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value))


@pytest.fixture(scope="module")
def corpus(bfcl_entries: dict[str, list[EvalEntry]]) -> list[dict[str, str]]:
    """The hand-written texts plus ground-truth answers of real entries written as a model would."""
    items = [{"text": text, "language": "Python"} for text in PYTHON_TEXTS]
    items += [{"text": text, "language": "Java"} for text in JAVA_TEXTS]
    items += [{"text": text, "language": "JavaScript"} for text in JAVASCRIPT_TEXTS]
    for category in ("simple", "multiple", "parallel", "parallel_multiple", "live_simple", "live_multiple"):
        for entry in bfcl_entries[category][:25]:
            items.append({"text": render_python(ground_truth_calls(entry)), "language": "Python"})
    for category, language in (("java", "Java"), ("javascript", "JavaScript")):
        for entry in bfcl_entries[category][:25]:
            calls = ground_truth_calls(entry)
            text = ", ".join(
                f"{call.name}(" + ", ".join(f"{key}={value}" for key, value in call.arguments.items()) + ")"
                for call in calls
            )
            items.append({"text": f"[{text}]", "language": language})
    return items


@pytest.fixture(scope="module")
def reference(corpus: list[dict[str, str]], tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("bfcl-handler")
    source, target = folder / "in.json", folder / "out.json"
    source.write_text(json.dumps(corpus), encoding="utf-8")
    subprocess.run([str(find_bfcl_python()), str(REFERENCE), str(source), str(target)], check=True, timeout=300)
    return list(json.loads(target.read_text(encoding="utf-8")))


def test_decoding_agrees_with_bfcls_qwen_prompt_handler_on_every_text(
    bfcl: BfclV3, corpus: list[dict[str, str]], reference: list[dict[str, Any]]
) -> None:
    async def ours(item: dict[str, str]) -> ModelReply:
        return await bfcl.decode_prompt(ModelReply(raw=item["text"], text=item["text"]), item["language"])

    replies = asyncio.run(_gather([ours(item) for item in corpus]))
    disagreements = []
    for item, expected, reply in zip(corpus, reference, replies, strict=True):
        decoded = [{call.name: call.arguments} for call in reply.tool_calls]
        if ("error" in expected or not _call_format(expected["calls"])) != (reply.parse_error is not None):
            disagreements.append((item, expected, reply.parse_error, decoded))
        elif reply.parse_error is None and _plain(expected["calls"]) != _plain(decoded):
            disagreements.append((item, expected, decoded))
        elif reply.text != expected["text"]:
            disagreements.append((item, "think stripping", expected["text"], reply.text))
    # the documented difference: BFCL evals `2 ** 4000` (a 1,205-digit int); we refuse powers above 1,024
    documented = [d for d in disagreements if "2 ** 4000" in d[0]["text"] or "1j" in d[0]["text"] or "b'x'" in d[0]["text"]]
    assert [d for d in disagreements if d not in documented] == []
    assert len(documented) == 3  # huge power, complex and bytes literals: JSON cannot hold them / bounded arithmetic
    assert sum("calls" in item for item in reference) > 150  # the corpus mostly decodes: it tests values, not errors


def _call_format(decoded: Any) -> bool:
    """BFCL's ``is_function_calling_format_output``, which its runner applies after decoding
    (its JavaScript parser returns None for a list of several calls: wrong format)."""
    return isinstance(decoded, list) and all(
        isinstance(call, dict) and len(call) == 1 and isinstance(next(iter(call.values())), dict) for call in decoded
    )


async def _gather(jobs: list[Any]) -> list[Any]:
    return list(await asyncio.gather(*jobs))


@pytest.mark.parametrize(
    ("text", "answer", "reasoning"),
    [
        ("<think>\nplan\n</think>\n\n[f(a=1)]", "[f(a=1)]", "plan"),
        ("[f(a=1)]", "[f(a=1)]", ""),
        ("<think>x</think>", "", "x"),
    ],
)
def test_strip_think_keeps_what_follows_the_last_think_block(text: str, answer: str, reasoning: str) -> None:
    assert strip_think(text) == (answer, reasoning)


def test_bare_names_positional_arguments_and_arithmetic_follow_bfcl() -> None:
    decoded = decode_prompt_reply("[f(1, unit=celsius, flag=true, n=2*3+1, **extra)]")
    assert decoded.ok and decoded.calls == [{"f": {"unit": "celsius", "flag": "true", "n": 7, UNNAMED_KEY: "extra"}}]


@pytest.mark.parametrize(
    "text",
    ["[f(a=__import__('os').system('true'))]", "[f(a=open('/etc/passwd').read())]", "[f(a=(lambda: 1)())]"],
)
def test_model_output_is_never_executed(text: str) -> None:
    decoded = decode_prompt_reply(text)
    # calls without keyword arguments are kept as their source text, as BFCL does, never run
    values = [value for call in decoded.calls for arguments in call.values() for value in arguments.values()]
    assert not decoded.ok or all(isinstance(value, str) and "(" in value for value in values)


def test_arithmetic_on_names_is_refused_not_evaluated() -> None:
    decoded = decode_prompt_reply("[f(a=x + 1)]")
    assert not decoded.ok and "only number and string constants" in (decoded.error or "")


def test_nested_powers_are_refused_quickly() -> None:
    """Each exponent is within MAX_POWER, but ((9**1024)**1024)**1024 would never finish."""
    import time

    started = time.perf_counter()
    decoded = decode_prompt_reply("[f(x=((9**1024)**1024)**1024)]")
    assert not decoded.ok and "power result would have over" in (decoded.error or "")
    assert time.perf_counter() - started < 1.0
    assert decode_prompt_reply("[f(x=10**1000)]").calls[0]["f"]["x"] == 10**1000  # large but bounded


PROMPT_CATEGORIES = ["simple", "java", "javascript", "parallel_multiple", "irrelevance", "live_simple", "live_relevance"]
OFFICIAL = Path(__file__).with_name("bfcl_official_reference.py")


def _model_text(entry: EvalEntry, index: int) -> str:
    """What a prompting model might answer: the right calls, after a think block, with a bare
    name or a positional argument, prose; a call where none is wanted and the reverse."""
    calls = ground_truth_calls(entry) if "relevance" not in entry.category else []
    if "relevance" in entry.category:
        name = entry.payload["tools"][0]["name"]
        text = f"[{name}()]" if index % 2 else "None of the functions fit."
    elif entry.category in ("java", "javascript"):
        text = "[" + ", ".join(
            f"{call.name}(" + ", ".join(f"{key}={value}" for key, value in call.arguments.items()) + ")" for call in calls
        ) + "]"
    else:
        text = render_python(calls)
        if index % 5 == 1 and text.endswith(")]"):
            text = text[:-2] + (", unit=celsius)]" if "(" in text and not text.endswith("()]") else "unit=celsius)]")
        elif index % 5 == 2 and text.endswith(")]"):
            text = text.replace("(", "(42, ", 1)
    if index % 7 == 0:
        text = "I am not sure which function to use."
    if index % 3 == 0:
        text = f"<think>\nThe user asks something; step {index}.\n</think>\n\n{text}"
    return text


def test_prompt_mode_scores_agree_with_bfcls_own_pipeline_for_a_prompting_qwen(
    bfcl: BfclV3, bfcl_entries: dict[str, list[EvalEntry]], tmp_path: Path
) -> None:
    """Raw replies scored by BFCL's eval_runner as Qwen/Qwen3-8B (its prompt handler decodes
    them) and by us (decode + official checker): the same verdict for every entry."""
    from looptool.benchmarks.base import EntryOutput, TurnOutput

    entries = [entry for category in PROMPT_CATEGORIES for entry in bfcl_entries[category]]
    texts = [_model_text(entry, index) for index, entry in enumerate(entries)]

    async def decode_all() -> list[ModelReply]:
        return list(await asyncio.gather(*(
            bfcl.decode_prompt(ModelReply(raw=text, text=text), entry.payload.get("language", "Python"))
            for entry, text in zip(entries, texts, strict=True)
        )))

    replies = asyncio.run(decode_all())
    outputs = [
        EntryOutput(entry_id=entry.id, category=entry.category, turns=[TurnOutput(replies=[reply])])
        for entry, reply in zip(entries, replies, strict=True)
    ]
    ours = {score.entry_id: score.score == 1.0 for score in bfcl.score_batch(entries, outputs)}
    request = {
        "categories": PROMPT_CATEGORIES,
        "prompt_texts": True,
        "items": [{"id": e.id, "category": e.category, "text": t} for e, t in zip(entries, texts, strict=True)],
    }
    (tmp_path / "in.json").write_text(json.dumps(request))
    subprocess.run(
        [str(find_bfcl_python()), str(OFFICIAL), str(tmp_path / "in.json"), str(tmp_path / "out.json")],
        check=True, capture_output=True, timeout=300,
    )
    official = json.loads((tmp_path / "out.json").read_text())
    disagreements = {key: (ours[key], official[key], texts[i]) for i, key in enumerate(ours) if ours[key] != official[key]}
    assert not disagreements
    think_right = [ours[e.id] for i, e in enumerate(entries) if i % 3 == 0 and i % 7 and e.category == "simple"]
    assert sum(think_right) > len(think_right) // 2  # correct answers after a think block score
    assert 0.3 < sum(ours.values()) / len(ours) < 0.95  # a mix of right and wrong verdicts


def test_prompt_python_first_turn_equals_bfcls_qwen_prompt_handler(
    bfcl_entries: dict[str, list[EvalEntry]], tmp_path: Path
) -> None:
    """System prompt, tool docs (str() of the language-hinted Gorilla docs) and an entry's own
    system message, exactly as BFCL's handler builds them, for Python, Java, JavaScript and
    live entries, including every live entry that brings its own system message."""
    from looptool.benchmarks.bfcl import prompting

    chosen = [entries[index] for entries in (bfcl_entries["simple"], bfcl_entries["java"],
              bfcl_entries["javascript"], bfcl_entries["parallel_multiple"], bfcl_entries["live_multiple"])
              for index in (0, 7)]
    own_system = [entry for category in ("live_simple", "live_multiple", "live_irrelevance", "live_relevance")
                  for entry in bfcl_entries[category] if entry.payload["question"][0][0]["role"] == "system"]
    assert own_system, "BFCL-v3 live data has entries with their own system message"
    chosen += own_system[:20]
    (tmp_path / "in.json").write_text(json.dumps([entry.id for entry in chosen]))
    subprocess.run(
        [str(find_bfcl_python()), str(Path(__file__).with_name("bfcl_prompt_reference.py")),
         str(tmp_path / "in.json"), str(tmp_path / "out.json")],
        check=True, capture_output=True, timeout=300,
    )
    expected = json.loads((tmp_path / "out.json").read_text())
    for entry in chosen:
        ours = prompting.first_turn(entry.payload["question"][0], entry.payload["docs"])
        assert ours == expected[entry.id], entry.id
