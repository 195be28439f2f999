"""Score outputs with BFCL's own end-to-end evaluation (``eval_checker.eval_runner.main``).

Runs in ``.venvs/bfcl``: ``python bfcl_official_reference.py IN.json OUT.json``. ``IN.json``
holds ``{"categories": [...], "items": [{"id", "category", "decoded"}]}`` where ``decoded`` is
what our adapter hands its checker (``{"calls": [...]}``, ``{"error": ...}`` or
``{"turns": [[[calls]]]}``). The outputs are written as result files of BFCL's registered
``gpt-4o-2024-11-20-FC`` model (OpenAI function-calling format), BFCL's own pipeline decodes and
scores them, and ``OUT.json`` gets ``{id: valid}`` from its score files. With
``"prompt_texts": true`` each item has ``"text"`` instead: the model's reply as BFCL's Qwen
prompt handler stores it (think block already stripped), written for ``Qwen/Qwen3-8B`` (the
prompt handler ``QwenHandler``), so BFCL's own ``decode_ast`` decodes it. Every entry of each
category must be present (BFCL asserts complete files). Test helper only.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from pathlib import Path

MODEL = "gpt-4o-2024-11-20-FC"
PROMPT_MODEL = "Qwen/Qwen3-8B"


def fc_step(calls: list[dict]) -> list[dict]:
    # OpenAI FC models may not use '.' in names; BFCL's checker maps them back (underscore_to_dot)
    return [{re.sub(r"\.", "_", call["name"]): json.dumps(call.get("arguments", {}))} for call in calls]


def result_of(decoded: dict) -> object:
    if "turns" in decoded:
        return [[fc_step(step) for step in turn] for turn in decoded["turns"]]
    if decoded.get("error") is not None or "calls" not in decoded:
        return "not a function call: " + str(decoded.get("error"))
    return fc_step(decoded["calls"])


def _qwen_prompt_cleaner():  # type: ignore[no-untyped-def]
    """The Qwen prompt handler's own response cleaning (think block removed), as at inference."""
    from types import SimpleNamespace

    from bfcl_eval.model_handler.local_inference.qwen import QwenHandler

    handler = QwenHandler(PROMPT_MODEL, 0.0)

    def clean(text: str) -> str:
        response = SimpleNamespace(
            choices=[SimpleNamespace(text=text)], usage=SimpleNamespace(prompt_tokens=0, completion_tokens=0)
        )
        return handler._parse_query_response_prompting(response)["model_responses"]

    return clean


def main(source: str, target: str) -> int:
    root = Path(tempfile.mkdtemp(prefix="bfcl-official-"))
    os.environ["BFCL_PROJECT_ROOT"] = str(root)
    os.environ.setdefault("OPENAI_API_KEY", "unused")
    sys.stdout = sys.stderr
    from bfcl_eval.eval_checker import eval_runner

    request = json.loads(Path(source).read_text(encoding="utf-8"))
    prompt = bool(request.get("prompt_texts"))
    model = PROMPT_MODEL if prompt else MODEL
    result_dir = root / "result" / model.replace("/", "_")
    result_dir.mkdir(parents=True, exist_ok=True)
    by_category: dict[str, list[dict]] = {}
    strip = _qwen_prompt_cleaner() if prompt else None
    for item in request["items"]:
        result = strip(item["text"]) if strip else result_of(item["decoded"])
        by_category.setdefault(item["category"], []).append({"id": item["id"], "result": result})
    for category, rows in by_category.items():
        path = result_dir / f"BFCL_v3_{category}_result.json"
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    eval_runner.main([model], list(request["categories"]), root / "result", root / "score")
    verdicts: dict[str, bool] = {item["id"]: True for item in request["items"]}
    for category in request["categories"]:
        score_file = root / "score" / model.replace("/", "_") / f"BFCL_v3_{category}_score.json"
        lines = [json.loads(line) for line in score_file.read_text(encoding="utf-8").splitlines() if line.strip()]
        for line in lines[1:]:  # the first line is the summary; the rest are failures
            verdicts[line["id"]] = False
    Path(target).write_text(json.dumps(verdicts), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
