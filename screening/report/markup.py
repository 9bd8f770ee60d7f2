"""HTML building blocks: escaped text, number formats, tables, the page shell.

Tables are plain HTML, already sorted, so they read without JavaScript; a
``sortable`` table carries a ``data-sort`` value in every cell, which the tiny
inline script uses when a header is clicked.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

DASH = "–"


def esc(value) -> str:
    """HTML-escaped text of any value (None and NaN become an en dash)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    return html.escape(str(value))


def _finite(value) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def num(value, digits: int = 2) -> str:
    """A number with ``digits`` significant-looking decimals; NaN/None/inf as a dash."""
    x = _finite(value)
    if x is None:
        return DASH
    if x != 0 and abs(x) < 10 ** -digits:
        return f"{x:.1e}"
    return f"{x:.{digits}f}"


def pval(value) -> str:
    """p or q value: 3 decimals, scientific below 0.001."""
    x = _finite(value)
    if x is None:
        return DASH
    return f"{x:.1e}" if x < 0.001 else f"{x:.3f}"


def integer(value) -> str:
    x = _finite(value)
    return DASH if x is None else f"{int(round(x)):d}"


def conc(value) -> str:
    """Concentration in µM without trailing zeros."""
    x = _finite(value)
    return DASH if x is None else f"{x:g}"


def pct(value) -> str:
    x = _finite(value)
    return DASH if x is None else f"{100 * x:.0f}%"


def ci(low, high, digits: int = 2) -> str:
    if _finite(low) is None and _finite(high) is None:
        return DASH
    return f"{num(low, digits)}–{num(high, digits)}"


@dataclass
class Cell:
    """One table cell: shown HTML, a sort key, and an optional class."""

    html: str
    sort: float | str | None = None
    cls: str = ""


