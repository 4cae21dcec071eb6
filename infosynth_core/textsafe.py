r"""Stored text shown as inert text: escaping for Streamlit markdown and Plotly labels.

Everything the store holds (statements, ids, topics, tests, solutions, run and seed-set names,
error texts, model output) comes from uploaded files or model answers, so it is untrusted.
Streamlit renders markdown in ``st.markdown``/``st.caption``/``st.info``/…, in widget labels
and expander titles; Plotly renders a subset of HTML (``<a href>``, ``<b>``, ``<br>``, …) in
hover labels, legends, tick labels and titles. Passed through unescaped, a statement holding
``![x](http://host/pixel.png)`` makes the browser fetch an outside URL, and ``<a href=…>`` or
``[click](javascript:…)`` becomes a live link.

- :func:`escape_markdown` — text for ``st.markdown`` and every markdown-rendering element;
- :func:`markdown_code` — text as an inline code span (ids and names in code style);
- :func:`escape_hover` — text for Plotly hover labels, legend entries, tick labels, titles.

Where Streamlit has a plain-text element (``st.text``, ``st.code``, ``st.dataframe``,
selectbox options), prefer it: these helpers are for text that has to sit inside markup.

>>> print(escape_markdown("**bold** [a](b) <b>"))
\*\*bold\*\* \[a\](b) &lt;b&gt;
>>> print(escape_hover("<b>a</b>\nb"))
&lt;b&gt;a&lt;/b&gt;<br>b
"""

from __future__ import annotations

import html
import re
import textwrap

__all__ = ["WORD_JOINER", "escape_hover", "escape_markdown", "markdown_code"]

WORD_JOINER = "\u2060"
"""U+2060, invisible and without a line-break opportunity: :func:`escape_markdown` puts it
where Streamlit would rewrite already-unescaped text (see there)."""

# Characters that open markup anywhere in a line: backslash-escaped, or (raw HTML, autolinks,
# blockquotes, entities, math) written as entities. `$` is an entity, not `\$`: Streamlit
# looks for math in the raw source and would load KaTeX. Other punctuation ('.', '-', '!',
# '(', ':', …) opens nothing once these are escaped, so messages stay readable in the source.
_ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;", "$": "&#36;"}
_MARKDOWN = {c: "\\" + c for c in "\\`*_~[]|"} | _ENTITIES
# ... and what opens a block only at the start of a line: lists, headings, setext underlines
_LINE_START = re.compile(r"(?m)^(?:([-+#=])|(\d+)([.)]))")
# Streamlit rewrites *text nodes*, i.e. after backslash escapes are resolved, so escaping
# alone does not stop these; an invisible word joiner does:
# - after ':' — `http://` / `mailto:` autolink literals (remark-gfm), `:material/…:` icons
#   (replaced in the source before parsing), `:streamlit:` logo, `:emoji:` shortcodes and
#   `:red[…]` / `:help[…]` directives (a directive name starts with a letter);
# - after '@' — e-mail autolink literals; between 'www' and '.' — `www.` autolink literals;
# - inside `->`, `<-`, `<->`, `--`, `>=`, `<=`, `~=` — typographic symbol replacement.
_BREAKS = re.compile(r"(?<=[:@])(?=\S)|(?i:(?<=www))(?=\.)|(?<=[-<>~])(?=[-<>=])")
_LINE_INDENT = re.compile(r"(?m)^[ \t]+")


def _newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def escape_markdown(text: object) -> str:
    r"""Return ``text`` as Streamlit markdown that renders as exactly that text.

    For ``st.markdown``, ``st.caption``, ``st.info``/``st.warning``/``st.error``/
    ``st.success``, widget labels and expander titles, with or without markup around it
    (``f"**{escape_markdown(name)}**"``). The characters that open markup (`` \ ` * _ ~ [ ]
    | ``, and ``- + # =`` or ``1.`` at the start of a line) are backslash-escaped, so no
    emphasis, link, image, code, heading, list or table survives; ``<``, ``>``, ``&`` and
    ``$`` (math) become HTML entities, so no HTML, autolink or formula does.
    Streamlit also rewrites text after parsing (GFM autolink literals such as
    ``http://…``, ``www.…`` and e-mail addresses; ``:material/…:`` icons; ``:streamlit:``;
    emoji shortcodes; ``->`` arrows) and reads ``:name[…]`` directives: :data:`WORD_JOINER`
    (invisible) is inserted after ``:`` and ``@``, after ``www`` and inside arrows to stop
    that. Line breaks stay line breaks (markdown hard breaks); indentation at the start of
    a line is dropped (a browser does not show it either), so no line becomes a code block.

    Parameters
    ----------
    text
        Any value; ``str(text)`` is escaped.

    Returns
    -------
    str
        Markdown whose rendered text equals ``text`` apart from leading indentation and
        invisible word joiners.

    Examples
    --------
    >>> print(escape_markdown("see ![x](http://h/p.png) <b>").replace(WORD_JOINER, "~"))
    see !\[x\](http:~//h/p.png) &lt;b&gt;
    >>> print(escape_markdown("1. run-7 and *it*"))
    1\. run-7 and \*it\*
    """
    text = _LINE_INDENT.sub("", _newlines(str(text)))
    text = _BREAKS.sub(WORD_JOINER, text)
    escaped = "".join(_MARKDOWN.get(c, c) for c in text)
    escaped = _LINE_START.sub(lambda m: f"\\{m[1]}" if m[1] else f"{m[2]}\\{m[3]}", escaped)
    return escaped.replace("\n", "  \n")


def markdown_code(text: object) -> str:
    """Return ``text`` as a markdown inline code span (shown in code style, never parsed).

    Whitespace is collapsed (a code span is one line). The backtick fence is longer than
    any run of backticks inside, so the span cannot be closed early; inside a code span no
    link, image, HTML or directive is recognised. A word joiner follows every ``:`` because
    Streamlit rewrites ``:material/`` in the raw source, code spans included.

    >>> markdown_code("a`b")
    '`` a`b ``'
    """
    text = " ".join(str(text).split())
    if not text:
        return ""
    text = re.sub(r"(?<=:)(?=\S)", WORD_JOINER, text)
    runs = [len(r) for r in re.findall(r"`+", text)]
    fence = "`" * (max(runs, default=0) + 1)
    return f"{fence} {text} {fence}"  # one space each side is stripped by the parser


def escape_hover(text: object, *, wrap: int | None = None) -> str:
    """Return ``text`` for a Plotly label that renders as exactly that text.

    Plotly renders a subset of HTML in hover labels, legend entries, tick labels, titles
    and ``text`` (``<a href>``, ``<b>``, ``<i>``, ``<br>``, ``<span style>``, …) and decodes
    entities. ``&``, ``<`` and ``>`` are HTML-escaped, ``$`` (LaTeX) and ``{`` (``%{…}``
    hovertemplate fields, when the text lands in a template) become numeric entities, and
    line breaks become ``<br>`` after escaping.

    Parameters
    ----------
    text
        Any value; ``str(text)`` is escaped.
    wrap
        When given, lines longer than ``wrap`` characters are wrapped at word boundaries
        (before escaping, so entities are never split).

    >>> escape_hover("x < y and z", wrap=5)
    'x &lt; y<br>and z'
    """
    text = _newlines(str(text))
    if wrap is not None:
        text = "\n".join("\n".join(textwrap.wrap(line, wrap) or [""]) for line in text.split("\n"))
    text = html.escape(text, quote=False).replace("$", "&#36;").replace("{", "&#123;")
    return text.replace("\n", "<br>")
