"""Chat with a model served behind the SageMaker runtime contract (or the bundled one)."""

import os

import streamlit as st

from chat_core.conversations.export import to_json, to_markdown
from chat_core.conversations.session import DEFAULT_SYSTEM, MODES, ChatSession, Stats
from chat_core.conversations.store import (
    LOCAL_USER,
    ConversationNotFound,
    Store,
    StoreUnavailable,
    open_store,
)
from chat_core.errors import ChatError
from chat_core.i18n import Text, translator
from chat_core.models.catalog import (
    DEFAULT_MODEL,
    PAYLOAD_PROMPTS,
    GenerationParams,
    custom_model,
    load_catalog,
)

language = st.session_state.get("language", "en")
t = translator(language)


# Root-level secrets become environment variables; an [auth] section turns on login.
has_secrets = st.secrets.load_if_toml_exists()


@st.cache_resource(show_spinner=False)
def conversation_store(url: str) -> Store:
    return open_store(url or None)


try:
    store = conversation_store(os.environ.get("CHAT_STORE", ""))
except StoreUnavailable as error:
    st.error(error.text(language), icon=":material/database:")
    st.stop()

# Who the user is: Streamlit's login when [auth] is configured, else the one local user.
if has_secrets and "auth" in st.secrets:
    if not st.user.is_logged_in:
        st.button(t("Log in"), on_click=st.login, icon=":material/login:")
        st.stop()
    owner = str(st.user.get("email") or st.user.get("sub"))
else:
    owner = LOCAL_USER

models = load_catalog() | st.session_state.setdefault("custom_models", {})
st.session_state.setdefault("model", DEFAULT_MODEL)

