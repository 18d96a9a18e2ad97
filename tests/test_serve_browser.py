"""kgan serve in a real browser: headless Chromium (Debian's) driven by Playwright through every page.

Skipped where Playwright or a Chromium is missing, unless KGAN_REQUIRE_BROWSER is set (``.ci/run``
sets it, and installs both). A failing test leaves a screenshot in ``test-artifacts/``.

With KGAN_SCREENSHOTS=DIR the pages are also saved there (the README's pictures), and with
KGAN_SCREENSHOT_RUNS=DIR the pages show that runs folder instead of the tiny run
(KGAN_SCREENSHOT_RUN=NAME picks the run, KGAN_SCREENSHOT_UPLOAD=FILE the picture to project).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("flask")
sync_api = pytest.importorskip("playwright.sync_api")

from kgan.serve.app import create_app  # noqa: E402
from tests.test_serve import served  # noqa: E402

sync_api.expect.set_options(timeout=60_000)  # a cold TensorFlow and a projection take seconds on 2 cores
CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def _chromium() -> str | None:
    given = os.environ.get("KGAN_CHROMIUM")
    return next((path for path in (given, *CHROMIUM_PATHS) if path and Path(path).is_file()), None)


if _chromium() is None and os.environ.get("KGAN_REQUIRE_BROWSER"):
    raise RuntimeError("KGAN_REQUIRE_BROWSER is set but no Chromium was found (apt-get install chromium)")
pytestmark = pytest.mark.skipif(_chromium() is None, reason="no Chromium (apt-get install chromium)")


@pytest.fixture(scope="module")
def site(trained_run, tmp_path_factory):
    """The server on a real port, over a copy of the tiny run (or KGAN_SCREENSHOT_RUNS)."""
    given = os.environ.get("KGAN_SCREENSHOT_RUNS")
    if given:
        runs = Path(given)
        name = (
            os.environ.get("KGAN_SCREENSHOT_RUN")
            or sorted(path.name for path in runs.iterdir() if (path / "config.json").is_file())[-1]
        )
    else:
        runs = tmp_path_factory.mktemp("browser") / "runs"
        shutil.copytree(trained_run, runs / trained_run.name)
        name = trained_run.name
    app = create_app(runs, project_steps=300 if given else 3)
    with served(app) as port:
        yield f"http://127.0.0.1:{port}", name


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    failed = getattr(request.node, "failed_call", False)
    if failed or errors:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
    assert not errors, f"the page's script failed: {errors}"


def screenshot(page, name: str) -> None:
    folder = os.environ.get("KGAN_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def test_the_runs_list_shows_the_run_and_links_to_it(page, site):
    base, name = site
    page.goto(base + "/")
    row = page.locator(f'tr[data-run="{name}"]')
    sync_api.expect(row).to_be_visible()
    sync_api.expect(row.locator("img")).to_have_attribute("src", f"/files/{name}/samples/" + _last_grid(base, name))
    screenshot(page, "runs")
    page.locator("#runs th[data-sort=step]").click()
    sync_api.expect(page.locator("#runs th[data-sort=step]")).to_contain_class("sorted-asc")
    row.locator("a.run-name").click()
    page.wait_for_url(f"{base}/run/{name}")


def _last_grid(base: str, name: str) -> str:
    import json
    import urllib.request

    with urllib.request.urlopen(f"{base}/api/runs/{name}") as response:
        grids = json.load(response)["grids"]
    return grids[-1]["file"].split("/")[-1] + f"?step={grids[-1]['step']}"


def test_the_time_lapse_scrubs_to_the_last_grid(page, site):
    base, name = site
    page.goto(f"{base}/run/{name}")
    caption = page.locator("#timelapse-caption")
    sync_api.expect(caption).to_contain_text("step")
    scrub = page.locator("#scrub")
    last = int(scrub.get_attribute("max"))
    assert last >= 1
    scrub.evaluate("(s) => { s.value = 0; s.dispatchEvent(new Event('input')); }")
    sync_api.expect(caption).to_contain_text("step 0 · 00:00:00")
    scrub.evaluate(f"(s) => {{ s.value = {last}; s.dispatchEvent(new Event('input')); }}")
    sync_api.expect(caption).to_contain_text(f"({last + 1} of {last + 1})")
    sync_api.expect(page.locator("#timelapse-image")).to_have_attribute(
        "src", f"/files/{name}/samples/step-{_step(base, name):06d}.png"
    )
    sync_api.expect(page.locator("#chart-losses .uplot")).to_be_visible()
    sync_api.expect(page.locator("#options")).to_contain_text("batch_size")
    screenshot(page, "run")


def _step(base: str, name: str) -> int:
    import json
    import urllib.request

    with urllib.request.urlopen(f"{base}/api/runs/{name}") as response:
        return json.load(response)["grids"][-1]["step"]


def test_the_explorer_draws_a_grid_a_walk_and_a_projection(page, site, tmp_path):
    base, name = site
    page.goto(f"{base}/run/{name}/explore")
    sync_api.expect(page.locator("#grid img")).to_have_count(64)
    page.fill("#seed", "7")
    page.select_option("#count", "16")
    page.locator("#seed").dispatch_event("change")
    # Each change draws; wait for the last drawing, or a click may land on a grid that is being replaced.
    sync_api.expect(page.locator("#grid")).to_have_attribute("aria-busy", "false")
    grid = page.locator("#grid img")
    sync_api.expect(grid).to_have_count(16)
    sync_api.expect(page.locator("#grid-command")).to_contain_text("--seed 7 -n 16")
    grid.nth(0).click()
    sync_api.expect(page.locator("#large-caption")).to_contain_text("seed 7, picture 0")
    page.click("#add-to-walk")
    grid.nth(3).click()
    page.click("#add-to-walk")
    sync_api.expect(page.locator("#walk-keys img")).to_have_count(2)
    page.click("#preview-walk")
    frame = page.locator("#walk-frame")
    sync_api.expect(frame).to_be_visible()
    sync_api.expect(frame).to_have_attribute("data-frames", "16")

    picture = Path(os.environ.get("KGAN_SCREENSHOT_UPLOAD") or tmp_path / "mine.png")
    if not picture.is_file():
        Image.fromarray(np.full((40, 30, 3), 180, np.uint8)).save(picture)
    page.set_input_files("#upload", str(picture))
    page.click("#project")
    sync_api.expect(page.locator("#projection")).to_be_visible()
    sync_api.expect(page.locator("#projection-caption")).to_contain_text("kgan project")
    page.click("#projection-to-walk")
    sync_api.expect(page.locator("#walk-keys img")).to_have_count(3)
    page.click("#save-video")
    sync_api.expect(page.locator("#walk-result")).to_contain_text("kgan video --run")
    screenshot(page, "explore")


def test_a_bad_upload_shows_one_line_and_the_page_goes_on(page, site, tmp_path):
    base, name = site
    page.goto(f"{base}/run/{name}/explore")
    sync_api.expect(page.locator("#grid img").first).to_be_visible()
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"not a picture at all")
    page.set_input_files("#upload", str(bad))
    page.click("#project")
    toast = page.locator("#toast")
    sync_api.expect(toast).to_contain_text("notes.png: not an image")
    page.click("#new-seed")
    sync_api.expect(page.locator("#grid img").first).to_be_visible()


def test_a_missing_run_is_a_page_not_a_traceback(page, site):
    base, _ = site
    response = page.goto(f"{base}/run/no-such-run")
    assert response.status == 404
    sync_api.expect(page.locator(".error-line")).to_contain_text("no run named 'no-such-run'")
