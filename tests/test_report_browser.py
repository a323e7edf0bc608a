"""The report in a real browser: headless Chromium loads index.html, every figure decodes,
every link resolves, and a screenshot renders. Skipped where Chromium is not installed."""
from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from distillnas.analysis import build_report
from distillnas.runconfig import load_search_config
from distillnas.search import run_search

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get install chromium)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files", "--hide-scrollbars"]
# Runs after load: what the browser made of every image and link, written where --dump-dom shows it.
PROBE = """<script>window.addEventListener('load', () => {
  const imgs = [...document.images].map(i => ({ok: i.complete && i.naturalWidth > 0, alt: i.alt}));
  const links = [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'));
  const out = document.createElement('pre'); out.id = 'probe';
  out.textContent = JSON.stringify({imgs, links}); document.body.appendChild(out);
});</script>"""


def chromium(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, *args], capture_output=True, text=True, timeout=timeout)


def test_the_report_renders_in_chromium_with_every_figure_and_link(tmp_path):
    cfg = load_search_config("akd_diswot", [f"--run_dir={tmp_path / 'run'}", "--search.trials=24"])
    run_search(cfg, progress=False)
    page = build_report([tmp_path / "run"])
    probe = page.with_name("probe.html")
    probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    dom = chromium("--virtual-time-budget=10000", "--dump-dom", probe.as_uri()).stdout
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    result = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert len(result["imgs"]) >= 4 and all(i["ok"] for i in result["imgs"]), result["imgs"]
    for href in result["links"]:
        if not re.match(r"^(https?:|mailto:|#)", href):
            assert (page.parent / href).exists(), href
    shot = tmp_path / "report.png"
    chromium(f"--screenshot={shot}", "--window-size=1280,2400", page.as_uri())
    assert shot.is_file() and shot.stat().st_size > 20_000  # a page with figures, not a blank one
