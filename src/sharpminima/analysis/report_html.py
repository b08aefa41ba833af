"""The report as HTML: REPORT_standalone.html (one self-contained file) and the text of
Snakemake's HTML report.

Both are REPORT.md rendered, so the three never disagree. `markdown_html` knows exactly the
Markdown the report writes (headings, paragraphs, pipe tables as tabulate writes them, bullet
lists, links, `code`, **bold**, *italic*); nothing else is needed and no Markdown package is.

`snakemake --report` shows, on its landing page, the workflow description (workflow/report/
workflow.rst) and, beside each result, its caption (workflow/report/*.rst). Both are RST that
Snakemake renders with docutils after Jinja; their `.. include::` of a file that the pipeline
wrote resolves against the working directory. `snakemake_rst` writes that file: blocks of raw
HTML between comment markers (`.. sm:KEY:start` / `.. sm:KEY:end`), one for the landing page
(the whole report), one per figure kind (what the paper says, what ours shows) and one per table
(its caption), which the RST files take with `:start-after:` / `:end-before:`.
"""

from __future__ import annotations

import base64
import html
import os
import re
from collections.abc import Callable
from pathlib import Path

VERDICT_CLASS = {"holds": "v-holds", "partly": "v-partly", "does not hold": "v-fails",
                 "not run": "v-notrun"}

CSS = """
#sm-report { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; line-height: 1.45;
  color: #1f2328; }
#sm-report h1 { font-size: 1.6em; margin: 0.4em 0; }
#sm-report h2 { font-size: 1.3em; margin: 1.2em 0 0.4em; border-bottom: 1px solid #d0d7de; }
#sm-report h3 { font-size: 1.1em; margin: 1em 0 0.3em; }
#sm-report p { margin: 0.4em 0; }
#sm-report .sm-table { overflow-x: auto; margin: 0.5em 0 1em; }
#sm-report table { border-collapse: collapse; font-size: 0.85em; margin: 0; }
#sm-report th, #sm-report td { border: 1px solid #d0d7de; padding: 0.2em 0.5em;
  vertical-align: top; }
#sm-report th { background: #f6f8fa; }
#sm-report td.num { text-align: right; font-variant-numeric: tabular-nums; }
#sm-report td.v-holds { background: #dafbe1; font-weight: 600; }
#sm-report td.v-partly { background: #fff8c5; font-weight: 600; }
#sm-report td.v-fails { background: #ffebe9; font-weight: 600; }
#sm-report td.v-notrun { background: #eaeef2; color: #57606a; }
#sm-report code { background: #eff1f3; padding: 0 0.2em; border-radius: 3px; font-weight: normal; }
#sm-report code::before, #sm-report code::after { content: none; }
#sm-report figure { display: inline-block; margin: 0.5em 1em 0.5em 0; }
#sm-report figure img { max-width: 100%; border: 1px solid #d0d7de; }
#sm-report .sm-note { background: #ddf4ff; border-left: 4px solid #54aeff; padding: 0.4em 0.8em; }
"""

# The Snakemake report (9.x) puts the workflow description in a narrow column (Tailwind
# max-w-lg) of a view that centres its content: a page taller or wider than the screen would
# start off screen, under the menu. Widen the column and align the view to its top left (only
# the view that holds this report; ignored by browsers without :has()).
LANDING_CSS = """
.prose:has(#sm-landing) { max-width: 64rem; }
.h-screen.overflow-auto:has(#sm-landing) { align-items: flex-start; justify-content: flex-start;
  min-width: 0; }
#sm-landing table { margin: 0; }
"""

_CELL_SPLIT = re.compile(r"(?:^|(?<=\s))(?<!\\)\|(?=\s|$)")
_NUMBER = re.compile(r"^[-+]?(\d[\d,]*\.?\d*(e[-+]?\d+)?|nan|inf)$", re.IGNORECASE)


def table_cells(line: str) -> list[str]:
    """The cells of one row of a pipe table as tabulate writes it: a '|' separates cells only
    with whitespace (or the line's end) on both sides, so '|diff|' or '|grad f|' stay text."""
    parts = _CELL_SPLIT.split(line.strip())
    if parts and parts[0].strip() == "":
        parts = parts[1:]
    if parts and parts[-1].strip() == "":
        parts = parts[:-1]
    return [p.strip().replace("\\|", "|") for p in parts]


