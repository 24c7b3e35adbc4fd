"""SageMaker Chat: the entry point. It sets the page, the language and the
navigation; the pages themselves are in ``pages/``."""

import logging

import streamlit as st

from chat_core.access import refusal
from chat_core.i18n import LANGUAGES, Text, language_for, tr
from chat_core.markdown import safe_markdown
from pages import state
from pages.common import auto_sleep, language, log_in, logged_out, login_configured, t
from pages.preferences import demo_notice, keep_choices
from pages.upload_gate import admit_uploads, gate_uploads


def switch_language() -> None:
    st.session_state[state.LANGUAGE] = st.session_state[state.LANGUAGE_SWITCH]


def refused_because() -> Text | None:
    """Why this server refuses every visitor: serving other machines without login."""
    return refusal(st.get_option("server.address") or "", login_configured())


def refused() -> None:
    st.error(reason.text(language()) if (reason := refused_because()) else "", icon=":material/lock:")


st.set_page_config(page_title="SageMaker Chat", page_icon="💬")
gate_uploads()  # below, only a visitor who is in is let upload
auto_sleep()  # on any page run, the login page's too: a replica checks from its first request
# The browser's language until the user picks one; kept in session state (not as
# the switch's own state, which Streamlit drops on any run that does not draw it).
st.session_state.setdefault(state.LANGUAGE, language_for(st.context.locale))
st.sidebar.radio(
    tr("Language", "en") + " · " + tr("Language", "ko"),
    list(LANGUAGES),
    index=list(LANGUAGES).index(language()),
    format_func=LANGUAGES.get,
    key=state.LANGUAGE_SWITCH,
    horizontal=True,
    on_change=switch_language,
)

# Serving other machines without login is refused (chat_core/access.py), and with
# login a visitor who has not logged in gets the login button: either is then the
# only page, so no URL, no ?c= link, reaches another.
if reason := refused_because():
    logging.getLogger("sagemaker-chat").warning(reason.en)
    pages = [st.Page(refused, title=t("SageMaker Chat"), icon=":material/lock:")]
elif logged_out():  # the login button is the only page, whatever the URL asks for
    pages = [st.Page(log_in, title=t("Log in"), icon=":material/login:")]
else:
    admit_uploads()
    keep_choices()  # first: it knows a session's first run
    demo_notice()
    if login_configured():  # the email is shown, never used to tell users apart
        email = safe_markdown(str(st.user.get("email") or "?"))
        st.sidebar.caption(t("Logged in as {email}", email=email))
        st.sidebar.button(t("Log out"), on_click=st.logout, icon=":material/logout:")
    pages = [
        st.Page("pages/chat.py", title=t("Chat"), icon=":material/chat:", default=True),
        st.Page("pages/Summarize_a_PDF.py", title=t("Summarize a PDF"), icon=":material/picture_as_pdf:"),
        st.Page("pages/usage.py", title=t("Usage"), icon=":material/monitoring:"),
    ]
st.navigation(pages).run()