with st.sidebar:
    conversations_area = st.container()  # filled below, once the session is set up
    st.header(t("Settings"))
    with st.expander(t("Add a SageMaker endpoint")), st.form("add-endpoint", border=False):
        endpoint_name = st.text_input(t("Endpoint name"), key="endpoint-name")
        region = st.text_input(t("Region"), placeholder=t("default region"), key="endpoint-region")
        payload = st.selectbox(t("Payload format"), list(PAYLOAD_PROMPTS), key="endpoint-payload")
        context_window = st.number_input(
            t("Context window (tokens)"), 512, 1_000_000, 4096, 512, key="endpoint-context"
        )
        if st.form_submit_button(t("Add endpoint"), key="add-endpoint"):
            try:
                custom = custom_model(endpoint_name, payload, int(context_window), region)
            except ChatError as error:
                st.error(t("Not added: {error}", error=error.text(language)))
            else:
                st.session_state.custom_models[custom.id] = custom
                st.session_state.model = custom.id
                st.rerun()
    model = models[
        st.selectbox(
            t("Model"),
            list(models),
            format_func=lambda model_id: models[model_id].label,
            key="model",
        )
    ]
    mode = st.radio(
        t("Conversation mode"),
        MODES,
        key="mode",
        help=t("PromptTemplate keeps the newest turns that fit; ConversationChain keeps a buffer memory."),
    )
    # Keyed by model, so each model starts from its own defaults.
    defaults = model.defaults
    params = GenerationParams(
        temperature=st.slider(t("Temperature"), 0.0, 1.0, defaults.temperature, 0.05, key=f"t-{model.id}"),
        top_p=st.slider(t("Top p"), 0.05, 1.0, defaults.top_p, 0.05, key=f"p-{model.id}"),
        max_new_tokens=st.slider(
            t("Max new tokens"),
            16,
            min(2048, model.context_window // 2),
            defaults.max_new_tokens,
            16,
            key=f"n-{model.id}",
        ),
    )
    system = st.text_area(t("System prompt"), DEFAULT_SYSTEM, key="system")

if "chat" not in st.session_state:
    st.session_state.chat = ChatSession(model, store=store, owner=owner)
chat: ChatSession = st.session_state.chat
chat.spec, chat.mode, chat.system, chat.params = model, mode, system, params


def show_unanswered() -> None:
    """A saved question with no answer is offered for resending."""
    if chat.unanswered:
        st.session_state.failed = {
            "question": chat.unanswered[0],
            "error": Text.of("This question has no answer yet: the answer failed or was cut short."),
        }


def open_conversation(conversation_id: str) -> None:
    st.session_state.pop("failed", None)
    try:
        chat.open(conversation_id)
    except ConversationNotFound as error:
        st.session_state.notice = error
        chat.clear()
        st.query_params.clear()
        return
    st.query_params["c"] = conversation_id
    show_unanswered()


def new_chat() -> None:
    chat.clear()
    st.session_state.pop("failed", None)
    st.query_params.clear()


def delete(conversation_id: str | None = None) -> None:
    """Delete one conversation, or with no id all of the user's."""
    if conversation_id:
        store.delete(owner, conversation_id)
    else:
        store.delete_all(owner)
    if conversation_id in (None, chat.conversation_id):
        new_chat()


# "Discuss in chat" on the PDF page: a new conversation that opens with the summary.
if discussed := st.session_state.pop("discuss", None):
    chat.start_with(discussed["question"], discussed["answer"])
    st.query_params["c"] = chat.conversation_id or ""

# A conversation named in the URL opens, if it is the user's own.
if st.query_params.get("c", chat.conversation_id) != chat.conversation_id:
    open_conversation(st.query_params["c"])

with conversations_area:
    st.button(t("New chat"), icon=":material/add:", width="stretch", key="new-chat", on_click=new_chat)
    st.header(t("Conversations"))
    try:
        conversations = store.conversations(owner)
        current = store.get(owner, chat.conversation_id) if chat.conversation_id else None
    except ConversationNotFound:  # deleted meanwhile, from another tab or replica
        new_chat()
        conversations, current = store.conversations(owner), None
    except StoreUnavailable as error:
        st.error(error.text(language), icon=":material/database:")
        conversations, current = [], None
    for conversation in conversations:
        st.button(
            conversation.title,
            key=f"open-{conversation.id}",
            width="stretch",
            type="primary" if conversation.id == chat.conversation_id else "tertiary",
            on_click=open_conversation,
            args=(conversation.id,),
        )
    if current:
        with st.expander(t("This conversation"), icon=":material/chat:"):
            title = st.text_input(t("Title"), current.title, key=f"title-{current.id}")
            if st.button(t("Rename"), key="rename") and title.strip():
                store.rename(owner, current.id, title.strip())
                st.rerun()
            # Made when clicked, not on every run: a long conversation costs nothing until then.
            st.download_button(
                t("Export Markdown"),
                lambda conversation=current: to_markdown(
                    conversation, store.messages(owner, conversation.id)
                ),
                f"{current.id}.md",
                "text/markdown",
                on_click="ignore",
            )
            st.download_button(
                t("Export JSON"),
                lambda conversation=current: to_json(conversation, store.messages(owner, conversation.id)),
                f"{current.id}.json",
                "application/json",
                on_click="ignore",
            )
            if st.checkbox(t("Yes, delete this conversation"), key=f"confirm-{current.id}"):
                st.button(t("Delete"), type="primary", key="delete", on_click=delete, args=(current.id,))
    if conversations:
        with st.expander(t("Delete all conversations"), icon=":material/delete_sweep:"):
            if st.checkbox(t("Yes, delete all {count}", count=len(conversations)), key="confirm-all"):
                st.button(t("Delete all"), type="primary", key="delete-all", on_click=delete)


def caption(stats: Stats | None) -> None:
    if stats:
        rate = t(" · {rate:.1f} tokens/s", rate=stats.tokens_per_s) if stats.tokens_per_s else ""
        stopped = t("stopped · ") if stats.stopped else ""
        timing = t(
            "first token {seconds:.2f} s · {tokens} tokens", seconds=stats.first_token_s, tokens=stats.tokens
        )
        st.caption(stopped + timing + rate)


STOPPED_EARLY = Text.of("Stopped before any answer came.")


def regenerate() -> None:
    st.session_state.resend = chat.regenerate_last()


def send_edited() -> None:
    edited = st.session_state.get("edited-question", "").strip()
    if edited:
        chat.edit_last()
        st.session_state.resend = edited


def answer_actions(index: int, answer: str) -> None:
    """Copy for every answer; regenerate and edit for the last turn."""
    with st.container(horizontal=True, gap="small"):
        with st.popover(t("Copy"), icon=":material/content_copy:", type="tertiary", key=f"copy-{index}"):
            st.caption(t("The copy button is at the top right of the text."))
            st.code(answer, language=None, wrap_lines=True)
        if index != len(chat.turns) - 1:
            return
        st.button(
            t("Regenerate"), icon=":material/refresh:", type="tertiary", key="regenerate", on_click=regenerate
        )
        with st.popover(t("Edit question"), icon=":material/edit:", type="tertiary", key="edit"):
            st.text_area(t("Question"), chat.turns[-1].question, key="edited-question")
            st.button(t("Send edited question"), key="send-edited", on_click=send_edited)


# A click while an answer streams starts this run before the interrupted one has
# saved the answer so far: wait for it, so that it is shown.
if (interrupted := st.session_state.pop("streaming", None)) is not None:
    interrupted.stop_from_elsewhere()

st.title(t("SageMaker Chat"))
st.caption(f"{model.label} · {mode}")
if notice := st.session_state.pop("notice", None):
    st.warning(notice.text(language), icon=":material/lock:")
for index, (turn, stats) in enumerate(zip(chat.turns, chat.stats, strict=True)):
    st.chat_message("user").markdown(turn.question)
    with st.chat_message("assistant"):
        st.markdown(turn.answer or t("*(empty answer)*"))
        caption(stats)
        answer_actions(index, turn.answer)

# A question whose answer failed stays on screen, ready to be sent again.
# While an answer streams, typing waits: a new question would cut the answer short.
question = st.chat_input(t("Ask anything"), key="question", submit_mode="disable") or st.session_state.pop(
    "resend", None
)
failed = st.session_state.pop("failed", None)
if failed and not question:
    st.chat_message("user").markdown(failed["question"])
    with st.chat_message("assistant"):
        st.error(failed["error"].text(language), icon=":material/error:")
        st.button(
            t("Resend"),
            icon=":material/refresh:",
            on_click=lambda: st.session_state.update(resend=failed["question"]),
        )
    st.session_state.failed = failed

if question:
    st.chat_message("user").markdown(question)
    with st.chat_message("assistant"):
        try:
            reply = chat.ask(question)
            st.query_params["c"] = chat.conversation_id or ""  # a reload finds it, even mid-answer
            if reply.notice:
                st.info(reply.notice.text(language), icon=":material/info:")
            # Stop reruns the page, which interrupts the stream; so does Streamlit's own Stop.
            st.button(t("Stop"), icon=":material/stop_circle:", key="stop")
            st.session_state.streaming = reply
            try:
                st.write_stream(reply)
                st.session_state.pop("streaming", None)
            finally:
                reply.stop()  # stopped mid-answer: the text so far is kept, marked stopped
                if reply.stats is None:  # stopped before any text came: offered for resending
                    st.session_state.failed = {"question": question, "error": STOPPED_EARLY}
            caption(reply.stats)
        except ChatError as error:
            st.session_state.failed = {"question": question, "error": error}
        if chat.conversation_id:
            st.query_params["c"] = chat.conversation_id
        st.rerun()  # the sidebar lists the conversation, newest first
