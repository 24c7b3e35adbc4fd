"""Login for a team, end to end: Streamlit's real ``st.login`` in Chromium against a
real OpenID Connect provider on 127.0.0.1 (``oidc-provider-mock``), where a user
logs in by typing their subject and the test sets their claims."""

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from oidc_provider_mock import run_server_in_thread
from playwright.sync_api import Browser, Page, expect
from shared import PDFS, app_process, bubbles, free_port, send, wait_for_answer


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    with run_server_in_thread() as server:
        yield f"http://127.0.0.1:{server.server_port}"


def set_email(provider: str, subject: str, email: str) -> None:
    """Change a user's claims at the provider, as its administrator would."""
    body = json.dumps({"email": email, "email_verified": True}).encode()
    request = urllib.request.Request(f"{provider}/users/{subject}", body, method="PUT")
    request.add_header("Content-Type", "application/json")
    urllib.request.urlopen(request).close()


@pytest.fixture(scope="module")
def app(provider: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("login")
    port = free_port()
    secrets = folder / "secrets.toml"
    secrets.write_text(
        "[auth]\n"
        f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        'cookie_secret = "a cookie secret for tests only"\n'
        'client_id = "chat"\n'
        'client_secret = "chat-secret"\n'
        f'server_metadata_url = "{provider}/.well-known/openid-configuration"\n'
    )
    environment = {
        "LOCAL_MODEL": "scripted:10",
        "CHAT_STORE": f"sqlite://{folder / 'chat.db'}",
        "CHAT_DATA_DIR": str(folder),
        "UPLOAD_STORE": f"file://{folder / 'uploads'}",
    }
    with app_process(environment, "--secrets.files", str(secrets), port=port) as (url, _):
        yield url


def log_in(browser: Browser, url: str, subject: str, request: pytest.FixtureRequest) -> Page:
    """A new browser session on ``url`` that logs in as ``subject``."""
    page = browser.new_context().new_page()
    page.set_default_timeout(60_000)
    request.addfinalizer(page.context.close)
    page.goto(url)
    page.get_by_role("button", name="Log in").click()
    page.locator("input[name=sub]").fill(subject)
    page.get_by_role("button", name="Authorize").click()
    page.get_by_test_id("stChatInputTextArea").wait_for()
    return page


def open_page_logged_out(browser: Browser, url: str, request: pytest.FixtureRequest) -> Page:
    page = browser.new_context().new_page()
    request.addfinalizer(page.context.close)
    page.goto(url)
    page.get_by_role("button", name="Log in").wait_for()
    return page


def test_each_user_sees_only_their_own_and_a_visitor_only_the_login_button(
    browser: Browser, app: str, provider: str, request: pytest.FixtureRequest
) -> None:
    set_email(provider, "ana", "ana@example.com")
    set_email(provider, "ben", "ben@example.com")
    ana = log_in(browser, app, "ana", request)
    send(ana, "Ana's private question.")
    wait_for_answer(ana, 1)
    link = ana.url.split("c=")[1]

    ben = log_in(browser, app, "ben", request)
    expect(ben.get_by_text("Ana's private question.")).to_have_count(0)
    ben.goto(f"{app}/?c={link}")
    expect(ben.get_by_text("not one of yours")).to_be_visible()
    expect(bubbles(ben)).to_have_count(0)

    visitor = open_page_logged_out(browser, f"{app}/?c={link}", request)
    expect(visitor.get_by_role("button", name="Log in")).to_be_visible()
    expect(visitor.get_by_test_id("stChatInputTextArea")).to_have_count(0)
    expect(visitor.get_by_text("Ana's private question.")).to_have_count(0)
    straight_to_pdfs = open_page_logged_out(browser, f"{app}/Summarize_a_PDF", request)
    expect(straight_to_pdfs.locator("input[type=file]")).to_have_count(0)


def test_a_changed_email_keeps_a_users_conversations_and_gives_none_to_whoever_gets_it(
    browser: Browser, app: str, provider: str, request: pytest.FixtureRequest
) -> None:
    set_email(provider, "cho", "cho@example.com")
    cho = log_in(browser, app, "cho", request)
    send(cho, "Cho's question.")
    wait_for_answer(cho, 1)

    set_email(provider, "cho", "cho.new@example.com")
    set_email(provider, "dan", "cho@example.com")  # dan is given cho's old email
    again = log_in(browser, app, "cho", request)
    expect(again.get_by_test_id("stSidebar").get_by_text("Cho's question.")).to_be_visible()
    dan = log_in(browser, app, "dan", request)
    expect(dan.get_by_test_id("stSidebar").get_by_text("Cho's question.")).to_have_count(0)


def test_a_logged_in_user_uploads_a_pdf(browser: Browser, app: str, request: pytest.FixtureRequest) -> None:
    """Uploads are held only for a session that is let in (pages/upload_gate.py): a
    logged-in user's is."""
    eve = log_in(browser, app, "eve", request)
    eve.get_by_test_id("stSidebarNav").get_by_text("Summarize a PDF").click()
    eve.locator("input[type=file]").set_input_files(PDFS / "pdflatex-4-pages.pdf")
    expect(eve.get_by_text("4 pages ·")).to_be_visible()


def test_an_export_link_works_without_login_only_until_the_app_drops_it(
    browser: Browser, app: str, request: pytest.FixtureRequest
) -> None:
    """What README's "Run it for a team" says of export links: Streamlit serves
    ``/media/`` to anyone who has the link, without a cookie, until its page runs
    drop the file: it offers no hook to serve it only to the session it was made for."""
    fay = log_in(browser, app, "fay", request)
    send(fay, "Fay's exported question.")
    wait_for_answer(fay, 1)
    sidebar = fay.get_by_test_id("stSidebar")
    sidebar.get_by_text("This conversation", exact=True).click()
    with fay.expect_download() as download:
        sidebar.get_by_role("button", name="Export Markdown").click()
    link = download.value.url
    with urllib.request.urlopen(link) as export:  # no cookie
        assert "Fay's exported question." in export.read().decode()
    # Streamlit drops a fetched export at the end of the second page run after it;
    # a session's runs follow one another, so at the third's end the second's has ended.
    for count in (2, 3, 4):  # at least one run each
        send(fay, f"Question {count}.")
        wait_for_answer(fay, count)
    with pytest.raises(urllib.error.HTTPError) as gone:
        urllib.request.urlopen(link)
    assert gone.value.code == 404
