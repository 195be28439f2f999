"""BFCL-v3 worker: runs inside the ``.venvs/bfcl`` environment (``bfcl-eval==2025.8.6.2``).

Every quirk of the official package lives here, and only here:

* ``BFCL_PROJECT_ROOT`` is set before the first ``bfcl_eval`` import (it creates
  ``result/`` and ``score/`` folders there) -- a scratch folder, never the checkout;
* our checker model name is registered in ``MODEL_CONFIG_MAPPING`` (``ast_checker`` looks it
  up for dotted function names; we map names back ourselves, so ``underscore_to_dot=False``);
* multi-turn backend instances are cached by BFCL in ``multi_turn_utils`` module globals keyed
  by model name + entry id: they are deleted before and after every entry, so a re-score or a
  second run never sees a previous run's state;
* ``soundfile`` (needed by ``qwen-agent``, undeclared) is installed by ``scripts/setup.sh bfcl``;
* BFCL ``eval``s call strings: we only ever hand it strings rendered here from parsed JSON
  literals, with function names restricted to the methods of the entry's backend classes
  (anything else becomes a call of an undefined name, i.e. an execution error).

Protocol: one JSON request per stdin line ``{"id": n, "cmd": ..., ...}``, one JSON answer per
stdout line ``{"id": n, "ok": true, "result": ...}`` or ``{"id": n, "ok": false, "error": ...}``.
Standard library + ``bfcl_eval`` only: this file must not import the ``looptool`` packages.
"""

from __future__ import annotations

import ast
import copy
import functools
import inspect
import json
import keyword
import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

CHECKER_MODEL = "looptoolscore"
INFERENCE_PREFIX = "looptoolrun"
UNKNOWN_TOOL = "looptool_unknown_tool"
VERSION_PREFIX = "BFCL_v3"
MULTI_TURN_PREFIX = "multi_turn"

# stdout carries the protocol: keep every print of the package away from it
PROTOCOL_OUT = sys.stdout
sys.stdout = sys.stderr

os.environ.setdefault("BFCL_PROJECT_ROOT", tempfile.mkdtemp(prefix="looptool-bfcl-"))

from bfcl_eval.constants.category_mapping import (  # noqa: E402
    MULTI_TURN_FUNC_DOC_FILE_MAPPING,
    TEST_FILE_MAPPING,
)
from bfcl_eval.constants.type_mappings import GORILLA_TO_OPENAPI  # noqa: E402
from bfcl_eval.model_handler.model_style import ModelStyle  # noqa: E402
from bfcl_eval.model_handler.utils import (  # noqa: E402
    convert_to_tool,
    func_doc_language_specific_pre_processing,
)

_checkers: dict[str, Any] = {}


def _load_checkers() -> dict[str, Any]:
    """Import the official checkers once (this pulls every API client: about 4 s)."""
    if not _checkers:
        from bfcl_eval.constants.model_config import MODEL_CONFIG_MAPPING, ModelConfig
        from bfcl_eval.eval_checker.ast_eval.ast_checker import ast_checker
        from bfcl_eval.eval_checker.multi_turn_eval import multi_turn_utils
        from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_checker import multi_turn_checker
        from bfcl_eval.utils import is_empty_output, is_function_calling_format_output

        MODEL_CONFIG_MAPPING[CHECKER_MODEL] = ModelConfig(
            model_name=CHECKER_MODEL,
            display_name="LoopTool",
            url="",
            org="",
            license="",
            model_handler="",  # never instantiated: we only call the checkers
            is_fc_model=True,
            underscore_to_dot=False,
        )
        _checkers.update(
            ast_checker=ast_checker,
            multi_turn_checker=multi_turn_checker,
            multi_turn_utils=multi_turn_utils,
            is_function_calling_format_output=is_function_calling_format_output,
            is_empty_output=is_empty_output,
        )
    return _checkers


def _mt_utils() -> Any:
    from bfcl_eval.eval_checker.multi_turn_eval import multi_turn_utils

    return multi_turn_utils


