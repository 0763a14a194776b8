"""The page in a real browser: start the server on loopback, ask a question, see the answer and a plot.

Needs Debian's Chromium and the ``playwright`` Python package (its own browser download is not
used): ``apt-get install -y chromium`` and ``pip install playwright``. Skipped when either is
missing. ``SLEEPLM_SCREENSHOT=docs/screenshot.png`` also saves the screenshot there.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.request import urlopen

import pytest
from testdata import MINI_CHECKPOINT

CHROMIUM = Path(os.environ.get("SLEEPLM_CHROMIUM", "/usr/bin/chromium"))
MINI = MINI_CHECKPOINT
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"]

if not CHROMIUM.is_file():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is missing (pip install playwright)")
agent = pytest.importorskip("sleeplm.agent")
if not hasattr(agent, "ChatSession"):
    pytest.skip("sleeplm.agent.ChatSession is not available yet", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    from sleeplm.encoder.sim import simulate_cohort
    from sleeplm.index.ingest import ingest

    cohort = tmp_path_factory.mktemp("cohort")
    simulate_cohort(cohort, n_nights=2, seed=5, duration_h=0.25, progress=False)
    ws = tmp_path_factory.mktemp("ws")
    assert ingest(cohort, ws, model=str(MINI), progress=False).ok
    return ws


@pytest.fixture(scope="module")
def server(workspace: Path, tmp_path_factory):
    port = _free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    code = (f"from pathlib import Path; from sleeplm.app.web import serve; "
            f"serve(Path({str(workspace)!r}), host='127.0.0.1', port={port})")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=log.open("w"), stderr=subprocess.STDOUT,
                            env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"})
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the server exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
            try:
                with urlopen(url + "config", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"the server did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.5)
        yield url, log
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_ask_a_question_and_see_the_answer_and_a_plot(server: tuple[str, Path], tmp_path: Path) -> None:
    url, log = server
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        try:
            page.goto(url)
            page.wait_for_selector("#nights-table", timeout=60_000)
            sync_api.expect(page.locator("#model-line")).to_contain_text("checkpoint", timeout=30_000)
            page.locator("#nights-table").get_by_text("sim-0001", exact=True).filter(visible=True).first.click()
            sync_api.expect(page.locator("#night-line")).to_contain_text("sim-0001", timeout=30_000)

            page.locator("#question textarea").fill("Show the hypnogram of this night with its events.")
            page.locator("#ask").click()
            page.wait_for_selector("#chat img", timeout=120_000)  # the figure, inline in the chat
            chat = page.locator("#chat")
            sync_api.expect(chat).to_contain_text("🔧", timeout=10_000)  # a tool step
            sync_api.expect(page.locator("#figures img").first).to_be_visible(timeout=10_000)
            sync_api.expect(chat).to_contain_text("sim-0001", timeout=10_000)  # the answer is about this night

            shot = tmp_path / "page.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 20_000
            if os.environ.get("SLEEPLM_SCREENSHOT"):
                shutil.copyfile(shot, os.environ["SLEEPLM_SCREENSHOT"])
        except Exception as exc:
            page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            raise AssertionError(f"{exc}\n(page: {tmp_path / 'failure.png'}; server log tail:)\n"
                                 f"{log.read_text()[-3000:]}") from exc
        finally:
            browser.close()
