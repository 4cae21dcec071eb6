"""Escaping of stored text for Streamlit markdown and Plotly labels (infosynth_core.textsafe).

Judged against real parsers: markdown-it-py (CommonMark, the grammar Streamlit's
react-markdown follows) must see nothing but text in the escaped source, its text must be
the input, and the rewrites Streamlit applies to text *after* parsing (its own regexes,
copied from the Streamlit frontend bundle) must find nothing to rewrite. The browser test
(test_browser_hostile.py) checks the same payloads in the real frontend.
"""

from __future__ import annotations

import doctest
import html
import re

import pytest
from markdown_it import MarkdownIt

from infosynth_core import textsafe
from infosynth_core.textsafe import WORD_JOINER, escape_hover, escape_markdown, markdown_code

HOSTILE = [
    "![x](http://127.0.0.2:9/pixel.png)",
    "<img src=http://127.0.0.2:9/img.png>",
    '<a href="http://127.0.0.2:9/">link</a>',
    "<b>bold</b> <i>it</i>",
    "[click](javascript:alert(1))",
    "<script>alert(1)</script>",
    '<iframe src="http://127.0.0.2:9/frame"></iframe>',
    "<http://127.0.0.2:9/auto> and http://127.0.0.2:9/bare and www.example.com/x",
    "mail me: evil@example.com",
    "[ref]: http://127.0.0.2:9/ref\n\n[ref]",
    "**bold** _it_ ~~gone~~ `code` $x^2$ $$y$$",
    "# heading\n- item\n1. first\n> quote\n\n    indented code\n\n---",
    "| a | b |\n|---|---|\n| 1 | 2 |",
    ":red[red] :blue-background[bg] :material/home: :streamlit: :smile: :+1: :help[tip]",
    "a -> b <- c <-> d -- e >= f <= g ~= h",
    "&lt;b&gt; &amp; &#60;script&#62; &copy;",
    "back\\slash \\*not\\* and \\",
    "x < y && y > z; 5 % 2 == 1; d = {'k': [1, 2]}",
    "```python\nimport os\n```",
    "trailing two spaces  \nnext line\r\nwindows\rold mac",
    "Title\n===\nSub\n---\n+ plus\n1) one\n2. two\n- [ ] task\n#not-heading",
    "[^1] and [^1]: a footnote\n\n<!-- comment --> <?php ?> <![CDATA[x]]>",
    "hard\\\nbreak\n\tcode\n        more code\n* star\n***",
    "1. run-7, (a) [b] {c} !d 'e' \"f\" ;g ?h /i ^j +k =l .m",
]

ALLOWED_TOKENS = {"paragraph_open", "paragraph_close", "inline", "text", "softbreak", "hardbreak"}

# Streamlit's rewrites of parsed text nodes and its checks of the raw source
# (frontend StreamlitMarkdown, remark-gfm's mdast-util-gfm-autolink-literal).
AUTOLINK_URL = re.compile(r"(https?://|www(?=\.))([-.\w]+)([^ \t\r\n]*)", re.I)
AUTOLINK_EMAIL = re.compile(r"([-.\w+]+)@([-\w]+(?:\.[-\w]+)+)")
MATERIAL_ICON = re.compile(r":material_(\w+):")
STREAMLIT_LOGO = re.compile(r":streamlit:")
EMOJI_IN_SOURCE = re.compile(r":(?!material/|streamlit:)[\w+-][\w_+-]*:")
EMOJI_SHORTCODE = re.compile(r":\+1:|:-1:|:[\w-]+:")
MATH_IN_SOURCE = re.compile(r"\$\$[\s\S]+?\$\$|\$(?!\s)[^$\n]+?(?<!\s)\$")
TYPOGRAPHIC = re.compile(r"(^|\s)(<->|->|<-|--|>=|<=|~=)(\s|$)")


def _md() -> MarkdownIt:
    return MarkdownIt("commonmark").enable(["table", "strikethrough"])


def _render(source: str) -> tuple[list, list[str], str]:
    """Block tokens, text-node contents, visible text of ``source`` as Streamlit would see it
    (``:material/`` is replaced in the raw source before parsing, as Streamlit does)."""
    tokens = _md().parse(source.replace(":material/", ":material_"))
    texts, visible = [], []
    for tok in tokens:
        if tok.type == "inline":
            for child in tok.children or []:
                if child.type == "text":
                    texts.append(child.content)
                    visible.append(child.content)
                else:
                    visible.append("\n")
                    texts.append("")
        elif tok.type == "paragraph_open" and visible:
            visible.append("\n\n")
    return tokens, texts, "".join(visible)


def _words(text: str) -> list[str]:
    return text.replace(WORD_JOINER, "").split()


