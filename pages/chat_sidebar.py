"""The chat page's sidebar: the user's conversations (open, rename, export, delete), the
documents answers come from, and the settings a question is asked with, returned as one
``Choices``.  ``go_to`` is the one way a conversation is opened or a new one started."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import streamlit as st

from chat_core.conversations.export import to_json, to_markdown
from chat_core.conversations.feedback import preference_pairs, rated, to_jsonl
from chat_core.conversations.session import DEFAULT_SYSTEM, MODES, ChatSession, Settings
from chat_core.conversations.store import (
    TITLE_LENGTH,
    Conversation,
    ConversationNotFound,
    Message,
    Store,
    StoreUnavailable,
)
from chat_core.errors import ChatError
from chat_core.markdown import safe_markdown
from chat_core.models.catalog import GenerationParams, ModelSpec
from chat_core.retrieval.library import Attached
from chat_core.retrieval.search import TOP_K
from pages import state
from pages.common import conversation_store, language, library, model_picker, offered_models, owner, t


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
        top_k = st.slider(t("Passages per question"), 1, 10, TOP_K, key="top-k")
        show_passages = st.toggle(t("Show the passages under each answer"), True, key="show-passages")
    st.header(t("Settings"))
    settings, compared = model_settings()
    return Choices(settings, compared, top_k, show_passages)


def show_in_url(chat: ChatSession) -> None:
    """The one place the URL learns which conversation is open (``?c=``)."""
    if chat.conversation_id:
        st.query_params["c"] = chat.conversation_id
    else:
        st.query_params.pop("c", None)


def tell(error: ChatError) -> None:
    st.session_state[state.NOTICE] = error.message  # shown once, at the top of the page


def go_to(chat: ChatSession, conversation_id: str | None = None) -> None:
    """Open a conversation, or with none start a new one."""
    try:
        if conversation_id:
            chat.open(conversation_id)
        else:
            chat.clear()
    except ChatError as error:  # not found, or the store failed
        chat.clear()
        tell(error)
    show_in_url(chat)


def conversations(chat: ChatSession) -> None:
    """The user's conversations, newest first; the open one's actions; all of them deleted."""
    st.header(t("Conversations"))
    store, user = conversation_store(), owner()
    listed: list[Conversation] = []
    current = None
    try:
        listed = store.conversations(user)
        current = store.get(user, chat.conversation_id) if chat.conversation_id else None
    except ConversationNotFound:  # deleted meanwhile, from another tab or replica
        go_to(chat)
    except StoreUnavailable as error:
        st.error(error.text(language()), icon=":material/database:")
    for conversation in listed:
        st.button(
            safe_markdown(conversation.title),
            key=f"open-{conversation.id}",
            width="stretch",
            type="primary" if conversation.id == chat.conversation_id else "tertiary",
            on_click=go_to,
            args=(chat, conversation.id),
        )
    if current:
        this_conversation(chat, current)
    if listed:
        with st.expander(t("Feedback and comparisons"), icon=":material/thumbs_up_down:"):
            st.caption(t("Your rated answers and comparisons, for evaluation or fine-tuning."))
            for label, export, name in (
                ("Export ratings (JSONL)", rated, "ratings.jsonl"),
                ("Export preference pairs (JSONL)", preference_pairs, "preference-pairs.jsonl"),
            ):
                made = lambda export=export: exported_feedback(export)  # noqa: E731
                st.download_button(
                    t(label), made, name, "application/jsonl", on_click="ignore", key=f"export-{name}"
                )
        with st.expander(t("Delete all conversations"), icon=":material/delete_sweep:"):
            if st.checkbox(t("Yes, delete all {count}", count=len(listed)), key="confirm-all"):
                st.button(t("Delete all"), type="primary", key="delete-all", on_click=delete, args=(chat,))


def this_conversation(chat: ChatSession, current: Conversation) -> None:
    with st.expander(t("This conversation"), icon=":material/chat:"):
        st.text_input(t("Title"), current.title, max_chars=TITLE_LENGTH, key=state.title(current.id))
        st.button(t("Rename"), key="rename", on_click=rename, args=(current.id,))
        # Made when clicked, not on every run: a long conversation costs nothing until then.
        for label, export, kind in (("Export Markdown", to_markdown, "md"), ("Export JSON", to_json, "json")):
            st.download_button(
                t(label),
                lambda export=export: exported(export, current),
                f"{current.id}.{kind}",
                "text/markdown" if kind == "md" else "application/json",
                on_click="ignore",
            )
        if st.checkbox(t("Yes, delete this conversation"), key=f"confirm-{current.id}"):
            st.button(t("Delete"), type="primary", key="delete", on_click=delete, args=(chat, current.id))


def delete(chat: ChatSession, conversation_id: str | None = None) -> None:
    """Delete one conversation, or with no id all of the user's."""
    chat.settle()  # an answer still streaming is saved first, and so deleted with the rest
    try:
        if conversation_id:
            conversation_store().delete(owner(), conversation_id)
        else:
            conversation_store().delete_all(owner())
    except ChatError as error:
        tell(error)
        return
    if conversation_id in (None, chat.conversation_id):
        go_to(chat)


