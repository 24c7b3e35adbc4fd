"""What the pages share: the language and its labels, the stores, the user, the chat
session, indexing's progress bar, an answer's header, wait and speed line
(the models: ``pages/models.py``)."""

import logging
import os
import threading
from typing import Any

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from chat_core.conversations.backends import open_store
from chat_core.conversations.exchange import Exchange, State
from chat_core.conversations.session import ChatSession
from chat_core.conversations.store import LOCAL_USER, Store, StoreUnavailable
from chat_core.documents.uploads import UploadStore, open_uploads
from chat_core.errors import ChatError
from chat_core.i18n import Text, tr
from chat_core.markdown import safe_markdown
from chat_core.models.scaling import start_auto_sleep
from chat_core.retrieval.embeddings import embedder
from chat_core.retrieval.indexing import Progress
from chat_core.retrieval.library import Library
from chat_core.usage.limits import Allowance
from pages import state
from pages.frames import rerun_if_clicked


def language() -> str:
    """The language the user reads the pages in: "en" or "ko" (app.py sets it)."""
    return st.session_state.get(state.LANGUAGE, "en")


def t(label: str, **values: object) -> str:
    """A page's label in the user's language (``chat_core.i18n.tr``)."""
    return tr(label, language(), **values)


@st.cache_resource(show_spinner=False)
def _conversation_store(url: str) -> Store:
    return open_store(url or None)


def conversation_store() -> Store:
    """The conversation store, or the page stops with why it cannot be opened."""
    try:
        return _conversation_store(os.environ.get("CHAT_STORE", ""))
    except StoreUnavailable as error:
        st.error(error.text(language()), icon=":material/database:")
        st.stop()


@st.cache_resource(show_spinner=False)
def _auto_sleep(settings: tuple[str, ...]) -> threading.Thread | None:
    return start_auto_sleep(lambda: _conversation_store(settings[0]))


def auto_sleep() -> None:
    """Start this app process's auto-sleep once (``models.scaling``), when the operator
    lists components; settings that are not valid are logged (admins see them on the
    Usage page) and the app runs on."""
    names = ("CHAT_STORE", "SLEEP_COMPONENTS", "SLEEP_AFTER_MINUTES")
    try:
        _auto_sleep(tuple(os.environ.get(name, "") for name in names))
    except ChatError as error:
        logging.getLogger("sagemaker-chat").error("auto-sleep is off: %s", error)


@st.cache_resource(show_spinner=False)
def _upload_store(url: str) -> UploadStore:
    return open_uploads(url or None)


def uploads() -> UploadStore:
    """The user's part of the upload store, or the page stops with why it cannot be used."""
    try:
        return _upload_store(os.environ.get("UPLOAD_STORE", "")).for_owner(owner())
    except ChatError as error:
        st.error(error.text(language()), icon=":material/folder_off:")
        st.stop()


def library() -> Library:
    """The user's documents, which questions can be asked of: one per session, so
    that an index loaded or built once stays loaded."""
    key = state.library(owner())
    if key not in st.session_state:
        try:
            allowance = Allowance(conversation_store, owner())  # indexing is refused past a limit
            record = conversation_store().record_usage
            st.session_state[key] = Library(uploads(), embedder(), record, allowance)
        except ChatError as error:  # the embedding endpoint is misconfigured
            st.error(error.text(language()), icon=":material/error:")
            st.stop()
    return st.session_state[key]


def chat_session() -> ChatSession:
    """The session's chat: the chat page draws it, the PDF page starts it ("Ask this
    document", "Discuss in chat").  Whoever is not let in is stopped first (``owner``)."""
    user = owner()
    if state.CHAT not in st.session_state:
        st.session_state[state.CHAT] = ChatSession(conversation_store(), user, library())
    return st.session_state[state.CHAT]


def answer_header(exchange: Exchange) -> None:
    """Over an answer: the model that wrote it, whatever the sidebar picks now."""
    if exchange.model:
        label = (
            t("{model} · picked from the compared answers", model=exchange.model)
            if exchange.picked
            else exchange.model
        )
        st.caption(safe_markdown(label))


def show_wait(slot: DeltaGenerator, status: Text | None) -> None:
    """In an answer's place until its text comes (a single answer's or a compared
    column's): what it waits for and for how long; nothing once it streams."""
    rerun_if_clicked()  # Stop, while it waits
    if status is None:
        slot.empty()
    else:
        slot.caption(f":material/hourglass_top: {status.text(language())}")


def indexing_bar(bar: Any) -> Progress:
    """Indexing's progress, drawn in ``bar`` (an ``st.empty``): pages done and time left."""
    return lambda step: bar.progress(step.fraction, step.message.text(language()))


def login_configured() -> bool:
    # Root-level secrets become environment variables; an [auth] section turns on login.
    return bool(st.secrets.load_if_toml_exists() and "auth" in st.secrets)


def logged_out() -> bool:
    """Whether login is on and this visitor has not logged in: app.py then shows
    the login button and no page."""
    return login_configured() and not st.user.get("is_logged_in", False)


def log_in() -> None:
    st.button(t("Log in"), on_click=st.login, icon=":material/login:")


def owner() -> str:
    """Who the user is: the issuer and subject of their login, which the identity
    provider never reassigns (an email can be changed, or set unverified), else
    the one local user."""
    if not login_configured():
        return LOCAL_USER
    issuer, subject = st.user.get("iss"), st.user.get("sub")
    if logged_out() or not (issuer and subject):  # a page run outside app.py, or a token without them
        log_in()
        st.stop()
    return f"{issuer}#{subject}"


def stats_line(exchange: Exchange) -> str:
    """Under an answer: stopped or not, time to its first token, its tokens and speed."""
    if not (stats := exchange.stats):
        return ""
    rate = t(" · {rate:.1f} tokens/s", rate=stats.tokens_per_s) if stats.tokens_per_s else ""
    stopped = t("stopped · ") if exchange.state is State.STOPPED else ""
    timing = t(
        "first token {seconds:.2f} s · {tokens} tokens", seconds=stats.first_token_s, tokens=stats.tokens
    )
    return stopped + timing + rate