def cell(value, shown: str | None = None, cls: str = "") -> Cell:
    """A cell sorting by ``value`` (numbers numerically), showing ``shown`` or the value."""
    x = _finite(value)
    sort = x if x is not None else ("" if value is None or isinstance(value, float) else str(value))
    return Cell(shown if shown is not None else esc(value), sort, cls)


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Cell | str]],
    *,
    table_id: str | None = None,
    sortable: bool = False,
    caption: str = "",
    row_classes: Sequence[str] | None = None,
    numeric: Sequence[bool] | None = None,
) -> str:
    """An HTML table; header texts are escaped, cells are HTML already (use :func:`esc`)."""
    attrs = f' id="{esc(table_id)}"' if table_id else ""
    attrs += ' class="sortable"' if sortable else ""
    out = [f"<table{attrs}>"]
    if caption:
        out.append(f"<caption>{caption}</caption>")
    numeric = list(numeric) if numeric is not None else [False] * len(headers)
    ths = "".join(
        f'<th scope="col"{" class=num" if numeric[i] else ""}>{esc(h)}</th>' for i, h in enumerate(headers)
    )
    out.append(f"<thead><tr>{ths}</tr></thead><tbody>")
    for i, row in enumerate(rows):
        cls = row_classes[i] if row_classes is not None and row_classes[i] else ""
        out.append(f'<tr class="{cls}">' if cls else "<tr>")
        for j, c in enumerate(row):
            c = c if isinstance(c, Cell) else Cell(str(c))
            classes = " ".join(x for x in (c.cls, "num" if numeric[j] else "") if x)
            a = f' class="{classes}"' if classes else ""
            if sortable and c.sort is not None:
                a += f' data-sort="{esc(c.sort)}"'
            out.append(f"<td{a}>{c.html}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def section(section_id: str, title: str, body: str) -> str:
    return f'<section id="{esc(section_id)}"><h2>{esc(title)}</h2>\n{body}\n</section>'


def note(text: str, kind: str = "note") -> str:
    """A highlighted paragraph (``kind``: note, warn, bad, good); ``text`` is HTML."""
    return f'<p class="{kind}">{text}</p>'


def figure(svg: str, caption: str) -> str:
    return f'<figure>{svg}<figcaption>{caption}</figcaption></figure>'


CSS = """
:root{--fg:#1d232a;--muted:#5b6570;--line:#d9dee3;--bg:#fff;--soft:#f4f6f8;--good:#1a7f37;
--bad:#b42318;--warn:#9a6700;--accent:#0b5cad}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
color:var(--fg);background:var(--bg)}
header.top{background:#12263f;color:#fff;padding:18px 32px 14px}
header.top h1{margin:0 0 4px;font-size:24px}
header.top .meta{color:#c9d4e2;font-size:13px}
nav{background:#0d1d31;padding:6px 32px;font-size:13px}
nav a{color:#c9d4e2;margin-right:16px;text-decoration:none}
nav a:hover{color:#fff;text-decoration:underline}
main{max-width:1200px;margin:0 auto;padding:8px 32px 48px}
h2{font-size:20px;border-bottom:2px solid var(--line);padding-bottom:4px;margin-top:36px}
h3{font-size:16px;margin:24px 0 6px}
.verdict{display:grid;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));gap:14px;margin:18px 0}
.card{border:1px solid var(--line);border-radius:8px;padding:12px 16px;background:var(--soft)}
.card h3{margin:0 0 6px;font-size:14px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}
.card .big{font-size:28px;font-weight:600}
.card ul{margin:6px 0 0;padding-left:18px}
.card.good{border-left:5px solid var(--good)}.card.bad{border-left:5px solid var(--bad)}
.card.warn{border-left:5px solid var(--warn)}
table{border-collapse:collapse;margin:8px 0 16px;font-size:13px;min-width:40%}
caption{text-align:left;color:var(--muted);padding:4px 0;caption-side:bottom;font-size:12px}
th,td{border-bottom:1px solid var(--line);padding:4px 10px;text-align:left;vertical-align:top}
th{background:var(--soft);font-weight:600;white-space:nowrap}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
table.sortable th{cursor:pointer}
table.sortable th:hover{background:#e6ebf0}
tr.hit td{background:#eaf6ec}tr.harm td{background:#fdeceb}tr.fail td{background:#fdeceb}
td.pass{color:var(--good);font-weight:600}td.fail{color:var(--bad);font-weight:600}
p.note{color:var(--muted)}p.warn{color:var(--warn)}p.bad{color:var(--bad)}p.good{color:var(--good)}
figure{margin:12px 0 20px}
figure svg{max-width:100%;height:auto;display:block}
figcaption{color:var(--muted);font-size:13px;margin-top:4px;max-width:900px}
details{margin:8px 0}summary{cursor:pointer;color:var(--accent)}
pre{background:var(--soft);padding:10px;overflow:auto;font-size:12px;max-height:420px}
.facts{display:grid;grid-template-columns:repeat(auto-fit,minmax(340px,1fr));gap:2px 24px;margin:8px 0;
font-size:13px}
.facts div{display:flex;gap:10px;border-bottom:1px solid var(--line);padding:3px 0}
.facts .k{flex:0 0 120px;font-weight:600;color:var(--muted)}
ul.problems li{margin:2px 0}
footer{color:var(--muted);font-size:12px;border-top:1px solid var(--line);margin-top:40px;padding-top:8px}
@media print{nav{display:none}header.top{background:#fff;color:#000}}
"""

# Sorts a table.sortable by the clicked column (data-sort values, numbers numerically,
# empty last); clicking again reverses. No other script runs.
SCRIPT = """
(function(){
  function key(td){var v=td?td.getAttribute('data-sort'):null;
    if(v===null||v===''){return null}var x=parseFloat(v);return isNaN(x)?v.toLowerCase():x}
  document.querySelectorAll('table.sortable').forEach(function(t){
    t.querySelectorAll('th').forEach(function(th,i){
      th.title='click to sort';
      th.addEventListener('click',function(){
        var body=t.tBodies[0],rows=Array.prototype.slice.call(body.rows);
        var dir=th.getAttribute('data-dir')==='asc'?-1:1;
        t.querySelectorAll('th').forEach(function(h){h.removeAttribute('data-dir')});
        th.setAttribute('data-dir',dir===1?'asc':'desc');
        rows.sort(function(a,b){var x=key(a.cells[i]),y=key(b.cells[i]);
          if(x===null&&y===null)return 0;if(x===null)return 1;if(y===null)return -1;
          if(typeof x!==typeof y){x=String(x);y=String(y)}
          return x<y?-dir:x>y?dir:0});
        rows.forEach(function(r){body.appendChild(r)});
      });
    });
  });
})();
"""


def page(title: str, header: str, nav: Sequence[tuple[str, str]], body: str, footer: str) -> str:
    """The whole document: inline style and script, no external resource."""
    links = "".join(f'<a href="#{esc(i)}">{esc(t)}</a>' for i, t in nav)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        # Forbid every request the page could make: only inline style, script and data: images.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">"
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f'<header class="top">{header}</header><nav>{links}</nav>'
        f"<main>{body}<footer>{footer}</footer></main>"
        f"<script>{SCRIPT}</script></body></html>\n"
    )
