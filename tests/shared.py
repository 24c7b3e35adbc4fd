"""What more than one test module, or bench/, uses: the files they read (real PDFs,
golden payloads, bad and many-page PDFs), the login settings, and the processes
they run against (the local endpoint server, the app itself, Debian's Chromium)
with the ways a test drives the app in it.  Tests import helpers from here, never
from one another."""

from __future__ import annotations

import io
import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pypdf
from playwright.sync_api import Browser, Locator, Page, expect

from chat_core.conversations.session import ChatSession
from chat_core.documents.pdf import CorruptPDF, EmptyFile, NotAPDF, NoTextLayer
from chat_core.local.endpoint import LocalEndpoint
from chat_core.local.model import gguf_path
from chat_core.local.server import EndpointServer
from tests.hostile import hostile_pdfs

if TYPE_CHECKING:  # bench/ imports this module without pytest running
    import pytest

ROOT = Path(__file__).resolve().parents[1]
# Real PDFs that nobody on this project wrote (their sources and licences: README.md there).
PDFS = ROOT / "tests" / "pdfs"
GOLDEN = ROOT / "tests" / "golden"
ARTIFACTS = ROOT / "test-artifacts"  # the browser tests' screenshots
# Debian's chromium (apt-get install chromium): Playwright cannot download a browser here.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]


def until(condition: Callable[[], bool], seconds: float = 20) -> bool:
    """Whether ``condition`` came true within ``seconds`` (looked at every 50 ms)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() <= deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def answered(session: ChatSession) -> list[tuple[str, str]]:
    """The answered exchanges the chat page shows, as (question, answer): the history
    the next question is asked with (``session._History``)."""
    return [(exchange.question, exchange.answer) for exchange in session.exchanges if exchange.answered]


def golden(name: str) -> dict:
    """tests/golden/NAME.json, its ``//`` comment lines left out."""
    text = (GOLDEN / f"{name}.json").read_text()
    return json.loads("\n".join(line for line in text.splitlines() if not line.startswith("//")))


def blank_pages(count: int) -> bytes:
    writer = pypdf.PdfWriter()
    for _ in range(count):
        writer.add_blank_page(612, 792)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


# Files that are not PDFs with text: each name's bytes, the error it raises, and its message.
BAD_FILES = {
    "renamed.pdf": (b"PK\x03\x04 this is a zip file renamed to .pdf" * 10, NotAPDF, "is not a PDF"),
    "empty.pdf": (b"", EmptyFile, "is empty"),
    "truncated.pdf": (
        (PDFS / "minimal-document.pdf").read_bytes()[:8000],
        CorruptPDF,
        "damaged or truncated",
    ),
    "scan.pdf": (blank_pages(1), NoTextLayer, "needs|OCR"),
    "thousands.pdf": (blank_pages(3000), NoTextLayer, "3000 pages but no text"),
}

# fmt: off
CITIES = [
    "Lisbon", "Oslo", "Dakar", "Lima", "Quito", "Hanoi", "Tunis", "Accra", "Riga", "Sofia", "Baku",
    "Doha", "Minsk", "Dhaka", "Kabul", "Cairo", "Nairobi", "Manila", "Havana", "Bogota", "Caracas",
    "Tbilisi", "Yerevan", "Vilnius", "Tallinn", "Dublin", "Madrid", "Rome", "Athens", "Ankara",
    "Tehran", "Muscat", "Sanaa", "Amman", "Beirut", "Damascus", "Tirana", "Skopje", "Zagreb",
    "Vienna",
]
# fmt: on


def pdf_of(pages: int) -> bytes:
    """``pages`` pages, each one short paragraph (one passage) about a city of its own."""
    kids = b" ".join(b"%d 0 R" % (4 + 2 * i) for i in range(pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % pages,
        hostile_pdfs.FONT,
    ]
    for number in range(1, pages + 1):
        text = f"Page {number}: the harbour of {CITIES[number - 1]} opens at {number} o'clock."
        objects += [
            hostile_pdfs.page(5 + 2 * (number - 1), font=3),
            hostile_pdfs.stream(f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()),
        ]
    return hostile_pdfs.pdf_bytes(objects)


# [auth] as the login tests configure it; its provider's address answers nothing.
AUTH = {
    "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
    "cookie_secret": "a secret for tests only",
    "client_id": "chat",
    "client_secret": "secret",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}
ISSUER = "http://127.0.0.1:9"
ANA = {"is_logged_in": True, "iss": ISSUER, "sub": "ana", "email": "ana@example.com"}


def refuse_answers(database: Path) -> sqlite3.Connection:
    """Another connection to the real SQLite file makes every answer's insert fail,
    as a full disk or a lost volume would, until the trigger is dropped."""
    other = sqlite3.connect(database, isolation_level=None)
    other.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON messages WHEN NEW.role = 'assistant' "
        "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
    )
    return other


