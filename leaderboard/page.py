"""index.html: one self-contained page (inline CSS and JS, figures as data URIs) that opens from disk or any
static host without network.

Sections: an overview (rank, metadata, overall and category means), one table per category with its
tasks (so a category fits a screen: at 1400 px the widest, nine tasks, needs no horizontal scroll),
the figures with their readings, the analyses' tables and the notes. With JavaScript the sections are
tabs (the address names the open one, #cat-<category>, or anything in it, #fig-<stem>); without it every section shows, one under the
other, and the tabs are plain links to them. Headers and the encoder column stay put while a table
scrolls (sticky). A header click sorts its table; the sort is kept in the address (#sort=<column>,
#sort=-<column> for descending, columns named as in leaderboard.csv), which opens the tab that has it.
"""

from __future__ import annotations

import base64
import html
import re

import pandas as pd

from leaderboard.analyses import Analysis, NotAvailable
from leaderboard.cells import LEGEND, cell, cell_shades, frame_text, heading
from leaderboard.colours import style
from leaderboard.figures import Plot
from leaderboard.table import Leaderboard

OVERVIEW = ["rank", "name", "method", "pretrain_data", "pretrain_images", "pretrain_epochs", "overall"]
LABELS = {"pretrain_data": "data", "pretrain_images": "images", "pretrain_epochs": "epochs"}
"""Short headers for the pre-training metadata (their titles say what they are; data-col keeps the CSV name)."""
STICKY = ("rank", "name")  # the columns that stay while a table scrolls sideways

STYLE = """body{font-family:system-ui,sans-serif;margin:0 1.2em 2em;color:#111}
header{padding:.6em 0 .3em;border-bottom:1px solid #ccc}
h1{margin:0 0 .2em;font-size:1.4em}.sub{margin:0 0 .4em;color:#444;font-size:13px}
nav.tabs a{display:inline-block;padding:.3em .7em;margin:0 .2em .2em 0;border:1px solid #bbb;border-radius:4px;
color:#124;text-decoration:none;font-size:13px}nav.tabs a.active{background:#124;color:#fff;border-color:#124}
.js section.tab{display:none}.js section.tab.active{display:block}section.tab{padding-top:.4em}
.wrap{overflow:auto;max-height:78vh;border:1px solid #ccc}
table{border-collapse:separate;border-spacing:0;font-size:13px}
th,td{border-right:1px solid #ddd;border-bottom:1px solid #ddd;padding:3px 6px;text-align:right;white-space:nowrap}
thead th{position:sticky;top:0;z-index:2;background:#eef;cursor:pointer;vertical-align:bottom;white-space:normal;
max-width:9em}
th small{display:block;font-weight:normal;color:#333}th.asc:after{content:" \\25B2"}th.desc:after{content:" \\25BC"}
.board .s-rank{position:sticky;left:0;z-index:1;background:#fff;width:3.8em;min-width:3.8em;max-width:3.8em;
box-sizing:border-box}.board .s-name{position:sticky;left:3.8em;z-index:1;background:#fff;text-align:left;
max-width:14em;overflow:hidden;text-overflow:ellipsis}.board thead .s-rank,.board thead .s-name{z-index:3;
background:#eef}td.meta{text-align:left}
figure{margin:1.2em 0;padding-bottom:1em;border-bottom:1px solid #eee}figure img{max-width:100%}
figcaption{font-size:14px;max-width:70em}.reading{display:block;margin:.3em 0;font-weight:600}
.note{display:block;color:#8a4b00}.legend{font-size:13px;max-width:80em;color:#333}"""

SCRIPT = """(function(){var root=document.documentElement;root.classList.add('js');
var tabs=document.querySelectorAll('section.tab'),links=document.querySelectorAll('nav.tabs a');
function show(id){var target=id&&document.getElementById(id),section=target&&target.closest('section.tab');
id=section?section.id:tabs[0].id;tabs.forEach(function(s){s.classList.toggle('active',s.id===id)});
links.forEach(function(a){a.classList.toggle('active',a.getAttribute('href')==='#'+id)});
if(target&&target!==section)target.scrollIntoView()}
function sortBy(th,dir){var table=th.closest('table'),i=Array.prototype.indexOf.call(th.parentNode.children,th),
body=table.tBodies[0];table.querySelectorAll('th').forEach(function(h){h.classList.remove('asc','desc')});
th.classList.add(dir>0?'asc':'desc');var rows=Array.prototype.slice.call(body.rows);
rows.sort(function(a,b){var x=a.cells[i].dataset.v,y=b.cells[i].dataset.v;if(x===undefined)return 1;
if(y===undefined)return -1;var p=parseFloat(x),q=parseFloat(y);if(!isNaN(p)&&!isNaN(q))return dir*(p-q);
return dir*x.localeCompare(y)});rows.forEach(function(r){body.appendChild(r)})}
document.querySelectorAll('table.sortable th').forEach(function(th){th.addEventListener('click',function(){
var dir=th.classList.contains('asc')?-1:1;sortBy(th,dir);if(th.dataset.col&&th.closest('table.board'))
history.replaceState(null,'','#sort='+(dir>0?'':'-')+encodeURIComponent(th.dataset.col))})});
function route(){var m=/^#sort=(-?)(.+)$/.exec(location.hash);if(m){var name=decodeURIComponent(m[2]);
var th=Array.prototype.find.call(document.querySelectorAll('table.board th'),function(h){
return h.dataset.col===name});if(th){show(th.closest('section.tab').id);sortBy(th,m[1]?-1:1);return}}
show(location.hash.slice(1))}
window.addEventListener('hashchange',route);route()})();"""


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _td(text: str, value: object, attrs: str = "") -> str:
    sort = "" if value is None else f' data-v="{html.escape(str(value))}"'
    return f"<td{sort}{attrs}>{html.escape(text)}</td>"


