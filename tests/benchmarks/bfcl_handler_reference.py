"""Decode texts with BFCL's own Qwen prompt handler (``QwenHandler`` of bfcl-eval 2025.8.6.2).

Runs in ``.venvs/bfcl``: ``python bfcl_handler_reference.py IN.json OUT.json``. ``IN.json`` is
``[{"text", "language"}]``; for each text the handler's ``_parse_query_response_prompting``
(think stripping) and ``decode_ast`` (``default_decode_ast_prompting``) run exactly as BFCL's
pipeline runs them, and ``OUT.json`` gets ``[{"text": cleaned, "calls": [...]} | {"error"}]``
(BFCL's ``None`` argument key written as ``*unnamed*``, tuples as lists). Test helper only:
BFCL ``eval``s arithmetic here, so only test texts may be given to it.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any


def plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {("*unnamed*" if key is None else key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def main(source: str, target: str) -> int:
    os.environ["BFCL_PROJECT_ROOT"] = tempfile.mkdtemp(prefix="bfcl-handler-")
    sys.stdout = sys.stderr
    from bfcl_eval.model_handler.local_inference.qwen import QwenHandler

    handler = QwenHandler("Qwen/Qwen3-8B", 0.0)
    results = []
    for item in json.loads(Path(source).read_text(encoding="utf-8")):
        response = SimpleNamespace(
            choices=[SimpleNamespace(text=item["text"])], usage=SimpleNamespace(prompt_tokens=0, completion_tokens=0)
        )
        cleaned = handler._parse_query_response_prompting(response)["model_responses"]
        try:
            decoded = handler.decode_ast(cleaned, language=item["language"])
        except Exception as error:  # BFCL's eval_runner: any exception is a decoder failure
            results.append({"text": cleaned, "error": f"{type(error).__name__}: {error}"})
            continue
        results.append({"text": cleaned, "calls": plain(decoded)})
    Path(target).write_text(json.dumps(results, default=repr), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
