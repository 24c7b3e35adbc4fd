"""SageMaker Chat: the entry point. It sets the page, the language and the
navigation; the pages themselves are in ``pages/``."""

import logging

import streamlit as st

from chat_core.access import refusal
from chat_core.i18n import LANGUAGES, language_for, tr
from chat_core.markdown import safe_markdown
from pages.common import log_in, logged_out, login_configured
from pages.upload_gate import admit_uploads, gate_uploads

st.set_page_config(page_title="SageMaker Chat", page_icon="💬")
gate_uploads()  # below, only a visitor who is in is let upload
# The browser's language until the user picks one; kept in session state (not as
# the switch's own state, which Streamlit drops on any run that does not draw it).
language = st.session_state.setdefault("language", language_for(st.context.locale))
st.sidebar.radio(
    tr("Language", "en") + " · " + tr("Language", "ko"),
    list(LANGUAGES),
    index=list(LANGUAGES).index(language),
    format_func=LANGUAGES.get,
    key="language-switch",
    horizontal=True,
    on_change=lambda: st.session_state.update(language=st.session_state["language-switch"]),
)
language = st.session_state.language


def refused() -> None:
    st.error(refusal_text.text(language), icon=":material/lock:")


# Serving other machines without login is refused (chat_core/access.py), and with
# login a visitor who has not logged in gets the login button: either is then the
# only page, so no URL, no ?c= link, reaches another.
if refusal_text := refusal(st.get_option("server.address") or "", login_configured()):
    logging.getLogger("sagemaker-chat").warning(refusal_text.en)
    pages = [st.Page(refused, title=tr("SageMaker Chat", language), icon=":material/lock:")]
elif logged_out():  # the login button is the only page, whatever the URL asks for
    pages = [st.Page(log_in, title=tr("Log in", language), icon=":material/login:")]
else:
    admit_uploads()
    if login_configured():  # the email is shown, never used to tell users apart
        email = safe_markdown(str(st.user.get("email") or "?"))
        st.sidebar.caption(tr("Logged in as {email}", language, email=email))
        st.sidebar.button(tr("Log out", language), on_click=st.logout, icon=":material/logout:")
    pages = [
        st.Page("pages/chat.py", title=tr("Chat", language), icon=":material/chat:", default=True),
        st.Page(
            "pages/Summarize_a_PDF.py",
            title=tr("Summarize a PDF", language),
            icon=":material/picture_as_pdf:",
        ),
        st.Page("pages/usage.py", title=tr("Usage", language), icon=":material/monitoring:"),
    ]
st.navigation(pages).run()
