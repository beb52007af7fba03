"""index.html in a real browser (headless Chromium over its DevTools pipe, tests/browser.py), on a board of
the whole battery: a category's columns fit 1400 px, headers and the encoder column stay while a table
scrolls, cell shades order like the normalized score, every figure shows with its labels and reading,
the address sorts and opens tabs, every section shows with JavaScript off, and a PNG screenshot of every
section is kept (under pytest's temporary folder: `pytest --basetemp=DIR` keeps them in DIR/screenshots0).
Skips when no Chromium is installed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from leaderboard.collect import load_results
from leaderboard.render import build
from leaderboard.table import Leaderboard, build_table
from tests.browser import BROWSER, Browser
from tests.test_leaderboard import full_battery

pytestmark = [
    pytest.mark.e2e,  # one whole-battery build (about 20 s) and a browser per test
    pytest.mark.skipif(
        BROWSER is None, reason="no chromium, chromium-browser or google-chrome on PATH (apt-get install chromium)"
    ),
]
TAB_BLUE = np.array([31, 119, 180])  # matplotlib's first colour: only the figures have it, never the page's CSS
WIDTH = 1400
SECTIONS = ["overview", "cat-semantic-image", "cat-structural-image", "cat-semantic-pixel", "cat-structural-pixel"]
SECTIONS += ["figures", "analyses", "notes"]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Leaderboard]:
    results = tmp_path_factory.mktemp("browser") / "results"
    results.mkdir()
    full_battery(results)
    return build(results, results.parent / "out")["html"], build_table(load_results(results))


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    chromium = Browser(tmp_path / "profile", WIDTH, 900)
    yield chromium
    chromium.close()


def show(browser: Browser, page: Path, address: str = "") -> None:
    """A fresh load of the page at `address` (from a blank page: a change of the fragment alone would not reload)."""
    browser.open("about:blank")
    browser.open(page.as_uri() + address)


def switch(browser: Browser, section: str) -> None:
    """Follow the tab link to `section` and wait for the page to handle it."""
    browser.evaluate(
        "new Promise(r => { addEventListener('hashchange', () => r(1), {once: true}); "
        f"document.querySelector('nav.tabs a[href=\"#{section}\"]').click(); }})"
    )


def active(browser: Browser) -> str:
    return browser.evaluate("document.querySelector('section.tab.active').id")


def column(browser: Browser, table: str, name: str) -> list[dict]:
    """Every body cell of column `name` (its data-col) of table #`table`: encoder, text, computed colour."""
    return browser.evaluate(
        f"""(() => {{ const t = document.getElementById({table!r});
        const i = [...t.tHead.rows[0].cells].findIndex(h => h.dataset.col === {name!r});
        return [...t.tBodies[0].rows].map(r => ({{name: r.querySelector('.s-name').textContent,
          text: r.cells[i].textContent, v: r.cells[i].dataset.v === undefined ? null : +r.cells[i].dataset.v,
          bg: getComputedStyle(r.cells[i]).backgroundColor}})); }})()"""
    )