def _alignments(line: str) -> list[str]:
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    return ["right" if c.endswith(":") and not c.startswith(":") else
            "center" if c.startswith(":") and c.endswith(":") and len(c) > 1 else "left"
            for c in cells]


def _is_separator(line: str) -> bool:
    return bool(re.fullmatch(r"\s*\|?(\s*:?-{3,}:?\s*\|)+\s*:?-*:?\s*\|?\s*", line))


LinkFn = Callable[[str], "str | None"]


def inline(text: str, link: LinkFn = lambda url: url) -> str:
    """Inline Markdown to HTML: `code`, [text](url), **bold**, *italic* and _italic_; `link`
    maps a link's target to its href (None: the text without a link)."""
    out, pos = [], 0
    for m in re.finditer(r"`([^`]+)`|\[([^\]]+)\]\(([^)\s]+)\)", text):
        out.append(_emphasis(html.escape(text[pos:m.start()], quote=False)))
        if m.group(1) is not None:
            out.append(f"<code>{html.escape(m.group(1), quote=False)}</code>")
        else:
            href = link(m.group(3))
            label = _emphasis(html.escape(m.group(2), quote=False))
            out.append(f'<a href="{_attr(href)}">{label}</a>' if href else label)
        pos = m.end()
    out.append(_emphasis(html.escape(text[pos:], quote=False)))
    return "".join(out).replace("\\|", "|")


def _attr(value: str) -> str:
    """A double-quoted attribute's value (single quotes stay: javascript: links use them)."""
    return html.escape(value, quote=False).replace('"', "&quot;")


def _emphasis(text: str) -> str:
    text = re.sub(r"\*\*(\S(?:.*?\S)?)\*\*", r"<strong>\1</strong>", text)
    text = re.sub(r"(?<![\w*])\*(\S(?:.*?\S)?)\*(?![\w*])", r"<em>\1</em>", text)
    return re.sub(r"(?<![\w])_(\S(?:.*?\S)?)_(?!\w)", r"<em>\1</em>", text)


def _slug(text: str) -> str:
    return "sec-" + re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _table(rows: list[str], link: LinkFn) -> str:
    head, align, body = table_cells(rows[0]), _alignments(rows[1]), [table_cells(r)
                                                                     for r in rows[2:]]
    out = ['<div class="sm-table"><table>', "<thead><tr>"]
    out += [f"<th>{inline(c, link)}</th>" for c in head]
    out.append("</tr></thead><tbody>")
    for cells in body:
        out.append("<tr>")
        for i, cell in enumerate(cells):
            classes = [VERDICT_CLASS[cell]] if cell in VERDICT_CLASS else []
            if (align[i] if i < len(align) else "left") == "right" or _NUMBER.match(cell):
                classes.append("num")
            attr = f' class="{" ".join(classes)}"' if classes else ""
            out.append(f"<td{attr}>{inline(cell, link)}</td>")
        out.append("</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


FigureFn = Callable[[str, str], "str | None"]


def markdown_html(md: str, link: LinkFn = lambda url: url,
                  figure: FigureFn | None = None) -> str:
    """The report's Markdown as an HTML fragment. `figure(label, target)`: the HTML of a list item
    that is only a link to a PNG (e.g. the image itself), None to keep it a link."""
    lines, out, i = md.splitlines(), [], 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
        elif m := re.match(r"^(#{1,6})\s+(.*)$", line):
            level, text = len(m.group(1)), m.group(2).strip()
            out.append(f'<h{level} id="{_slug(text)}">{inline(text, link)}</h{level}>')
            i += 1
        elif line.lstrip().startswith("|") and i + 1 < len(lines) and _is_separator(lines[i + 1]):
            j = i + 2
            while j < len(lines) and lines[j].lstrip().startswith("|"):
                j += 1
            out.append(_table(lines[i:j], link))
            i = j
        elif re.match(r"^\s*[-*]\s+", line):
            items = []
            while i < len(lines) and re.match(r"^\s*[-*]\s+", lines[i]):
                items.append(re.sub(r"^\s*[-*]\s+", "", lines[i]))
                i += 1
            out.append(_list(items, link, figure))
        else:
            para, i = [line.strip()], i + 1
            while i < len(lines) and lines[i].strip() and not re.match(
                    r"^(#{1,6}\s|\s*[-*]\s+|\s*\|)", lines[i]):
                para.append(lines[i].strip())
                i += 1
            out.append(f"<p>{inline(' '.join(para), link)}</p>")
    return "\n".join(out)


def _list(items: list[str], link: LinkFn, figure: FigureFn | None) -> str:
    figures, rest = [], []
    for item in items:
        m = re.match(r"^\[([^\]]+)\]\(([^)\s]+\.png)\)(.*)$", item)
        shown = figure(m.group(1), m.group(2)) if figure and m else None
        if shown is not None:
            figures.append(shown)
        else:
            rest.append(f"<li>{inline(item, link)}</li>")
    return "".join(figures) + (f"<ul>{''.join(rest)}</ul>" if rest else "")


def page(md: str, report_dir: Path, title: str = "sharpminima: reproduction report") -> str:
    """REPORT_standalone.html: the report as one file that needs nothing beside it (figures
    embedded as PNG data; their PDFs stay links relative to the report)."""
    def figure(label: str, target: str) -> str | None:
        png = Path(os.path.normpath(Path(report_dir) / target))
        if not png.is_file():
            return None
        data = base64.b64encode(png.read_bytes()).decode()
        pdf = html.escape(target[:-4] + ".pdf")
        return (f'<figure><img alt="{html.escape(label)}" src="data:image/png;base64,{data}">'
                f'<figcaption>{html.escape(label)} (<a href="{pdf}">pdf</a>)</figcaption>'
                "</figure>")

    body = markdown_html(md, figure=figure)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title>\n<style>{CSS}</style></head>\n"
            f'<body><main id="sm-report" style="max-width: 80rem; margin: 1em auto;">\n'
            f"{body}\n</main></body></html>\n")