# ---------------------------------------------------------------- data


def category_of(entry_id: str) -> str:
    """``live_simple_3-2-1`` -> ``live_simple``; ``multi_turn_base_7`` -> ``multi_turn_base``."""
    return entry_id.rsplit("_", 1)[0]


def language_of(category: str) -> str:
    return {"java": "Java", "javascript": "JavaScript"}.get(category, "Python")


class Dataset:
    """BFCL-v3 files under ``data_dir`` (prompts, possible answers, multi-turn docs), cached."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._files: dict[Path, list[dict[str, Any]]] = {}
        self._by_id: dict[str, dict[str, Any]] = {}
        self._answers: dict[str, Any] = {}

    def _read(self, path: Path) -> list[dict[str, Any]]:
        if path not in self._files:
            if not path.is_file():
                raise FileNotFoundError(f"BFCL data file {path} does not exist")
            with path.open(encoding="utf-8") as stream:
                self._files[path] = [json.loads(line) for line in stream if line.strip()]
        return self._files[path]

    def entries(self, category: str) -> list[dict[str, Any]]:
        records = self._read(self.data_dir / TEST_FILE_MAPPING[category])
        for record in records:
            self._by_id.setdefault(record["id"], record)
        return records

    def entry(self, entry_id: str) -> dict[str, Any]:
        if entry_id not in self._by_id:
            self.entries(category_of(entry_id))
        return self._by_id[entry_id]

    def answer(self, entry_id: str) -> Any:
        category = category_of(entry_id)
        if "relevance" in category:  # relevance / irrelevance have no answer file
            return None
        if entry_id not in self._answers:
            path = self.data_dir / "possible_answer" / TEST_FILE_MAPPING[category]
            for record in self._read(path):
                self._answers[record["id"]] = record["ground_truth"]
        return self._answers[entry_id]

    def class_docs(self, class_name: str) -> list[dict[str, Any]]:
        return self._read(self.data_dir / "multi_turn_func_doc" / MULTI_TURN_FUNC_DOC_FILE_MAPPING[class_name])


def prompt_docs(functions: list[dict[str, Any]], category: str) -> list[dict[str, Any]]:
    """The docs BFCL's prompt and Qwen FC handlers show the model: Gorilla docs with the
    language hints of ``func_doc_language_specific_pre_processing`` (types not converted)."""
    return func_doc_language_specific_pre_processing(copy.deepcopy(functions), category)


def to_openai_tools(functions: list[dict[str, Any]], category: str) -> list[dict[str, Any]]:
    """BFCL's own conversion: language hints, Gorilla -> OpenAPI types; dotted names kept."""
    docs = func_doc_language_specific_pre_processing(json.loads(json.dumps(functions)), category)
    converted = convert_to_tool(docs, GORILLA_TO_OPENAPI, ModelStyle.OSSMODEL)
    for item, original in zip(converted, functions, strict=True):
        item["name"] = original["name"]  # OSSMODEL replaces '.'; the adapter decides per mode
    return converted


def _method_signatures(involved_classes: list[str]) -> dict[str, inspect.Signature]:
    return dict(_class_signatures(tuple(involved_classes)))


@functools.lru_cache(maxsize=64)
def _class_signatures(involved_classes: tuple[str, ...]) -> dict[str, inspect.Signature]:
    import importlib

    from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_utils import CLASS_FILE_PATH_MAPPING

    signatures: dict[str, inspect.Signature] = {}
    for class_name in involved_classes:
        cls = getattr(importlib.import_module(CLASS_FILE_PATH_MAPPING[class_name]), class_name)
        for name, function in inspect.getmembers(cls, predicate=inspect.isfunction):
            if not name.startswith("_"):
                signatures[name] = inspect.signature(function)
    return signatures


