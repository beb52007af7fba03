"""index.html: one self-contained page (inline CSS and JS, figures as data URIs) with a table that
sorts on a header click, so it opens from disk or any static host without network. The leaderboard's
sort is kept in the address (#sort=<column>, #sort=-<column> for descending), so a sorted view can be
linked, and a headless browser can check the sort by opening such an address."""

from __future__ import annotations

import base64
import html

from leaderboard.analyses import Analysis, NotAvailable
from leaderboard.cells import LEGEND, cell, display_columns, frame_text
from leaderboard.table import Leaderboard

STYLE = """body{font-family:system-ui,sans-serif;margin:1.5em}table{border-collapse:collapse;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:right}th{background:#eee;cursor:pointer;position:sticky;top:0}
td:nth-child(2),th:nth-child(2){text-align:left}th.asc:after{content:" \\25B2"}th.desc:after{content:" \\25BC"}
.wrap{overflow-x:auto}img{max-width:100%}"""

SCRIPT = """document.querySelectorAll('table.sortable th').forEach(function(th){th.addEventListener('click',function(){
var table=th.closest('table'),i=Array.prototype.indexOf.call(th.parentNode.children,th),body=table.tBodies[0];
var dir=th.classList.contains('asc')?-1:1;table.querySelectorAll('th').forEach(function(h){h.classList.remove('asc','desc')});
th.classList.add(dir>0?'asc':'desc');var rows=Array.prototype.slice.call(body.rows);
rows.sort(function(a,b){var x=a.cells[i].dataset.v,y=b.cells[i].dataset.v;if(x===undefined)return 1;if(y===undefined)return -1;
var p=parseFloat(x),q=parseFloat(y);if(!isNaN(p)&&!isNaN(q))return dir*(p-q);return dir*x.localeCompare(y)});
rows.forEach(function(r){body.appendChild(r)});if(table.id==='leaderboard')
history.replaceState(null,'','#sort='+(dir>0?'':'-')+encodeURIComponent(th.textContent))})});
(function(){var m=/^#sort=(-?)(.+)$/.exec(location.hash);if(!m)return;var name=decodeURIComponent(m[2]);
document.querySelectorAll('#leaderboard th').forEach(function(th){if(th.textContent===name){th.click();
if(m[1])th.click()}})})();"""


def _td(text: str, value: object) -> str:
    attr = "" if value is None else f' data-v="{html.escape(str(value))}"'
    return f"<td{attr}>{html.escape(text)}</td>"


def _plain_table(header: list[str], rows: list[list[str]], sortable: bool = False) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(_td(c, c) for c in row) + "</tr>" for row in rows)
    return (
        f'<table class="{"sortable" if sortable else ""}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    )


def render_html(board: Leaderboard, analyses: dict[str, Analysis], plots: dict[str, bytes | NotAvailable]) -> str:
    columns = display_columns(board)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(_td(*cell(board, row, c)) for c in columns) + "</tr>" for _, row in board.table.iterrows()
    )
    parts = [
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>ccbench leaderboard</title>',
        f"<style>{STYLE}</style></head><body><h1>ccbench leaderboard</h1>",
        f'<div class="wrap"><table class="sortable" id="leaderboard"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>",
        f"<p>{html.escape(LEGEND)} Click a header to sort.</p>",
        "<h2>Notes</h2><ul>",
        *[f"<li>{html.escape(n)}</li>" for n in board.notes],
        "</ul><h2>Analyses</h2>",
    ]
    for title, result in analyses.items():
        parts.append(f"<h3>{html.escape(title)}</h3>")
        if isinstance(result, NotAvailable):
            parts.append(f"<p>{html.escape(str(result))}</p>")
        elif title.startswith("4."):
            parts.append(f"<p>{len(result)} normalized scores; see the figure below.</p>")
        else:
            parts.append(_plain_table(list(result.columns), frame_text(result), sortable=True))
    parts.append("<h2>Figures</h2>")
    for stem, item in plots.items():
        if isinstance(item, NotAvailable):
            parts.append(f"<p>{html.escape(stem)}: {html.escape(str(item))}</p>")
        else:
            data = base64.b64encode(item).decode()
            parts.append(
                f'<h3>{html.escape(stem)}</h3><img alt="{html.escape(stem)}" src="data:image/png;base64,{data}">'
            )
    parts.append(f"<script>{SCRIPT}</script></body></html>")
    return "\n".join(parts) + "\n"
