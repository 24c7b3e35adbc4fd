"""Login for a team, end to end: Streamlit's real ``st.login`` in Chromium against a
real OpenID Connect provider on 127.0.0.1 (``oidc-provider-mock``), where a user
logs in by typing their subject and the test sets their claims."""

import json
import urllib.request
from collections.abc import Iterator

import pytest
from oidc_provider_mock import run_server_in_thread
from playwright.sync_api import Browser, Page, expect
from shared import app_process, free_port
from test_browser import bubbles, send, wait_for_answer


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