def _plain_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f'<th scope="col">{html.escape(h)}</th>' for h in header)
    body = "".join("<tr>" + "".join(_td(c, c) for c in row) + "</tr>" for row in rows)
    return f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _th(board: Leaderboard, column: str) -> str:
    line, title = heading(board, column)
    sub = f'<small><abbr title="{html.escape(title)}">{html.escape(line)}</abbr></small>' if line else ""
    sticky = f' class="s-{column}"' if column in STICKY else ""
    return (
        f'<th scope="col" data-col="{html.escape(column)}" title="{html.escape(title)}"{sticky}>'
        f"{html.escape(LABELS.get(column, column)).replace('_', '_<wbr>')}{sub}</th>"
    )


def board_table(board: Leaderboard, columns: list[str], table_id: str, shade: pd.DataFrame) -> str:
    """One sortable table of the board's rows in `columns`, each score cell shaded by its column's scale."""
    head = "".join(_th(board, c) for c in columns)
    rows = []
    for index, row in board.table.iterrows():
        cells = []
        for column in columns:
            text, value = cell(board, row, column)
            scored = column in shade.columns
            position = shade.at[index, column] if scored else float("nan")
            kind = f"s-{column}" if column in STICKY else "" if scored else "meta"
            attrs = f' class="{kind}"' if kind else ""
            if pd.notna(position):
                attrs += f' style="{style(position)}" data-shade="{position:.4f}"'
            cells.append(_td(text, value, attrs))
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<div class="wrap"><table class="board sortable" id="{table_id}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _figure(plot: Plot) -> str:
    number = f"Figure {plot.number} (paper). " if plot.number else ""
    parts = [
        f'<figure id="fig-{html.escape(plot.stem)}"><figcaption><b>{html.escape(number + plot.title)}</b> ',
        html.escape(plot.caption),
    ]
    if isinstance(plot.png, NotAvailable):
        parts.append(f'<span class="note">Not drawn: {html.escape(plot.png.reason)}.</span>')
    else:
        parts.append(f'<span class="reading">Reading: {html.escape(plot.reading)}</span>')
        if plot.note:
            parts.append(f'<span class="note">{html.escape(plot.note)}</span>')
    parts.append("</figcaption>")
    if not isinstance(plot.png, NotAvailable):
        data = base64.b64encode(plot.png).decode()
        alt = html.escape(f"{plot.title}. {plot.reading}")
        parts.append(f'<img alt="{alt}" src="data:image/png;base64,{data}">')
    return "".join(parts) + "</figure>"


def _analyses(analyses: dict[str, Analysis]) -> list[str]:
    parts = []
    for title, result in analyses.items():
        parts.append(f"<h3>{html.escape(title)}</h3>")
        if isinstance(result, NotAvailable):
            parts.append(f"<p>{html.escape(str(result))}</p>")
        elif title.startswith("4."):
            parts.append(f"<p>{len(result)} normalized scores; see the figures.</p>")
        else:
            parts.append(f'<div class="wrap">{_plain_table(list(result.columns), frame_text(result))}</div>')
    return parts


def render_html(board: Leaderboard, analyses: dict[str, Analysis], plots: list[Plot]) -> str:
    shade = cell_shades(board)
    tables: list[tuple[str, str, str]] = [
        ("overview", "Overview", board_table(board, [*OVERVIEW, *board.categories], "leaderboard", shade))
    ]
    for category in board.categories:
        tasks = [t for t in board.tasks if board.task_category[t] == category]
        columns = ["rank", "name", category, *tasks]
        tables.append(
            (f"cat-{slug(category)}", f"{category} ({len(tasks)})", board_table(board, columns, slug(category), shade))
        )
    unranked = [t for t in board.tasks if board.task_category[t] not in board.categories]
    if unranked:
        tables.append(
            ("other", f"other ({len(unranked)})", board_table(board, ["rank", "name", *unranked], "other", shade))
        )
    legend = f'<p class="legend">{html.escape(LEGEND)} Click a header to sort.</p>'
    sections = [(sid, label, content + legend) for sid, label, content in tables]
    sections.append(("figures", "Figures", "".join(_figure(p) for p in plots)))
    sections.append(("analyses", "Analyses", "".join(_analyses(analyses))))
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in board.notes)
    sections.append(("notes", "Notes", f"<ul>{notes}</ul>"))
    supervised = "none (z-scores)" if board.supervised is None else board.encoders.at[board.supervised, "name"]
    summary = f"{len(board.table)} encoders, {len(board.tasks)} tasks; supervised reference: {supervised}."
    nav = "".join(f'<a href="#{sid}">{html.escape(label)}</a>' for sid, label, _ in sections)
    body = "".join(
        f'<section class="tab" id="{sid}"><h2>{html.escape(label)}</h2>{content}</section>'
        for sid, label, content in sections
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>ccbench leaderboard</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{STYLE}</style></head><body><header><h1>ccbench leaderboard</h1>"
        f'<p class="sub">{html.escape(summary)}</p><nav class="tabs">{nav}</nav></header>'
        f"<main>{body}</main><script>{SCRIPT}</script></body></html>\n"
    )
