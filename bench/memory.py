"""Figure 5: resident memory of one app process serving 1, then 20, browser sessions.

``streamlit run app.py`` on 127.0.0.1 with a fresh SQLite store holding one
20-turn conversation per session; headless Chromium opens each in its own tab
(``?c=<id>``), and the first tab asks the bundled model a question, so the
model is loaded.  Resident size is the app process's VmRSS, read after the
tabs have rendered; the model file's mappings in the process show it loaded once.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from bench.results import Figure, Spread, figure
from chat_core.conversations.sqlite import SQLiteStore
from chat_core.conversations.store import LOCAL_USER
from chat_core.local.model import gguf_path
from tests.shared import CHROMIUM, CHROMIUM_ARGS, app_process

TURNS = 20


def resident_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    kilobytes = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(kilobytes) / 1024


def model_mappings(pid: int) -> int:
    """How many distinct mappings of the GGUF file the process holds."""
    maps = Path(f"/proc/{pid}/maps").read_text().splitlines()
    return len({line.split()[4] for line in maps if line.endswith(str(gguf_path().resolve()))})


def _seed(store: SQLiteStore, sessions: int) -> list[str]:
    ids = []
    for s in range(sessions):
        conversation = store.create(LOCAL_USER, f"Trip {s}", "local-smollm2", "PromptTemplate")
        for t in range(TURNS):
            key = store.add_question(LOCAL_USER, conversation.id, f"Trip {s}, day {t}: where should I go?")
            store.add_answer(LOCAL_USER, conversation.id, key, f"Day {t}: the palace, then a market.", {})
        ids.append(conversation.id)
    return ids


def _open(page: Page, url: str, conversation: str, session: int) -> None:
    page.goto(f"{url}/?c={conversation}")
    page.get_by_text(f"Trip {session}, day {TURNS - 1}: where should I go?").wait_for(timeout=60_000)


def _one_run(sessions: int) -> tuple[float, float, int]:
    with tempfile.TemporaryDirectory() as folder:
        store_url = f"sqlite://{folder}/chat.db"
        conversations = _seed(SQLiteStore(Path(folder) / "chat.db"), sessions)
        with app_process({"CHAT_STORE": store_url}) as (url, pid), sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            first = browser.new_page()
            _open(first, url, conversations[0], 0)
            first.get_by_role("textbox").last.fill("Say hello in five words.")
            first.keyboard.press("Enter")
            first.get_by_text("first token").nth(0).wait_for(timeout=120_000)
            time.sleep(1)
            one = resident_mb(pid)
            for session in range(1, sessions):
                _open(browser.new_page(), url, conversations[session], session)
            time.sleep(2)
            many = resident_mb(pid)
            mappings = model_mappings(pid)
            browser.close()
    return one, many, mappings


def run(quick: bool, out: Path) -> list[Figure]:
    sessions = 5 if quick else 20
    runs = [_one_run(sessions) for _ in range(1 if quick else 3)]
    one = Spread(tuple(r[0] for r in runs))
    per_session = Spread(tuple((r[1] - r[0]) / (sessions - 1) for r in runs))
    mappings = max(r[2] for r in runs)
    return [
        figure(
            f"Memory per extra browser session (1 -> {sessions} sessions, {TURNS} turns each)",
            per_session,
            "MB",
            "app with 1 session",
            one,
            ratio=(one.median + per_session.median * (sessions - 1)) / one.median,
            ratio_means=f"resident size with {sessions} / with 1",
            target="<= 5 MB",
            target_on_value=True,
            note=f"the model file is mapped {mappings} time{'s' if mappings != 1 else ''} in the app process",
        )
    ]
