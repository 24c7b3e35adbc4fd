"""What the pages keep for a user from one session to the next, in the conversation store
under their owner key (``Store.preferences``): the chat sidebar's choices and the documents
attached, and whether the first-run notice was shown.  Kept per user rather than per
conversation (``?c=``): choices made before any question is asked, and the notice, belong
to no conversation; a reload and a new tab start from the user's last choices."""

import contextlib
from dataclasses import asdict
from typing import Any

import streamlit as st

from chat_core.access import check_endpoint_allowed
from chat_core.conversations.session import ChatSession
from chat_core.conversations.store import StoreUnavailable
from chat_core.errors import ChatError
from chat_core.models.catalog import DEMO_NOTICE, ModelSpec, custom_model
from chat_core.retrieval.library import Attached
from pages import state
from pages.common import chat_session, conversation_store, language, library, login_configured, owner, t

# A widget's value kept through the session, on pages that do not draw it (Streamlit
# otherwise forgets it there): every choice the sidebar keeps for the user.
SESSION = "session"


def preferences() -> dict[str, Any]:
    """The user's preferences, read from the store once a session (``keep_preferences``)."""
    if state.PREFERENCES not in st.session_state:
        st.session_state[state.PREFERENCES] = {}
        with contextlib.suppress(StoreUnavailable):  # logged; the session starts from the defaults
            st.session_state[state.PREFERENCES] = conversation_store().preferences(owner())
    return st.session_state[state.PREFERENCES]


def keep_preferences(**changed: Any) -> None:
    """Save the preferences ``changed`` for the user's next sessions, if they changed.
    If the store fails they are kept for this session only (logged)."""
    kept = preferences()
    if all(kept.get(name) == value for name, value in changed.items()):
        return
    st.session_state[state.PREFERENCES] = kept = kept | changed
    with contextlib.suppress(StoreUnavailable):
        conversation_store().set_preferences(owner(), kept)


def keep_choices() -> None:
    """A new session starts from the user's last choices (app.py, before any page; first:
    the session's first run is the one that has not read the preferences).  Within the
    session, on pages that do not draw them, the widgets keep their own (``SESSION``)."""
    if state.PREFERENCES in st.session_state:
        return
    added: dict[str, ModelSpec] = st.session_state.setdefault(state.CUSTOM_MODELS, {})
    for endpoint in preferences().get("endpoints", []):
        with contextlib.suppress(ChatError):  # no longer allowed to this user: left out
            spec = custom_model(**endpoint)
            check_endpoint_allowed(spec, owner(), login_configured())
            added[spec.id] = spec
    for key, value in preferences().get("choices", {}).items():
        if state.is_choice(key):
            st.session_state[key] = value
    chat_session().documents = kept_documents()


def keep_endpoints(added: dict[str, ModelSpec]) -> None:
    """The endpoints the user added in the sidebar, for their next sessions (as ``custom_model``
    takes them, checked again when restored)."""
    kept = [
        {
            "endpoint_name": spec.endpoint_name,
            "payload": spec.payload,
            "context_window": spec.context_window,
            "region": spec.region,
            "component": spec.inference_component,
        }
        for spec in added.values()
    ]
    keep_preferences(endpoints=kept)


def remember_choices(chat: ChatSession) -> None:
    """Save the sidebar's choices and the documents attached, for the user's next session
    (one user's, by the store's owner key: the same in every tab)."""
    choices = {key: st.session_state[key] for key in st.session_state if state.is_choice(key)}
    keep_preferences(choices=choices, documents=[asdict(document) for document in chat.documents])


def kept_documents() -> list[Attached]:
    """The documents attached when the user's last session ended, those still in their library."""
    try:
        own = set(library().documents())
    except ChatError:  # shown by the documents picker
        return []
    kept = [Attached(**fields) for fields in preferences().get("documents", [])]
    return [document for document in kept if document in own]


def demo_notice() -> None:
    """Once per user, through their first session: the bundled model is a demo."""
    if state.DEMO_NOTICE not in st.session_state:
        st.session_state[state.DEMO_NOTICE] = not preferences().get("demo_notice_seen")
        keep_preferences(demo_notice_seen=True)
    if st.session_state[state.DEMO_NOTICE]:  # over every page
        st.info(DEMO_NOTICE.format().text(language()), icon=":material/science:")
        st.button(t("Got it"), on_click=_seen)


def _seen() -> None:
    st.session_state[state.DEMO_NOTICE] = False