def _literal_call(source: str, signatures: dict[str, inspect.Signature]) -> dict[str, Any]:
    """Parse one ground-truth call string into ``{name, arguments}`` (positional arguments
    named from the backend method's signature)."""
    node = ast.parse(source, mode="eval").body
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        raise ValueError(f"not a plain call: {source}")
    name = node.func.id
    arguments: dict[str, Any] = {}
    if node.args:
        parameters = [p for p in signatures[name].parameters if p != "self"]
        for parameter, value in zip(parameters, node.args, strict=False):
            arguments[parameter] = ast.literal_eval(value)
    for item in node.keywords:
        arguments[str(item.arg)] = ast.literal_eval(item.value)
    return {"name": name, "arguments": arguments}


def load(dataset: Dataset, categories: list[str], limit: int | None) -> dict[str, Any]:
    """Entries ready for the adapter: question, OpenAI tools, held-out tools, ground truth.

    Multi-turn entries share a few tool sets (one per combination of backend classes and
    held-out functions): they are sent once in ``tool_sets`` and named by ``tool_set``."""
    out: list[dict[str, Any]] = []
    tool_sets: dict[str, dict[str, Any]] = {}
    for category in categories:
        records = dataset.entries(category)
        for record in records[: limit if limit is not None else len(records)]:
            entry: dict[str, Any] = {
                "id": record["id"],
                "category": category,
                "language": language_of(category),
                "question": record["question"],
            }
            if category.startswith(MULTI_TURN_PREFIX):
                missed = record.get("missed_function", {})
                key = json.dumps([record["involved_classes"], missed, category], sort_keys=True)
                if key not in tool_sets:
                    functions: list[dict[str, Any]] = []
                    for class_name in record["involved_classes"]:
                        functions.extend(copy.deepcopy(dataset.class_docs(class_name)))
                    held_out: dict[str, list[dict[str, Any]]] = {}
                    for turn, names in missed.items():
                        held_out[turn] = [doc for doc in functions if doc["name"] in names]
                        functions = [doc for doc in functions if doc["name"] not in names]
                    tool_sets[key] = {
                        "tools": to_openai_tools(functions, category),
                        "docs": prompt_docs(functions, category),
                        "held_out_tools": {turn: to_openai_tools(docs, category) for turn, docs in held_out.items()},
                        # BFCL shows held-out docs as they are (no language hints)
                        "held_out_docs": held_out,
                    }
                entry["tool_set"] = key
                entry["involved_classes"] = record["involved_classes"]
                signatures = _method_signatures(record["involved_classes"])
                truth = dataset.answer(record["id"])
                entry["ground_truth"] = truth
                entry["ground_truth_calls"] = [
                    [_literal_call(call, signatures) for call in turn] for turn in truth
                ]
            else:
                entry["tools"] = to_openai_tools(record["function"], category)
                entry["docs"] = prompt_docs(record["function"], category)
                if category in ("java", "javascript"):  # BFCL's own types, for ground-truth literals
                    entry["functions"] = record["function"]
                entry["ground_truth"] = dataset.answer(record["id"])
            out.append(entry)
    return {"entries": out, "tool_sets": tool_sets}


# ---------------------------------------------------------------- safe call strings


def render_call(call: dict[str, Any], allowed: set[str]) -> str:
    """A call string for BFCL's executor, built from parsed literals only.

    Unknown function names and non-identifier argument names become a call of an
    undefined name, so BFCL records an execution error instead of running anything else."""
    name = call.get("name")
    arguments = call.get("arguments")
    if not isinstance(name, str) or name not in allowed or not isinstance(arguments, dict):
        return f"{UNKNOWN_TOOL}()"
    parts: list[str] = []
    for key, value in arguments.items():
        if not isinstance(key, str) or not key.isidentifier() or keyword.iskeyword(key):
            return f"{UNKNOWN_TOOL}()"
        parts.append(f"{key}={value!r}")
    return f"{name}({', '.join(parts)})"


def _allowed_methods(involved_classes: list[str]) -> set[str]:
    return set(_method_signatures(involved_classes))