def refuse_usage(database: Path) -> None:
    """The same for every usage record of a summary or an indexing: the conversation
    store works, and writing what they cost fails inside SQLite."""
    with sqlite3.connect(database) as other:
        other.execute(
            "CREATE TRIGGER refuse_usage BEFORE INSERT ON usage "
            "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
        )


@contextmanager
def serving(endpoint: LocalEndpoint) -> Iterator[EndpointServer]:
    """The endpoint server in this process, on a free port."""
    running = EndpointServer(endpoint, port=0, quiet=True).start()
    try:
        yield running
    finally:
        running.shutdown()
        running.server_close()


def point_at(monkeypatch: pytest.MonkeyPatch, server: EndpointServer, *, keys: bool = True) -> None:
    """boto3 pointed at ``server`` for one test; the keys only let botocore sign."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", server.url)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    if keys:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


def run_ask(*arguments: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``python -m chat_core ask ARGUMENTS`` as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "chat_core", "ask", *arguments],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
        check=False,
    )


@contextmanager
def endpoint_server_process(
    name: str | None,
    model: str = "smollm2",
    components: tuple[str, ...] = (),
    endpoints: tuple[str, ...] = (),
    options: tuple[str, ...] = (),
) -> Iterator[str]:
    """``python -m chat_core endpoint`` serving ``name`` (TGI payloads) and the ``endpoints``
    (each NAME=FORMAT), or with neither its default endpoints, and the inference ``components``
    (each ENDPOINT/COMPONENT=FORMAT), on a free port, in its own process as it is deployed,
    with ``model`` as ``LOCAL_MODEL`` and its other command-line ``options``; yields its URL."""
    formats = ["--format", f"{name}=tgi"] if name else []
    formats += [option for endpoint in endpoints for option in ("--format", endpoint)]
    formats += [option for component in components for option in ("--component", component)]
    process = subprocess.Popen(
        [sys.executable, "-m", "chat_core", "endpoint", "--port", "0", *formats, *options],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "LOCAL_MODEL": model},
    )
    try:
        assert process.stderr
        line = process.stderr.readline()  # "Serving NAME on URL"; "" if the server died
        assert line.startswith("Serving"), f"the endpoint server did not start: {line!r}"
        threading.Thread(target=process.stderr.read, daemon=True).start()  # its request log: drained
        yield line.rsplit(" ", 1)[-1].strip()
    finally:
        process.terminate()
        process.wait()


@contextmanager
def pointed_at(url: str) -> Iterator[None]:
    """boto3 pointed at the local server; the keys only let botocore sign."""
    values = {
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": url,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
    }
    with environment(values):
        yield


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """``values`` set in this process's environment, and put back as they were after."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def app_process(
    environment: dict[str, str], *options: str, port: int | None = None, log: Path | None = None
) -> Iterator[tuple[str, int]]:
    """``streamlit run app.py`` as configured (on 127.0.0.1), with ``environment`` and
    command-line ``options`` added, on ``port`` or a free one; yields its URL and
    process id once it answers.  Its output goes to the file ``log``, if given."""
    port = port or free_port()
    output = log.open("wb") if log else subprocess.DEVNULL
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), *options],
        cwd=ROOT,
        env=os.environ | environment,
        stdout=output,
        stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError(f"the app did not answer on {url} within 30 s")
        yield url, process.pid
    finally:
        process.terminate()
        process.wait()