def result_link(report_dir: Path) -> LinkFn:
    """Links of the landing page: a link to a file of the run opens that result in the Snakemake
    report (its path relative to the working directory, as Snakemake's own RST links do)."""
    def link(url: str) -> str | None:
        if re.match(r"^[a-z]+:", url) or url.startswith("#"):
            return url
        path = os.path.normpath(os.path.join(report_dir, url)).replace(os.sep, "/")
        return f"javascript:app.showResultInfo('{path}')"
    return link


def _without_title(md: str) -> str:
    """The report without its first-level title (the landing page has its own)."""
    return "\n".join(line for line in md.splitlines() if not re.match(r"^#\s", line))


def raw_block(key: str, fragment: str) -> str:
    """One keyed block of the Snakemake report's RST: raw HTML between comment markers."""
    body = "\n".join(("   " + line) if line.strip() else "" for line in fragment.splitlines())
    return f".. sm:{key}:start\n\n.. raw:: html\n\n{body}\n\n.. sm:{key}:end\n"


LANDING_NOTE = ("This page is the run's report (<code>REPORT.md</code>, rendered): what was "
                "reproduced, at what scale, the verdict per claim of the paper, Tables 2-4, the "
                "Hessian, remedies and dynamic-sampling tables, and per figure what the paper "
                "says and what ours shows. The figures themselves are in the menu, one category "
                "per figure, each captioned with the same two lines; <b>Report</b> holds this "
                "report as one file (<code>REPORT_standalone.html</code>, figures embedded).")


def snakemake_rst(md: str, report_dir: Path, figures: dict[str, tuple[str, str | None]],
                  table_captions: dict[str, str]) -> str:
    """The RST that workflow/report/*.rst include (see the module docstring): `figures`: per
    figure kind, (what the paper says, what ours shows or None when not run); `table_captions`:
    per table name, its caption (Markdown)."""
    link = result_link(report_dir)
    landing = (f"<style>{CSS}\n{LANDING_CSS}</style>\n"
               f'<div id="sm-report"><div id="sm-landing">\n'
               f'<p class="sm-note">{LANDING_NOTE}</p>\n'
               f"{markdown_html(_without_title(md), link)}\n</div></div>")
    blocks = [".. Written by `python -m sharpminima report`; included by workflow/report/*.rst.\n",
              raw_block("landing", landing)]
    for kind, (paper, ours) in figures.items():
        blocks.append(raw_block(f"fig:{kind}", (
            f"<p><b>Paper says:</b> {inline(paper)}.</p>\n"
            f"<p><b>Ours shows:</b> {inline(ours) + '.' if ours else '<em>not run</em>'}</p>")))
    for name, caption in table_captions.items():
        blocks.append(raw_block(f"table:{name}", markdown_html(caption, link)))
    return "\n".join(blocks)
