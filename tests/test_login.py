"""Login for a team: with [auth] configured, a visitor who has not logged in gets
the login button and nothing else, and a user is their login's issuer and subject,
never their email.  Streamlit's AppTest stands in for the OpenID Connect provider
here (``AppTest.user`` seeds ``st.user``)."""

import pytest
from chat_page import conversation_buttons, send
from shared import AUTH, ISSUER
from streamlit.testing.v1 import AppTest


def visitor(user: dict, link: str | None = None) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=30)
    at.secrets["auth"] = AUTH
    at.user = user
    if link:
        at.query_params["c"] = link
    return at.run()


def test_a_visitor_who_has_not_logged_in_sees_only_the_login_button() -> None:
    for link in (None, "0" * 32):
        at = visitor({"is_logged_in": False}, link)
        assert [button.label for button in at.button] == ["Log in"]
        assert not at.chat_input and not at.get("file_uploader") and not at.sidebar.button


def test_a_user_is_their_issuer_and_subject_not_their_email() -> None:
    ana = {"is_logged_in": True, "iss": ISSUER, "sub": "user-1", "email": "ana@example.com"}
    first = visitor(ana)
    send(first, "Where did I park?")
    assert conversation_buttons(first) == ["Where did I park?"]

    renamed = visitor({**ana, "email": "ana.new@example.com"})  # email changed at the provider
    assert conversation_buttons(renamed) == ["Where did I park?"]
    assert "ana.new@example.com" in renamed.sidebar.caption[0].value  # shown, never the identity

    other = visitor({**ana, "sub": "user-2"})  # given ana's old email
    assert not conversation_buttons(other)


def test_no_page_is_reachable_before_logging_in() -> None:
    """The login button is the only page the navigation holds."""
    at = visitor({"is_logged_in": False})
    with pytest.raises(ValueError, match=r"Known pages: \['Log in'\]"):
        at.switch_page("pages/Summarize_a_PDF.py")