def luminance(css: str) -> float:
    r, g, b = (float(v) for v in css[css.index("(") + 1 : css.index(")")].split(",")[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


@pytest.mark.parametrize(
    "address, section, table, first, header",
    [
        ("", "overview", "leaderboard", "MoCo v2 Taskonomy #11", None),  # rank order
        ("#sort=-imagenet", "cat-semantic-image", "semantic-image", "MoCo v2 Taskonomy #11", ("imagenet", "desc")),
        ("#sort=pets", "cat-semantic-image", "semantic-image", "SwAV ImageNet #00", ("pets", "asc")),
        ("#sort=name", "overview", "leaderboard", "MoCo v2 Places #01", ("name", "asc")),
        ("#cat-structural-pixel", "cat-structural-pixel", "structural-pixel", "MoCo v2 Taskonomy #11", None),
    ],
)
def test_address_opens_the_tab_and_sorts(
    built: tuple[Path, Leaderboard],
    browser: Browser,
    address: str,
    section: str,
    table: str,
    first: str,
    header: tuple[str, str] | None,
) -> None:
    show(browser, built[0], address)
    assert active(browser) == section
    names = [c["name"] for c in column(browser, table, "rank")]
    assert names[0] == first and len(names) == 13
    if header is not None:
        classes = browser.evaluate(f"document.querySelector('#{table} th[data-col={header[0]}]').className")
        assert header[1] in classes.split()
    hidden = browser.evaluate("[...document.querySelectorAll('section.tab')].filter(s => s.offsetHeight === 0).length")
    assert hidden == len(SECTIONS) - 1, "JavaScript on: one tab shows, the others are hidden"


def test_every_category_fits_1400_px_without_horizontal_scroll(
    built: tuple[Path, Leaderboard], browser: Browser
) -> None:
    page, board = built
    for category in board.categories:
        show(browser, page, f"#cat-{category}")
        fit = browser.evaluate(
            f"""(() => {{ const t = document.getElementById({category!r}), w = t.parentElement;
            return {{scroll: w.scrollWidth, client: w.clientWidth, page: document.documentElement.scrollWidth,
              right: Math.max(...[...t.tHead.rows[0].cells].map(h => h.getBoundingClientRect().right)),
              columns: t.tHead.rows[0].cells.length}}; }})()"""
        )
        tasks = [t for t in board.tasks if board.task_category[t] == category]
        assert fit["columns"] == 3 + len(tasks)
        assert fit["scroll"] <= fit["client"] and fit["page"] <= WIDTH and fit["right"] <= WIDTH, (category, fit)


def test_header_and_encoder_column_stay_when_the_table_scrolls(tmp_path: Path, built: tuple[Path, Leaderboard]) -> None:
    narrow = Browser(tmp_path / "narrow", 700, 300)  # the table is taller and wider than its box here
    try:
        show(narrow, built[0], "#cat-semantic-image")
        place = """(() => { const t = document.getElementById('semantic-image'), w = t.parentElement;
            const top = e => { const r = e.getBoundingClientRect(); return {top: r.top, left: r.left}; };
            return {wrap: top(w), th: top(t.querySelector('th[data-col=pets]')),
              row: top(t.tBodies[0].rows[0]), name: top(t.tBodies[0].rows[5].querySelector('.s-name')),
              task: top(t.tBodies[0].rows[5].cells[5]), scrollTop: w.scrollTop, scrollLeft: w.scrollLeft}; })()"""
        before = narrow.evaluate(place)
        narrow.evaluate(
            "(w => { w.scrollTop = 100; w.scrollLeft = 400; })(document.getElementById('semantic-image').parentElement)"
        )
        after = narrow.evaluate(place)
    finally:
        narrow.close()
    assert after["scrollTop"] == 100 and after["scrollLeft"] == 400, "the table scrolls inside its box"
    assert after["row"]["top"] == pytest.approx(before["row"]["top"] - 100), "the rows moved up"
    assert after["th"]["top"] == pytest.approx(before["th"]["top"]) == pytest.approx(before["wrap"]["top"] + 1)
    assert after["task"]["left"] == pytest.approx(before["task"]["left"] - 400), "the task cells moved left"
    assert after["name"]["left"] == pytest.approx(before["name"]["left"]), "the encoder column stayed"


def test_cell_shades_order_like_the_normalized_score(built: tuple[Path, Leaderboard], browser: Browser) -> None:
    page, board = built
    show(browser, page)
    names = board.encoders["name"]
    for category in board.categories:
        for task in [category, *(t for t in board.tasks if board.task_category[t] == category)]:
            cells = column(browser, category, task)
            score = (
                board.table.set_index("name")[task]
                if task == category
                else board.normalized.values[task].rename(index=names)
            )
            pairs = [(score[c["name"]], luminance(c["bg"])) for c in cells]
            for s, light in pairs:
                for t, other in pairs:
                    if s < t - 1e-9:
                        assert light > other, f"{task}: a better normalized score has a darker cell"
                    elif abs(s - t) <= 1e-9:
                        assert light == other, f"{task}: equal scores, equal shades"
            assert len({light for _, light in pairs}) >= 5, f"{task}: the shades spread over the scale"
    depth = column(browser, "structural-pixel", "nyu_depth")
    darkest = min(depth, key=lambda c: luminance(c["bg"]))
    assert darkest["v"] == min(c["v"] for c in depth) > 0, "an error column: the smallest error is darkest"
    header = browser.evaluate("document.querySelector('#structural-pixel th[data-col=nyu_depth] abbr').outerHTML")
    assert "↓ L1 (depth unit)" in header and "lower is better" in header and "not a percent" in header
    top1 = browser.evaluate("document.querySelector('#semantic-image th[data-col=imagenet] abbr').outerHTML")
    assert "↑ top-1 %" in top1 and "higher is better" in top1
    imagenet = column(browser, "semantic-image", "imagenet")
    assert {c["text"] for c in imagenet} >= {"80.0 ±0.4", "30.0 ±0.4"}, "fractions read in percent"


def test_every_figure_shows_with_its_labels_and_reading(
    built: tuple[Path, Leaderboard], browser: Browser, tmp_path: Path
) -> None:
    show(browser, built[0], "#fig-pearson_matrix")  # an address inside a tab opens that tab
    assert active(browser) == "figures"
    figures = browser.evaluate(
        """[...document.querySelectorAll('#figures figure')].map(f => ({id: f.id,
        caption: f.querySelector('figcaption').textContent, reading: (f.querySelector('.reading') || {}).textContent,
        width: f.querySelector('img') ? f.querySelector('img').naturalWidth : 0,
        shown: f.querySelector('img') ? f.querySelector('img').getBoundingClientRect().width : 0}))"""
    )
    ids = [f["id"] for f in figures]
    assert ids == [
        "fig-imagenet_scatter",
        "fig-mocov2_vs_swav",
        "fig-category_distribution",
        "fig-data_similarity",
        "fig-cka",
        "fig-pearson_matrix",
        "fig-spearman_matrix",
        "fig-seed_variance",
    ]
    for figure in figures:
        if figure["id"] == "fig-cka":  # no `ccbench cka` run in this results folder
            assert "Not drawn: no CKA runs yet" in figure["caption"] and figure["width"] == 0
            continue
        assert figure["reading"].startswith("Reading: ") and len(figure["reading"]) > 40, figure
        assert figure["width"] > 300 and 0 < figure["shown"] <= WIDTH, figure
    numbers = [f["caption"].split(" (paper)")[0] for f in figures if "(paper)" in f["caption"]]
    assert numbers == [f"Figure {n}" for n in (3, 4, 5, 6, 7, 13, 14)]
    shot = browser.screenshot(tmp_path / "figures.png", "#figures")
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert (np.abs(pixels - TAB_BLUE).sum(axis=-1) < 30).sum() > 1000, "the embedded PNGs did not render"


def test_without_javascript_every_section_shows(built: tuple[Path, Leaderboard], browser: Browser) -> None:
    browser.send("Emulation.setScriptExecutionDisabled", value=True)
    show(browser, built[0], "#figures")
    sections = browser.evaluate("[...document.querySelectorAll('section.tab')].map(s => [s.id, s.offsetHeight])")
    links = browser.evaluate("[...document.querySelectorAll('nav.tabs a')].map(a => a.getAttribute('href'))")
    assert [s for s, _ in sections] == SECTIONS and all(height > 50 for _, height in sections)
    assert links == [f"#{s}" for s in SECTIONS], "the tabs are links to the sections"


def test_a_screenshot_of_every_section(
    built: tuple[Path, Leaderboard], browser: Browser, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.mktemp("screenshots")
    show(browser, built[0])
    for section in SECTIONS:
        switch(browser, section)
        assert active(browser) == section
        box = browser.evaluate(
            f"(r => [r.width, r.height])(document.getElementById('{section}').getBoundingClientRect())"
        )
        path = browser.screenshot(folder / f"{section}.png", f"#{section}")
        image = Image.open(path)
        assert path.stat().st_size > 5000 and all(abs(a - b) <= 1 for a, b in zip(image.size, box)), (
            section,
            image.size,
            box,
        )
        pixels = np.asarray(image.convert("L"))
        assert (pixels < 100).mean() > 0.002, f"{section}: the screenshot shows no text"
    print(f"screenshots: {folder}")
