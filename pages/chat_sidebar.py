"""The chat page's sidebar: the user's conversations (``chat_conversations``), the documents
answers come from, and the settings a question is asked with, returned as one ``Choices``."""

from dataclasses import dataclass

import streamlit as st

from chat_core.conversations.exchange import DEFAULT_SYSTEM, MODES, Settings
from chat_core.conversations.session import ChatSession
from chat_core.errors import ChatError
from chat_core.models.catalog import GenerationParams, ModelSpec
from chat_core.retrieval.library import Attached
from chat_core.retrieval.search import TOP_K
from pages import state
from pages.chat_conversations import conversations, go_to
from pages.common import language, library, t
from pages.models import model_picker, offered_models
from pages.preferences import SESSION, remember_choices


@dataclass(frozen=True)
class Choices:
    """What the user chose in the sidebar for the next question."""

    settings: Settings  # the model picked, its parameters, the mode and the system prompt
    compared: list[Settings]  # two or three models asked each question at once; or none
    top_k: int  # passages found per question in the attached documents
    show_passages: bool  # under each answer from documents


def sidebar(chat: ChatSession) -> Choices:
    st.button(
        t("New chat"), icon=":material/add:", width="stretch", key="new-chat", on_click=go_to, args=(chat,)
    )
    conversations(chat)
    st.header(t("Documents"))
    documents(chat)
    with st.expander(t("Retrieval settings"), icon=":material/tune:"):
        st.session_state.setdefault(state.TOP_K, TOP_K)
        top_k = st.slider(t("Passages per question"), 1, 10, key=state.TOP_K, persist_state=SESSION)
        st.session_state.setdefault(state.SHOW_PASSAGES, True)
        show_passages = st.toggle(
            t("Show the passages under each answer"), key=state.SHOW_PASSAGES, persist_state=SESSION
        )
    st.header(t("Settings"))
    settings, compared = model_settings()
    remember_choices(chat)
    return Choices(settings, compared, top_k, show_passages)


def documents(chat: ChatSession) -> None:
    """The picker of the documents questions are answered from: it shows the session's
    (``chat.documents``, which opening a conversation or "Ask this document" sets) and
    sets them when the user changes it."""
    try:
        names = {document.digest: document.name for document in [*library().documents(), *chat.documents]}
    except ChatError as error:
        st.error(error.text(language()), icon=":material/folder_off:")
        names = {document.digest: document.name for document in chat.documents}
    st.session_state[state.DOCUMENTS] = [document.digest for document in chat.documents]
    st.multiselect(
        t("Answer from these documents"),
        list(names),
        format_func=names.get,
        key=state.DOCUMENTS,
        on_change=attach,
        args=(chat, names),
        placeholder=t("Upload PDFs on the PDF page"),
    )


def attach(chat: ChatSession, names: dict[str, str]) -> None:
    """The documents picked become the session's."""
    chat.documents = [Attached(digest, names[digest]) for digest in st.session_state[state.DOCUMENTS]]


def model_settings() -> tuple[Settings, list[Settings]]:
    """The model's settings, and each compared model's (none unless two or three are)."""
    model = model_picker(state.MODEL)
    comparing = compared_models(model)
    mode = st.radio(
        t("Conversation mode"),
        MODES,
        key=state.MODE,
        persist_state=SESSION,
        help=t("PromptTemplate keeps the newest turns that fit; ConversationChain keeps a buffer memory."),
    )
    params: dict[ModelSpec, GenerationParams] = {}
    if len(comparing) < 2:
        params[model] = generation_params(model)
    else:  # each compared model with its own sliders
        for spec in comparing:
            with st.expander(spec.label, icon=":material/tune:"):
                params[spec] = generation_params(spec)
    st.session_state.setdefault(state.SYSTEM, DEFAULT_SYSTEM)
    system = st.text_area(t("System prompt"), key=state.SYSTEM, persist_state=SESSION)
    settings = Settings(model, params.get(model, model.defaults), mode, system)
    compared = [Settings(spec, chosen, mode, system) for spec, chosen in params.items()]
    return settings, compared if len(comparing) >= 2 else []


def compared_models(model: ModelSpec) -> list[ModelSpec]:
    """The models picked to be asked each question at once, when comparing."""
    explained = t("Ask each question of two or three models at once, then pick the better answer.")
    if not st.toggle(t("Compare models"), key=state.COMPARE, help=explained, persist_state=SESSION):
        return []
    offered = offered_models()
    # A model no longer offered leaves the comparison.
    kept = [id for id in st.session_state.get(state.COMPARED, [model.id]) if id in offered]
    st.session_state[state.COMPARED] = kept
    ids = st.multiselect(
        t("Models to compare"),
        list(offered),
        key=state.COMPARED,
        persist_state=SESSION,
        max_selections=3,
        format_func=lambda id: offered[id].label,
    )
    if len(ids) < 2:
        st.caption(t("Choose two or three models; until then questions go to the model above."))
    return [offered[id] for id in ids]


def generation_params(spec: ModelSpec) -> GenerationParams:
    """A model's sliders, keyed by model, so each model starts from its own defaults (a
    value kept from an earlier session is brought into the slider's range)."""
    defaults, most = spec.defaults, min(2048, spec.context_window // 2)
    sliders = {
        "temperature": (t("Temperature"), 0.0, 1.0, 0.05, state.temperature(spec.id)),
        "top_p": (t("Top p"), 0.05, 1.0, 0.05, state.top_p(spec.id)),
        "max_new_tokens": (t("Max new tokens"), 16, most, 16, state.max_new_tokens(spec.id)),
    }
    chosen = {}
    for name, (label, least, highest, step, key) in sliders.items():
        kept = st.session_state.get(key, getattr(defaults, name))
        st.session_state[key] = min(max(kept, least), highest)
        chosen[name] = st.slider(label, least, highest, step=step, key=key, persist_state=SESSION)
    return GenerationParams(**chosen)
