"""The samples list and one sample: context, label, prediction, verdict, lineage tree."""

from __future__ import annotations

import json
from typing import Any

from looptool.loop.lineage import LineageStep, StepKind
from looptool.view.html import Safe, join, link, pre, seg, table, tag, url
from looptool.view.page_parts import ORIGINS, PAGE_SIZE, VERDICTS, message_block, select, trace_link
from looptool.view.samples import PARTS, SETS, SampleFilter, SampleIndex, SampleRow, label_text


def samples_page(base: str, index: SampleIndex, wanted: SampleFilter, page: int) -> Safe:
    found = index.filter(wanted)
    modes = sorted({p.mode for row in index.rows.values() for p in row.places if p.mode})
    tools = sorted({tool for row in index.rows.values() for tool in row.tools})
    form = tag(
        "form",
        select("mode", wanted.mode, modes),
        tag("label", "iteration", tag("input", name="iteration", size="3",
                                      value="" if wanted.iteration is None else str(wanted.iteration))),
        select("set", wanted.set, list(SETS)), select("part", wanted.part, list(PARTS)),
        select("origin", wanted.origin, list(ORIGINS)),
        select("verdict", wanted.verdict, list(VERDICTS)), select("tool", wanted.tool, tools),
        select("status", wanted.status, ["accepted", "rejected"]),
        tag("label", "text", tag("input", name="q", value=wanted.q, size="24")),
        tag("button", "filter", type="submit"),
        method="get", action=f"{base}/samples", cls="filters",
    )
    shown = found[page * PAGE_SIZE:(page + 1) * PAGE_SIZE]
    rows = [[link(f"{base}/sample/{seg(row.id)}", row.id), row.origin, row.status,
             ", ".join(sorted({f"{p.mode + '/' if p.mode else ''}{p.set}{'@' + str(p.iteration) if p.iteration else ''}"
                               f"{' (' + p.part + ')' if p.part else ''}" for p in row.places})),
             ", ".join(f"{v[2]}@{v[1]}" for v in row.verdicts), row.label[:160] or "; ".join(row.reasons)[:160]]
            for row in shown]
    query = {k: v for k, v in vars(wanted).items() if v not in ("", None)}
    pager = []
    if page > 0:
        pager.append(link(url(f"{base}/samples", **query, page=page - 1), "previous"))
    if (page + 1) * PAGE_SIZE < len(found):
        pager.append(link(url(f"{base}/samples", **query, page=page + 1), "next"))
    return join([form, tag("p", f"{len(found)} of {len(index.rows)} samples", cls="meta"),
                 table(["id", "origin", "status", "in", "verdicts", "label / reasons"], rows), tag("p", *pager)])


def lineage_tree(base: str, steps: list[LineageStep], known: set[str]) -> Safe:
    """The history as nested lists: each sample's steps under it, parents one level deeper."""

    def sample_link(sample_id: str | None) -> Safe:
        if not sample_id:
            return Safe("")
        return link(f"{base}/sample/{seg(sample_id)}", sample_id) if sample_id in known else Safe(sample_id)

    html_parts: list[str] = []
    depth = 0
    html_parts.append("<ul class='tree'>")
    for step in steps:
        while step.depth > depth:
            html_parts.append("<ul class='tree'>")
            depth += 1
        while step.depth < depth:
            html_parts.append("</ul>")
            depth -= 1
        where = f"{step.mode.value} iteration {step.iteration}: " if step.mode is not None else ""
        item = [tag("b", step.kind.value), " ", where, step.summary]
        if step.kind in (StepKind.PARENT, StepKind.RELABELED_AS, StepKind.EXPANDED_INTO, StepKind.DERIVED,
                         StepKind.ORIGIN, StepKind.JUDGED) and step.related_id:
            label = {StepKind.PARENT: "parent", StepKind.ORIGIN: "parent", StepKind.RELABELED_AS: "relabeled copy",
                     StepKind.EXPANDED_INTO: "expansion", StepKind.JUDGED: "new sample"}.get(step.kind, "related")
            target = step.sample_id if step.kind is StepKind.PARENT else step.related_id
            item += [" ", tag("span", f"[{label}: ", sample_link(target), "]", cls="lineage-link")]
        if step.place:
            item.append(tag("span", " ", step.place, cls="meta"))
        html_parts.append(tag("li", *item, *(tag("div", note, cls="meta") for note in step.notes)))
    html_parts.append("</ul>" * (depth + 1))
    return Safe("".join(html_parts))