def rename(conversation_id: str) -> None:
    if title := st.session_state[state.title(conversation_id)].strip():
        try:
            conversation_store().rename(owner(), conversation_id, title)
        except ChatError as error:
            tell(error)


def exported(export: Callable[[Conversation, list[Message]], str], conversation: Conversation) -> str:
    """An export, made when its button is clicked; the store's message if it cannot be read."""
    try:
        return export(conversation, conversation_store().messages(owner(), conversation.id))
    except ChatError as error:
        return error.text(language())


def exported_feedback(export: Callable[[Store, str], list[dict[str, Any]]]) -> str:
    """A feedback export as JSON Lines, made when its button is clicked; the store's
    message if it cannot be read."""
    try:
        return to_jsonl(export(conversation_store(), owner()))
    except ChatError as error:
        return error.text(language())


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
        key="mode",
        help=t("PromptTemplate keeps the newest turns that fit; ConversationChain keeps a buffer memory."),
    )
    params: dict[ModelSpec, GenerationParams] = {}
    if len(comparing) < 2:
        params[model] = generation_params(model)
    else:  # each compared model with its own sliders
        for spec in comparing:
            with st.expander(spec.label, icon=":material/tune:"):
                params[spec] = generation_params(spec)
    system = st.text_area(t("System prompt"), DEFAULT_SYSTEM, key="system")
    settings = Settings(model, params.get(model, model.defaults), mode, system)
    compared = [Settings(spec, chosen, mode, system) for spec, chosen in params.items()]
    return settings, compared if len(comparing) >= 2 else []


def compared_models(model: ModelSpec) -> list[ModelSpec]:
    """The models picked to be asked each question at once, when comparing."""
    explained = t("Ask each question of two or three models at once, then pick the better answer.")
    if not st.toggle(t("Compare models"), key="compare", help=explained):
        return []
    offered = offered_models()
    # A model no longer offered leaves the comparison.
    kept = [id for id in st.session_state.get(state.COMPARED, [model.id]) if id in offered]
    st.session_state[state.COMPARED] = kept
    ids = st.multiselect(
        t("Models to compare"),
        list(offered),
        key=state.COMPARED,
        max_selections=3,
        format_func=lambda id: offered[id].label,
    )
    if len(ids) < 2:
        st.caption(t("Choose two or three models; until then questions go to the model above."))
    return [offered[id] for id in ids]


def generation_params(spec: ModelSpec) -> GenerationParams:
    """A model's sliders, keyed by model, so each model starts from its own defaults."""
    defaults, most = spec.defaults, min(2048, spec.context_window // 2)
    return GenerationParams(
        temperature=st.slider(t("Temperature"), 0.0, 1.0, defaults.temperature, 0.05, key=f"t-{spec.id}"),
        top_p=st.slider(t("Top p"), 0.05, 1.0, defaults.top_p, 0.05, key=f"p-{spec.id}"),
        max_new_tokens=st.slider(
            t("Max new tokens"), 16, most, defaults.max_new_tokens, 16, key=f"n-{spec.id}"
        ),
    )