def app_environment(folder: Path) -> dict[str, str]:
    """The app's settings for a browser test: its stores in ``folder``, and the scripted
    model (chat_core/local/scripted.py): exact answers, one word per 40 ms."""
    return {
        "LOCAL_MODEL": "scripted:40",
        "CHAT_STORE": f"sqlite://{folder / 'chat.db'}",
        "CHAT_DATA_DIR": str(folder),
        "UPLOAD_STORE": f"file://{folder / 'uploads'}",
    }


def open_page(
    browser: Browser, url: str, request: pytest.FixtureRequest, locale: str = "en-US", **options: Any
) -> Page:
    """A new browser session on the app, with Playwright's context ``options``
    (``color_scheme``, ``viewport``, ``permissions``...); screenshotted when the test ends."""
    context = browser.new_context(**{"locale": locale, "viewport": {"width": 1280, "height": 900}, **options})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(url)
    page.get_by_test_id("stChatInputTextArea").wait_for()

    def screenshot() -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=ARTIFACTS / f"{request.node.name}.png", full_page=True)
        context.close()

    request.addfinalizer(screenshot)
    return page


SCRIPTED = "You asked: {} This scripted answer streams word by word at a set pace."


def bubbles(page: Page) -> Locator:
    return page.get_by_test_id("stChatMessage")


def send(page: Page, text: str) -> None:
    box = page.get_by_test_id("stChatInputTextArea")
    expect(box).to_be_enabled()
    box.fill(text)
    box.press("Enter")


def idle(page: Page) -> None:
    """Until the page's script run has ended: a click while a run redraws the page
    can land on an element being replaced, and be lost (seen under load)."""
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning")


def click_when_still(target: Locator) -> None:
    """Click once ``target`` has stopped moving.  An expander opens with an animation;
    on a loaded machine Playwright's own stability check can pass mid-way, and the
    click lands on the block beside the target (seen in CI)."""
    deadline = time.monotonic() + 30
    boxes = [None, target.bounding_box()]
    while boxes[-1] != boxes[-2] and time.monotonic() < deadline:
        time.sleep(0.1)
        boxes.append(target.bounding_box())
    assert boxes[-1] == boxes[-2], f"still moving after 30 s: {boxes[-3:]}"
    target.click()


def compare(page: Page, first: str, second: str) -> None:
    """Pick model ``first``, turn "Compare models" on (the model picked is compared
    first) and add ``second`` (models by their labels)."""
    sidebar = page.get_by_test_id("stSidebar")
    # Typed, not only clicked: a click alone sometimes focused the box without opening it.
    sidebar.get_by_role("combobox", name="Model", exact=True).press_sequentially(first[:7])
    page.get_by_role("option", name=first).click()
    idle(page)
    sidebar.get_by_text("Compare models").click()
    idle(page)
    sidebar.get_by_role("combobox", name="Models to compare").click()
    page.get_by_role("option", name=second).click()
    idle(page)


def wait_for_answer(page: Page, count: int) -> None:
    """Until ``count`` answers are complete (each shows its speed caption) and the
    run that drew them has ended."""
    expect(page.get_by_text("first token")).to_have_count(count, timeout=120_000)
    idle(page)


def bundled_special_tokens() -> dict[int, str]:
    """The texts, by token id, the bundled tokenizer turns into special tokens when it parses
    them (ChatML's ``<|im_start|>``, and ``<file_sep>`` and the like from pre-training):
    the tokens llama.cpp matches as a whole (control, user-defined and unknown).
    Read from the GGUF's vocabulary alone, without the weights: a fraction of a second.
    llama_cpp is imported here, not with this module: tests that need no model run without it."""
    import llama_cpp

    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    handle = llama_cpp.llama_model_load_from_file(str(gguf_path()).encode(), params)
    if not handle:
        raise RuntimeError(f"cannot read the vocabulary of {gguf_path()}")
    try:
        vocab = llama_cpp.llama_model_get_vocab(handle)
        parsed = (
            llama_cpp.LLAMA_TOKEN_ATTR_CONTROL
            | llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED
            | llama_cpp.LLAMA_TOKEN_ATTR_UNKNOWN
        )
        return {
            token: llama_cpp.llama_vocab_get_text(vocab, token).decode("utf-8")
            for token in range(llama_cpp.llama_vocab_n_tokens(vocab))
            if llama_cpp.llama_vocab_get_attr(vocab, token) & parsed
        }
    finally:
        llama_cpp.llama_model_free(handle)
