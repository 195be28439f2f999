"""BFCL's own prompt for entries as its Qwen prompt handler writes it (bfcl-eval 2025.8.6.2).

Runs in ``.venvs/bfcl``: ``python bfcl_prompt_reference.py IN.json OUT.json``. ``IN.json`` is a
list of single-turn entry ids; for each, the entry is read from BFCL's data files and passed
through ``QwenHandler._pre_query_processing_prompting`` (language hints on the docs, BFCL's
system prompt inserted or prepended to the entry's own), and ``OUT.json`` gets
``{id: first-turn messages}``. Test helper only.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path


def main(source: str, target: str) -> int:
    os.environ["BFCL_PROJECT_ROOT"] = tempfile.mkdtemp(prefix="bfcl-prompt-")
    sys.stdout = sys.stderr
    import bfcl_eval
    from bfcl_eval.constants.category_mapping import TEST_FILE_MAPPING
    from bfcl_eval.model_handler.local_inference.qwen import QwenHandler

    data = Path(bfcl_eval.__file__).parent / "data"
    handler = QwenHandler("Qwen/Qwen3-8B", 0.0)
    wanted = json.loads(Path(source).read_text(encoding="utf-8"))
    prompts = {}
    for entry_id in wanted:
        category = entry_id.rsplit("_", 1)[0]
        with (data / TEST_FILE_MAPPING[category]).open(encoding="utf-8") as stream:
            entry = next(record for record in map(json.loads, stream) if record["id"] == entry_id)
        handler._pre_query_processing_prompting(entry)
        prompts[entry_id] = entry["question"][0]
    Path(target).write_text(json.dumps(prompts), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
