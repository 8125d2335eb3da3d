"""Every dashboard page and the training report's HTML page in headless Chromium (Playwright).

A real gunicorn and Redis serve a version trained with evaluation, offers and a running experiment, with
simulated traffic, so each page has its plots. The test fails on any console error, page error, failed
request or missing plot, and saves a full-page screenshot of each page (into $RECSVC_SCREENSHOTS when set,
which is how docs/screenshots/ is made: `make screenshots`).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import requests
from playwright.sync_api import sync_playwright

from tests.conftest import API_KEY, ROOT, run_training, start_gunicorn
from tests.recsvc.api.test_experiments import EXPERIMENTS_YAML

# Headless in a closed network: no background fetches, no first-run or sync traffic, no GPU.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PAGES = {  # page -> plots it must show
    "overview": 5,
    "segments": 8,
    "campaigns": 3,
    "experiments": 2,
}


def chromium_path() -> str:
    path = os.environ.get("RECSVC_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("Chromium not found: `make setup` installs Debian's chromium (or set RECSVC_CHROMIUM)")
    return path


@pytest.fixture
def service(own_redis, shop_dir: Path, offers_file: Path, tmp_path: Path):
    exp = tmp_path / "exp.yaml"
    exp.write_text(EXPERIMENTS_YAML)
    report_dir = tmp_path / "report"
    res = run_training(
        shop_dir,
        "--offers",
        str(offers_file),
        "--experiments",
        str(exp),
        "--report-dir",
        str(report_dir),
        "--redis",
        own_redis.url,
        evaluate=True,
    )
    assert res.returncode == 0, res.stderr
    g = start_gunicorn(own_redis.url, tmp_path, RECSVC_API_KEYS=API_KEY)
    yield g, report_dir / "report.html"
    g.stop()


def test_dashboard_and_report_in_chromium(service, tmp_path: Path) -> None:
    from tools.simulate import simulate

    g, report_html = service
    session = requests.Session()
    session.headers["X-API-Key"] = API_KEY

    def get(path: str) -> dict:
        return session.get(g.base + path, timeout=5).json()

    def post(path: str, body: dict) -> int:
        return session.post(g.base + path, json=body, timeout=5).status_code

    simulate(get, post, "home-recs", "treatment", users=120, lift=1.0, ctr=0.2, buy=0.3, seed=1)

    shots = Path(os.environ.get("RECSVC_SCREENSHOTS") or tmp_path / "screenshots")
    if not shots.is_absolute():
        shots = ROOT / shots
    shots.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        context = browser.new_context(
            http_credentials={"username": "ops", "password": API_KEY}, viewport={"width": 1200, "height": 900}
        )
        page = context.new_page()
        page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text} {m.location}"))
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
        targets = [(name, f"{g.base}/dashboard/{name}", n) for name, n in PAGES.items()]
        targets.append(("training-report", report_html.as_uri(), 6))
        for name, url, min_plots in targets:
            resp = page.goto(url, wait_until="load")
            assert resp is not None and resp.ok, f"{name}: {resp and resp.status}"
            plots = page.locator("figure.plot svg")
            assert plots.count() >= min_plots, f"{name}: {plots.count()} plots, wanted {min_plots}"
            for k in range(plots.count()):
                box = plots.nth(k).bounding_box()
                assert box and box["width"] > 100 and box["height"] > 50, f"{name}: plot {k} not drawn ({box})"
            if name == "overview":
                assert page.get_by_text("p99 latency").count() == 1
            page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
        browser.close()
    assert problems == []
    assert {p.name for p in shots.glob("*.png")} >= {f"{n}.png" for n in [*PAGES, "training-report"]}