@pytest.mark.parametrize("text", HOSTILE)
def test_escaped_markdown_parses_to_plain_text_only(text):
    tokens, _, _ = _render(escape_markdown(text))
    seen = {t.type for t in tokens} | {c.type for t in tokens for c in t.children or []}
    assert seen <= ALLOWED_TOKENS, seen - ALLOWED_TOKENS


@pytest.mark.parametrize("text", HOSTILE)
def test_escaped_markdown_shows_the_input(text):
    _, _, visible = _render(escape_markdown(text))
    assert _words(visible) == text.split()


@pytest.mark.parametrize(
    "text", [t for t in HOSTILE if "\n" not in t and "\r" not in t and t == t.strip()]
)
def test_escaped_single_line_shows_exactly_the_input(text):
    _, _, visible = _render(escape_markdown(text))
    assert visible.replace(WORD_JOINER, "") == text


def test_escaped_lines_stay_lines():
    _, _, visible = _render(escape_markdown("first\nsecond\n\n  third"))
    assert visible.replace(WORD_JOINER, "").split("\n") == ["first", "second", "", "third"]


@pytest.mark.parametrize("text", HOSTILE)
def test_streamlit_text_rewrites_find_nothing(text):
    source = escape_markdown(text)
    _, texts, _ = _render(source)
    for node in texts:
        for rewrite in (AUTOLINK_URL, AUTOLINK_EMAIL, MATERIAL_ICON, STREAMLIT_LOGO):
            assert not rewrite.search(node), (rewrite.pattern, node)
        assert not EMOJI_SHORTCODE.search(node), node
        assert not TYPOGRAPHIC.search(node), node
    assert not EMOJI_IN_SOURCE.search(source)  # remark-emoji is not even loaded
    assert not MATH_IN_SOURCE.search(source)  # nor KaTeX
    # a word joiner follows every ':' that is not followed by a space, so remark-directive
    # (`:red[…]`, `:help[…]`: a name starts with a letter) never starts
    assert not re.search(rf":(?=[^\s{WORD_JOINER}])", source)


def test_unescaped_payloads_are_markup_indeed():
    """The payloads are real: without escaping, the same parser finds links, images, HTML."""
    seen = set()
    for text in HOSTILE:
        tokens, texts, _ = _render(text)
        seen |= {t.type for t in tokens} | {c.type for t in tokens for c in t.children or []}
        seen |= {"autolink literal"} if any(AUTOLINK_URL.search(n) for n in texts) else set()
    assert {"image", "link_open", "html_inline", "html_block", "autolink literal"} <= seen


def test_escape_markdown_inside_markup_stays_inside():
    tokens, _, _ = _render(f"**{escape_markdown('a** [x](http://h) **b')}** · done")
    kinds = [c.type for t in tokens for c in t.children or []]
    assert kinds.count("strong_open") == 1 and "link_open" not in kinds


def test_escape_markdown_accepts_any_value():
    assert escape_markdown(42) == "42"
    assert escape_markdown("") == ""


@pytest.mark.parametrize(
    "text", ["seed-001", "a`b", "``x``", "<b>x</b> ![i](http://h/p.png)", ":material/home:"]
)
def test_markdown_code_is_one_code_span_with_the_text(text):
    tokens, _, _ = _render(f"parent {markdown_code(text)} ok")
    children = [c for t in tokens for c in t.children or []]
    codes = [c for c in children if c.type == "code_inline"]
    assert len(codes) == 1 and {c.type for c in children} == {"text", "code_inline"}
    assert codes[0].content.replace(WORD_JOINER, "") == text
    assert ":material/" not in markdown_code(text)  # Streamlit rewrites it in the raw source


def test_markdown_code_of_blank_is_empty():
    assert markdown_code("  \n ") == ""


class _PlotlyText:
    """What Plotly's svg_text_utils.convertToTspans makes of a label: the tags it would
    interpret and the text it shows (entities decoded once, ``<br>`` as a line break)."""

    TAG = re.compile(r"<[^<>]*>")

    def __init__(self, label: str):
        self.tags = [t.lower() for t in self.TAG.findall(label)]
        self.text = html.unescape(self.TAG.sub(lambda m: "\n" if m[0] == "<br>" else "", label))


@pytest.mark.parametrize("text", HOSTILE)
def test_escape_hover_leaves_no_tags_and_shows_the_input(text):
    label = _PlotlyText(escape_hover(text))
    assert set(label.tags) <= {"<br>"}
    expected = text.replace("\r\n", "\n").replace("\r", "\n")
    assert label.text == expected
    assert "$" not in escape_hover(text) and "%{" not in escape_hover(text)


def test_escape_hover_wraps_before_escaping():
    label = escape_hover("<b> " * 40, wrap=20)
    assert all(len(html.unescape(line)) <= 20 for line in label.split("<br>"))
    assert "&l<br>" not in label and _PlotlyText(label).tags == ["<br>"] * label.count("<br>")


def test_docstring_examples():
    result = doctest.testmod(textsafe)
    assert result.attempted >= 4 and not result.failed
