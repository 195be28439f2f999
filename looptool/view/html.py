"""A tiny HTML builder that escapes by default: every ``str`` is text, only :class:`Safe` is markup.

Model-written text (messages, analyses, reasons, tool results) reaches the page only through
:func:`tag` / :func:`esc`, so a ``<script>`` in a message stays visible text.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, urlencode


class Safe(str):
    """Markup that is already escaped (built by :func:`tag`, :func:`esc` or :func:`join`)."""


def esc(value: object) -> Safe:
    """``value`` as escaped text (markup passes through unchanged)."""
    if isinstance(value, Safe):
        return value
    if value is None:
        return Safe("")
    return Safe(html.escape(str(value), quote=True))


def join(children: Iterable[Any], sep: str = "") -> Safe:
    """Children (text, markup, nested iterables) as one piece of markup."""
    parts: list[str] = []
    for child in children:
        if isinstance(child, str | int | float) or child is None:
            parts.append(esc(child))
        else:
            parts.append(join(child))
    return Safe(esc(sep).join(parts))


def tag(element: str, /, *children: Any, **attrs: object) -> Safe:
    """``<name attrs>children</name>``; attribute names use ``_`` for ``-`` and ``cls`` for
    ``class``; ``None``/``False`` attributes are left out, ``True`` ones are bare."""
    rendered = []
    for key, value in attrs.items():
        if value is None or value is False:
            continue
        attr = "class" if key == "cls" else key.rstrip("_").replace("_", "-")
        rendered.append(f" {attr}" if value is True else f' {attr}="{esc(value)}"')
    opening = f"<{element}{''.join(rendered)}>"
    if element in ("br", "img", "input", "meta", "hr"):
        return Safe(opening)
    return Safe(f"{opening}{join(children)}</{element}>")


def link(href: str, /, *children: Any, **attrs: object) -> Safe:
    return tag("a", *children, href=href, **attrs)


def url(path: str, **query: object) -> str:
    """``path?query`` with empty values left out; path segments are percent-encoded by callers."""
    params = {key: str(value) for key, value in query.items() if value not in (None, "", False)}
    return f"{path}?{urlencode(params)}" if params else path


def seg(value: str) -> str:
    """One URL path segment (ids may hold ``/``, ``:`` or spaces)."""
    return quote(value, safe="")


def pre(value: object) -> Safe:
    """Text or JSON in a ``<pre>`` block."""
    text = value if isinstance(value, str) else json.dumps(value, indent=1, ensure_ascii=False, default=str)
    return tag("pre", text)


def table(columns: list[str] | None, rows: Iterable[list[Any]], *, cls: str | None = None) -> Safe:
    """A table; ``columns=None`` for a key/value table without a header row."""
    head = tag("tr", *(tag("th", column) for column in columns)) if columns else ""
    body = [tag("tr", *(tag("td", cell) for cell in row)) for row in rows]
    return tag("table", head, *body, cls=cls)


CSS = """
body { font-family: system-ui, sans-serif; margin: 0; color: #222; }
header { background: #243447; color: #fff; padding: .5rem 1.2rem; }
header a { color: #cfe3ff; margin-right: 1rem; text-decoration: none; }
header b { margin-right: 1.5rem; }
main { padding: .8rem 1.2rem 2rem; }
h1 { font-size: 1.3rem; } h2 { font-size: 1.1rem; margin-top: 1.4rem; }
table { border-collapse: collapse; margin: .4rem 0; }
td, th { border: 1px solid #ccc; padding: .2rem .45rem; vertical-align: top; font-size: .85rem; text-align: left; }
th { background: #f1f3f5; }
pre { white-space: pre-wrap; word-break: break-word; margin: 0; max-width: 110ch; font-size: .8rem; }
details { margin: .2rem 0; } summary { cursor: pointer; color: #245; }
.msg { border-left: 4px solid #bbb; padding: .2rem .6rem; margin: .35rem 0; background: #fafafa; }
.msg.user { border-color: #3a7bd5; } .msg.assistant { border-color: #2e9d57; }
.msg.tool { border-color: #c99a06; } .msg.system { border-color: #888; }
.event { border: 1px solid #ddd; border-radius: 4px; margin: .4rem 0; padding: .3rem .6rem; }
.k-verdict { background: #eef4ff; } .k-error { background: #fee; } .k-tool_call { background: #fffbe6; }
.k-tool_result { background: #efe; } .k-llm_call { background: #f8f0ff; } .k-node { color: #555; }
.meta { color: #666; font-size: .8rem; }
.ok { color: #17803d; } .bad { color: #b00020; } .warn { color: #a15c00; } .running { color: #06c; }
.panel { border: 1px solid #e0b4b4; background: #fff6f6; padding: .4rem .8rem; margin: .5rem 0; }
.notice { border: 1px solid #b4c8e0; background: #f3f8ff; padding: .4rem .8rem; margin: .5rem 0; }
form.filters input, form.filters select { margin: 0 .6rem .3rem .2rem; }
ul.tree { list-style: none; padding-left: 1.1rem; border-left: 1px dotted #aaa; }
"""


def page(title: str, body: Any, *, nav: Safe | None = None) -> str:
    """A complete page: inline CSS, no script, no external resource."""
    return "<!doctype html>\n" + tag(
        "html",
        tag("head", tag("meta", charset="utf-8"), tag("title", f"LoopTool: {title}"), tag("style", Safe(CSS))),
        tag("body", tag("header", nav or ""), tag("main", tag("h1", title), body)),
        lang="en",
    )