def _drop_instances(prefix: str) -> None:
    namespace = vars(_mt_utils())
    for key in [key for key in namespace if key.startswith(prefix)]:
        del namespace[key]


# ---------------------------------------------------------------- multi-turn execution


class Sessions:
    """Live backend instances of multi-turn entries being run by the model."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self.allowed: dict[str, set[str]] = {}

    @staticmethod
    def _model_name(session: str) -> str:
        return f"{INFERENCE_PREFIX}{int(session)}"

    def start(self, session: str, entry_id: str) -> None:
        _drop_instances(self._model_name(session) + "_")
        record = self.dataset.entry(entry_id)
        self.allowed[session] = _allowed_methods(record["involved_classes"])

    def execute(self, session: str, entry_id: str, calls: list[dict[str, Any]]) -> list[str]:
        from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_utils import (
            execute_multi_turn_func_call,
        )

        record = self.dataset.entry(entry_id)
        category = category_of(entry_id)
        strings = [render_call(call, self.allowed[session]) for call in calls]
        results, _ = execute_multi_turn_func_call(
            strings,
            record["initial_config"],
            record["involved_classes"],
            self._model_name(session),
            entry_id,
            long_context=("long_context" in category or "composite" in category),
            is_evaL_run=False,
        )
        return [str(result) for result in results]

    def end(self, session: str) -> None:
        _drop_instances(self._model_name(session) + "_")
        self.allowed.pop(session, None)


# ---------------------------------------------------------------- scoring


def _verdict(valid: bool, error_type: str = "", error: Any = None) -> dict[str, Any]:
    return {"valid": bool(valid), "error_type": error_type, "error": error}


def _as_bfcl_calls(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{call["name"]: call.get("arguments", {})} for call in calls]


def score_one(dataset: Dataset, item: dict[str, Any]) -> dict[str, Any]:
    checkers = _load_checkers()
    entry_id = item["id"]
    category = category_of(entry_id)
    decoded = item.get("decoded") or {}
    if "relevance" in category:  # relevance / irrelevance: was any call decoded?
        calls = decoded.get("calls")
        contains_call = calls is not None and not decoded.get("error") and not checkers["is_empty_output"](
            _as_bfcl_calls(calls)
        )
        success = not contains_call if "irrelevance" in category else contains_call
        kind = "irrelevance_error:decoder_success" if "irrelevance" in category else "relevance_error:decoder_failed"
        return _verdict(success, "" if success else kind)
    record = dataset.entry(entry_id)
    truth = dataset.answer(entry_id)
    if category.startswith(MULTI_TURN_PREFIX):
        turns = decoded.get("turns")
        if not isinstance(turns, list):
            return _verdict(False, "multi_turn:inference_error", decoded.get("error"))
        if len(turns) != len(truth):
            return _verdict(
                False,
                "multi_turn:force_terminated",
                f"model result has {len(turns)} turns, ground truth {len(truth)}",
            )
        allowed = _allowed_methods(record["involved_classes"])
        rendered = [[[render_call(call, allowed) for call in step] for step in turn] for turn in turns]
        entry = {key: value for key, value in record.items() if key != "function"}
        _drop_instances(CHECKER_MODEL + "_")
        try:
            result = checkers["multi_turn_checker"](rendered, truth, entry, category, CHECKER_MODEL)
        finally:
            _drop_instances(CHECKER_MODEL + "_")
        return _verdict(result["valid"], result.get("error_type", ""), result.get("error_message"))
    if decoded.get("error") is not None or not isinstance(decoded.get("calls"), list):
        return _verdict(False, "ast_decoder:decoder_failed", decoded.get("error"))
    model_output = _as_bfcl_calls(decoded["calls"])
    if not checkers["is_function_calling_format_output"](model_output):
        return _verdict(False, "ast_decoder:decoder_wrong_output_format")
    result = checkers["ast_checker"](
        record["function"], model_output, truth, language_of(category), category, CHECKER_MODEL
    )
    return _verdict(result["valid"], result.get("error_type", ""), result.get("error"))


def score(dataset: Dataset, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    verdicts = []
    for item in items:
        try:
            verdict = score_one(dataset, item)
        except Exception as error:  # the official checker crashed on this output: wrong
            verdict = _verdict(False, "checker_error", f"{type(error).__name__}: {error}")
        verdict["id"] = item["id"]
        verdicts.append(verdict)
    return verdicts


# ---------------------------------------------------------------- decoding Java / JavaScript


UNNAMED_KEY = "*unnamed*"  # the same name as benchmarks.bfcl.decode.UNNAMED_KEY


def decode(text: str, language: str) -> dict[str, Any]:
    """BFCL's own ``default_decode_ast_prompting`` for Java and JavaScript (tree-sitter
    parsers, no ``eval``); Python is decoded in the main process without ``eval``. ``text``
    is already think-stripped. Returns ``{"calls": [{name: {arg: value}}]}`` or ``{"error"}``;
    BFCL's ``None`` key (positional arguments) becomes ``UNNAMED_KEY``."""
    if language not in ("Java", "JavaScript"):
        raise ValueError(f"the worker decodes Java and JavaScript only, not {language!r}")
    from bfcl_eval.model_handler.utils import default_decode_ast_prompting

    try:
        decoded = default_decode_ast_prompting(text, language)
    except Exception as error:  # BFCL: any decoder exception is a decoder failure
        return {"error": f"{type(error).__name__}: {error}"}
    if not isinstance(decoded, list) or not all(
        isinstance(call, dict) and len(call) == 1 and isinstance(next(iter(call.values())), dict) for call in decoded
    ):
        return {"error": f"not in function-calling format: {str(decoded)[:200]}"}
    calls = [
        {name: {UNNAMED_KEY if key is None else str(key): value for key, value in arguments.items()}}
        for call in decoded
        for name, arguments in call.items()
    ]
    return {"calls": calls}


