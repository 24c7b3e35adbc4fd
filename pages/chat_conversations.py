"""The chat page's conversations: the list in the sidebar, the open one's actions (rename,
export, delete) and all of them deleted.  ``go_to`` is the one way a conversation is opened
or a new one started, and ``show_in_url`` the one place ``?c=`` is set."""

from collections.abc import Callable

import streamlit as st

from chat_core.conversations.export import file_name, to_json, to_markdown
from chat_core.conversations.feedback import preference_pairs, rated, to_jsonl
from chat_core.conversations.session import ChatSession
from chat_core.conversations.store import (
    TITLE_LENGTH,
    Conversation,
    ConversationNotFound,
    Store,
    StoreUnavailable,
)
from chat_core.errors import ChatError
from chat_core.markdown import safe_markdown
from pages import state
from pages.common import conversation_store, language, owner, t


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
        this_conversation(chat, current, store, user)
    if listed:
        with st.expander(t("Feedback and comparisons"), icon=":material/thumbs_up_down:"):
            st.caption(t("Your rated answers and comparisons, for evaluation or fine-tuning."))
            for label, export, name in (
                ("Export ratings (JSONL)", rated, "ratings.jsonl"),
                ("Export preference pairs (JSONL)", preference_pairs, "preference-pairs.jsonl"),
            ):
                st.download_button(
                    t(label),
                    deferred(lambda export=export: to_jsonl(export(store, user))),
                    name,
                    "application/jsonl",
                    on_click="ignore",
                    key=f"export-{name}",
                )
        with st.expander(t("Delete all conversations"), icon=":material/delete_sweep:"):
            if st.checkbox(t("Yes, delete all {count}", count=len(listed)), key="confirm-all"):
                done = t("Deleted {count} conversations", count=len(listed))
                st.button(
                    t("Delete all"), key="delete-all", type="primary", on_click=delete, args=(chat, done)
                )


def this_conversation(chat: ChatSession, current: Conversation, store: Store, user: str) -> None:
    with st.expander(t("This conversation"), icon=":material/chat:"):
        st.text_input(t("Title"), current.title, max_chars=TITLE_LENGTH, key=state.title(current.id))
        st.button(t("Rename"), key="rename", on_click=rename, args=(current.id,))
        for label, export, kind in (("Export Markdown", to_markdown, "md"), ("Export JSON", to_json, "json")):
            name = file_name(current, kind)
            st.download_button(
                t(label),
                deferred(lambda export=export: export(current, store.messages(user, current.id))),
                name,
                "text/markdown" if kind == "md" else "application/json",
                on_click=st.toast,
                args=(safe_markdown(t("Exported {name}", name=name)),),
                kwargs={"icon": ":material/download:"},
            )
        if st.checkbox(t("Yes, delete this conversation"), key=f"confirm-{current.id}"):
            done = t("Deleted “{title}”", title=current.title)
            st.button(
                t("Delete"), type="primary", key="delete", on_click=delete, args=(chat, done, current.id)
            )


def delete(chat: ChatSession, done: str, conversation_id: str | None = None) -> None:
    """Delete one conversation, or with no id all of the user's; ``done`` says so."""
    chat.settle()  # an answer still streaming is saved first, and so deleted with the rest
    try:
        if conversation_id:
            conversation_store().delete(owner(), conversation_id)
        else:
            conversation_store().delete_all(owner())
    except ChatError as error:
        tell(error)
        return
    st.toast(safe_markdown(done), icon=":material/delete:")
    if conversation_id in (None, chat.conversation_id):
        go_to(chat)


def rename(conversation_id: str) -> None:
    if title := st.session_state[state.title(conversation_id)].strip():
        try:
            conversation_store().rename(owner(), conversation_id, title)
        except ChatError as error:
            tell(error)
            return
        st.toast(safe_markdown(t("Renamed to “{title}”", title=title)), icon=":material/edit:")


def deferred(export: Callable[[], str]) -> Callable[[], str]:
    """An export made when its button is clicked, not on every run: a long conversation
    costs nothing until then.  Streamlit makes it outside any page run, so ``export`` is
    given all it reads when drawn; if the store fails, the file holds its message."""
    lang = language()

    def made() -> str:
        try:
            return export()
        except ChatError as error:
            return error.text(lang)

    return made
