"""Pieces every page of the run browser shares: navigation, formatting, messages, links."""

from __future__ import annotations

import json
from typing import Any

from looptool.view.html import Safe, join, link, pre, seg, tag
from looptool.view.runfolder import RunFolder, StageState, StageStatus

PAGE_SIZE = 100
#: A model call's prompt is shown unfolded up to this size (longer ones: one click).
OPEN_PROMPT_CHARS = 4000
ORIGINS = ("seed", "imported", "expanded", "relabeled", "prediction_wrong", "high_ppl", "dialogue")
VERDICTS = ("PRED_WRONG", "LABEL_WRONG", "BOTH_CORRECT", "BOTH_WRONG", "UNDECIDED", "UNJUDGED")


def nav(base: str, run: RunFolder, several: bool) -> Safe:
    items = [tag("b", run.label)]
    if several:
        items.append(link("/", "all runs"))
    for path, name in (("", "overview"), ("composition", "composition"), ("samples", "samples"),
                       ("traces", "traces"), ("rejects", "rejects"), ("benchmarks", "benchmarks")):
        items.append(link(f"{base}/{path}", name))
    return join(items)


def fmt_seconds(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


def fmt_percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def stage_cell(state: StageState) -> Safe:
    css = {StageStatus.DONE: "ok", StageStatus.RUNNING: "running", StageStatus.PENDING: "meta"}[state.status]
    return tag("span", f"{state.status.value} {fmt_seconds(state.seconds)}".strip(), cls=css)


def select(name: str, value: str, options: list[str]) -> Safe:
    return tag("label", name, tag("select", tag("option", "any", value=""),
                                  *(tag("option", option, value=option, selected=option == value) for option in options),
                                  name=name))


def message_block(message: dict[str, Any]) -> Safe:
    role = str(message.get("role", ""))
    calls = message.get("tool_calls") or []
    body: list[Any] = [tag("div", role, f" ({message['name']})" if message.get("name") else "", cls="meta")]
    if message.get("reasoning"):
        body.append(tag("details", tag("summary", "reasoning"), pre(str(message["reasoning"]))))
    if message.get("content"):
        body.append(pre(str(message["content"])))
    if calls:
        body.append(pre("\n".join(f"{c.get('name')}({json.dumps(c.get('arguments', {}), ensure_ascii=False)})"
                                  for c in calls if isinstance(c, dict))))
    return tag("div", *body, cls=f"msg {role}")


def trace_link(base: str, links: dict[str, str], trace_id: str, text: str | None = None) -> Safe:
    store = links.get(trace_id)
    if store is None:
        return Safe("")
    return link(f"{base}/trace/{seg(store)}/{seg(trace_id)}", text or f"trace {trace_id}")


def error_page_body(message: str) -> Safe:
    return tag("div", message, cls="panel")