# ---------------------------------------------------------------- main loop


def handle(dataset: Dataset, sessions: Sessions, request: dict[str, Any]) -> Any:
    command = request.get("cmd")
    if command == "info":
        import importlib.metadata

        return {
            "data_dir": str(dataset.data_dir),
            "bfcl_eval": importlib.metadata.version("bfcl-eval"),
            "categories": list(TEST_FILE_MAPPING),
        }
    if command == "load":
        return load(dataset, list(request["categories"]), request.get("limit"))
    if command == "decode":
        return decode(str(request["text"]), str(request["language"]))
    if command == "score":
        return score(dataset, list(request["items"]))
    if command == "mt_start":
        sessions.start(str(request["session"]), str(request["entry_id"]))
        return None
    if command == "mt_execute":
        return sessions.execute(str(request["session"]), str(request["entry_id"]), list(request["calls"]))
    if command == "mt_end":
        sessions.end(str(request["session"]))
        return None
    if command == "warm":
        _load_checkers()
        return None
    raise ValueError(f"unknown command {command!r}")


def default_data_dir() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("bfcl_eval")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("bfcl_eval is not installed in this environment")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def main(argv: list[str]) -> int:
    data_dir = Path(argv[1]) if len(argv) > 1 and argv[1] else default_data_dir()
    dataset = Dataset(data_dir)
    sessions = Sessions(dataset)
    for line in sys.stdin:
        if not line.strip():
            continue
        request: dict[str, Any] = {}
        try:
            request = json.loads(line)
            answer = {"id": request.get("id"), "ok": True, "result": handle(dataset, sessions, request)}
        except Exception as error:
            answer = {
                "id": request.get("id"),
                "ok": False,
                "error": f"{type(error).__name__}: {error}",
                "trace": traceback.format_exc(limit=4),
            }
        PROTOCOL_OUT.write(json.dumps(answer, default=str) + "\n")
        PROTOCOL_OUT.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
