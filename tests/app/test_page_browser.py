"""The page in a real browser: start the server on loopback, ask a question, see the answer and a plot.

Needs Debian's Chromium and the ``playwright`` Python package (its own browser download is not
used): ``apt-get install -y chromium`` and ``pip install playwright``. Skipped when either is
missing. ``SLEEPLM_SCREENSHOT=docs/screenshot.png`` also saves the screenshot there.
"""

from __future__ import annotations

import os
import re
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
    ws = cohort.parent / f"{cohort.name}-ws"
    assert ingest(cohort, ws, model=str(MINI), progress=False).ok
    return ws


def _cohort_of(workspace: Path) -> Path:
    return workspace.parent / workspace.name.removesuffix("-ws")


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


def _ask(page, question: str, n_before: int) -> str:
    """Ask on the page and return the text of the new answer (the last bot message)."""
    page.locator("#question textarea").fill(question)
    page.locator("#ask").click()
    bot = page.locator("#chat .message.bot, #chat [data-testid='bot']")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        text = "\n".join(bot.nth(i).inner_text() for i in range(n_before, bot.count()))
        if text.strip() and "thinking…" not in text:
            time.sleep(1.5)  # streaming: wait until the messages stop changing
            if "\n".join(bot.nth(i).inner_text() for i in range(n_before, bot.count())) == text:
                return text
        time.sleep(0.5)
    raise AssertionError(f"no answer to {question!r}; {bot.count()} bot messages (were {n_before}), the last: "
                         f"{bot.last.inner_text() if bot.count() else ''!r}")


def test_the_issue_questions_get_right_answers_or_honest_declines(server: tuple[str, Path], workspace: Path) -> None:
    """Questions the first version bluffed on, asked on the page; gold from the cohort's own files."""
    import numpy as np
    import pandas as pd

    cohort = _cohort_of(workspace)
    subjects = pd.read_csv(cohort / "subjects.csv")
    rem_epochs = sum(int((np.load(t)["stage"].astype(str) == "REM").sum()) for t in cohort.glob("*.truth.npz"))
    url, log = server
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        try:
            page.goto(url)
            page.wait_for_selector("#nights-table", timeout=60_000)
            bot = page.locator("#chat .message.bot, #chat [data-testid='bot']")

            answer = _ask(page, "What is the average heart rate during REM across the cohort?", bot.count())
            if rem_epochs == 0:  # nobody reached REM in these short nights: say so, show no other stage's numbers
                assert "REM" in answer and ("no epoch" in answer.lower() or "not" in answer.lower())
                assert "wake" not in answer.lower().split("nearest")[0]

            answer = _ask(page, "Is sleep efficiency lower in women than in men?", bot.count())
            assert "sleep efficiency" in answer.lower()
            sexes = set(subjects["sex"].dropna())
            if len(sexes) > 1:  # a comparison table with each group's size (rows "F  <nights>  <mean> ...")
                for sex in sexes:
                    n = int((subjects["sex"] == sex).sum())
                    assert re.search(rf"^{sex}\s+{n}\s", answer, re.MULTILINE), (sex, n, answer)

            answer = _ask(page, "How many nights are there?", bot.count())
            assert str(len(subjects)) in answer
        except Exception as exc:
            raise AssertionError(f"{exc}\n(server log tail:)\n{log.read_text()[-3000:]}") from exc
        finally:
            browser.close()
