"""index.html in a real browser (headless Chromium): the table and the figures render, and sorting a column,
driven through the page's own #sort=<column> address, reorders the rows. Skips when no Chromium is installed."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from leaderboard.render import build
from tests.test_leaderboard import planted

BROWSER = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
pytestmark = pytest.mark.skipif(
    BROWSER is None, reason="no chromium, chromium-browser or google-chrome on PATH (apt-get install chromium)"
)
TAB_BLUE = np.array([31, 119, 180])  # matplotlib's first colour: only the figures have it, never the page's CSS


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    results = tmp_path_factory.mktemp("browser") / "results"
    results.mkdir()
    planted(results)
    return build(results, results.parent / "out")["html"]


def chromium(tmp_path: Path, *args: str) -> str:
    """Run headless Chromium once (--no-sandbox: CI runs as root) with a throwaway profile; its stdout."""
    command = [
        BROWSER,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}",
        *args,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    return done.stdout


def first_row(dom: str) -> list[str]:
    """The cells' text of the leaderboard's first body row in a dumped DOM."""
    row = re.search(r'id="leaderboard".*?<tbody><tr>(.*?)</tr>', dom, re.S)
    assert row, "no leaderboard table in the DOM"
    return re.findall(r"<td[^>]*>(.*?)</td>", row.group(1))


@pytest.mark.parametrize(
    "sort, first, header",
    [
        ("", "enc11", None),  # rank order
        ("#sort=-imagenet", "supervised", '<th class="desc">imagenet</th>'),  # supervised has the best imagenet
        ("#sort=pets", "enc00", '<th class="asc">pets</th>'),
        ("#sort=name", "enc00", '<th class="asc">name</th>'),
    ],
)
def test_sorting_by_address_reorders_rows(
    page: Path, tmp_path: Path, sort: str, first: str, header: str | None
) -> None:
    dom = chromium(tmp_path, "--dump-dom", page.as_uri() + sort)
    assert first_row(dom)[1] == first
    assert dom.count("<tr>") >= 14 and (header is None or header in dom)


def test_table_and_figures_render(page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "page.png"
    chromium(tmp_path, "--window-size=1200,6000", f"--screenshot={shot}", page.as_uri())
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    drawn = np.abs(pixels - TAB_BLUE).sum(axis=-1) < 30
    assert drawn.sum() > 1000, "no figure pixels in the screenshot: the embedded PNGs did not render"
    text = (pixels.sum(axis=-1) < 300).any(axis=1)
    assert text[:2000].sum() > 200, "the top of the page (the table) is blank"