def sample_page(base: str, sample_id: str, data: dict[str, Any], row: SampleRow | None,
                probes: list[tuple[str, dict[str, Any]]], judgements: list[tuple[str, dict[str, Any]]],
                steps: list[LineageStep], children: list[str], known: set[str], links: dict[str, str]) -> Safe:
    lineage = data.get("lineage") if isinstance(data.get("lineage"), dict) else {}
    assert isinstance(lineage, dict)
    parts: list[Any] = []
    facts: list[list[Any]] = [["origin", str(lineage.get("origin", row.origin if row else ""))],
             ["status", row.status if row else ""],
             ["iteration / stage", f"{lineage.get('iteration', '')} / {lineage.get('stage', '')}"]]
    if lineage.get("parent_id"):
        parent = str(lineage["parent_id"])
        facts.append(["parent", link(f"{base}/sample/{seg(parent)}", parent) if parent in known else parent])
    if lineage.get("dialogue_id"):
        dialogue_id = str(lineage["dialogue_id"])
        facts.append(["dialogue", trace_link(base, links, dialogue_id, dialogue_id) or dialogue_id])
    if children:
        facts.append(["made from it", join([link(f"{base}/sample/{seg(child)}", child) for child in children], ", ")])
    if row and row.reasons:
        facts.append(["reasons", tag("ul", *(tag("li", reason) for reason in row.reasons))])
    parts.append(table(None, facts))
    dialogue = data.get("dialogue")
    messages = data.get("context") or (dialogue.get("messages") if isinstance(dialogue, dict) else []) or []
    parts += [tag("h2", "Context"), *(message_block(m) for m in messages if isinstance(m, dict))]
    if "label_calls" in data or "label_text" in data:
        parts += [tag("h2", "Label"), pre(label_text(data) or "(empty)")]
    relabel = (data.get("metadata") or {}).get("relabel") if isinstance(data.get("metadata"), dict) else None
    if isinstance(relabel, dict):
        parts += [tag("h2", "Old label (before JGLV relabeled it)"),
                  tag("div", pre(label_text(relabel) or "(empty)"), cls="old-label"),
                  tag("p", "verdict ", tag("b", str(relabel.get("verdict", ""))), " at iteration ",
                      str(relabel.get("iteration", "")), ": ", str(relabel.get("analysis", "")))]
    for where, probe in probes:
        calls = probe.get("predicted_calls") or []
        prediction = "; ".join(f"{c.get('name')}({json.dumps(c.get('arguments', {}), ensure_ascii=False)})"
                               for c in calls if isinstance(c, dict)) or str(probe.get("predicted_text") or "")
        heading = "Prediction judged against" if not probe.get("matched") else "Probe: the policy's prediction"
        parts += [tag("h2", f"{heading} ({where})"),
                  table(["matched", "perplexity", "parse error", "prediction"],
                        [[str(probe.get("matched")), str(probe.get("perplexity")), str(probe.get("parse_error") or ""),
                          pre(prediction)]]),
                  tag("details", tag("summary", "raw completion"), pre(str(probe.get("completion", ""))))]
    for where, judged in judgements:
        iteration = where.rsplit("_", 1)[-1]
        subject = str(judged.get("sample_id"))
        trace = trace_link(base, links, f"jglv:{iteration}:{subject}", "judge trace (step by step)")
        new_id = judged.get("new_sample_id")
        parts += [tag("h2", f"Verdict ({where})"),
                  table(["verdict", "decided by", "action", "reason", "new sample", "trace"],
                        [[tag("b", str(judged.get("verdict")), cls="verdict"), str(judged.get("decided_by")),
                          str(judged.get("action")), str(judged.get("reason") or ""),
                          link(f"{base}/sample/{seg(str(new_id))}", str(new_id)) if new_id and new_id in known else str(new_id or ""),
                          trace]]),
                  tag("h3", "Analysis"), pre(str(judged.get("analysis") or "(none)"))]
    other = [trace_id for trace_id in links if trace_id.startswith("edde:") or trace_id == sample_id]
    if other:
        parts += [tag("h2", "Other traces"), tag("ul", *(tag("li", trace_link(base, links, t)) for t in other))]
    if steps:
        parts += [tag("h2", "Lineage"), lineage_tree(base, steps, known)]
    tools = data.get("tools") or (dialogue.get("tools") if isinstance(dialogue, dict) else []) or []
    parts.append(tag("details", tag("summary", f"{len(tools)} tools offered"), pre(tools)))
    return join(parts)
