"""Chat with a model served behind the SageMaker runtime contract (or the bundled one)."""

import os

import streamlit as st

from chat_core.catalog import DEFAULT_MODEL, PAYLOAD_PROMPTS, GenerationParams, custom_model, load_catalog
from chat_core.chat import DEFAULT_SYSTEM, MODES, ChatSession, Stats
from chat_core.errors import ChatError
from chat_core.export import to_json, to_markdown
from chat_core.store import LOCAL_USER, ConversationNotFound, Store, StoreUnavailable, open_store

st.set_page_config(page_title="SageMaker Chat", page_icon="💬")
# Root-level secrets become environment variables; an [auth] section turns on login.
has_secrets = st.secrets.load_if_toml_exists()


@st.cache_resource(show_spinner=False)
def conversation_store(url: str) -> Store:
    return open_store(url or None)


try:
    store = conversation_store(os.environ.get("CHAT_STORE", ""))
except StoreUnavailable as error:
    st.error(str(error), icon=":material/database:")
    st.stop()

# Who the user is: Streamlit's login when [auth] is configured, else the one local user.
if has_secrets and "auth" in st.secrets:
    if not st.user.is_logged_in:
        st.button("Log in", on_click=st.login, icon=":material/login:")
        st.stop()
    owner = str(st.user.get("email") or st.user.get("sub"))
else:
    owner = LOCAL_USER

models = load_catalog() | st.session_state.setdefault("custom_models", {})
st.session_state.setdefault("model", DEFAULT_MODEL)

with st.sidebar:
    conversations_area = st.container()  # filled below, once the session is set up
    st.header("Settings")
    with st.expander("Add a SageMaker endpoint"), st.form("add-endpoint", border=False):
        endpoint_name = st.text_input("Endpoint name", key="endpoint-name")
        region = st.text_input("Region", placeholder="default region", key="endpoint-region")
        payload = st.selectbox("Payload format", list(PAYLOAD_PROMPTS), key="endpoint-payload")
        context_window = st.number_input("Context window (tokens)", 512, 1_000_000, 4096, 512)
        if st.form_submit_button("Add endpoint", key="add-endpoint"):
            try:
                custom = custom_model(endpoint_name, payload, int(context_window), region)
            except ValueError as error:
                st.error(f"Not added: {error}.")
            else:
                st.session_state.custom_models[custom.id] = custom
                st.session_state.model = custom.id
                st.rerun()
    model = models[
        st.selectbox(
            "Model",
            list(models),
            format_func=lambda model_id: models[model_id].label,
            key="model",
        )
    ]
    mode = st.radio(
        "Conversation mode",
        MODES,
        help="PromptTemplate keeps the newest turns "
        "that fit; ConversationChain keeps a LangChain buffer memory.",
    )
    # Keyed by model, so each model starts from its own defaults.
    defaults = model.defaults
    params = GenerationParams(
        temperature=st.slider("Temperature", 0.0, 1.0, defaults.temperature, 0.05, key=f"t-{model.id}"),
        top_p=st.slider("Top p", 0.05, 1.0, defaults.top_p, 0.05, key=f"p-{model.id}"),
        max_new_tokens=st.slider(
            "Max new tokens",
            16,
            min(2048, model.context_window // 2),
            defaults.max_new_tokens,
            16,
            key=f"n-{model.id}",
        ),
    )
    system = st.text_area("System prompt", DEFAULT_SYSTEM)

if "chat" not in st.session_state:
    st.session_state.chat = ChatSession(model, store=store, owner=owner)
chat: ChatSession = st.session_state.chat
chat.spec, chat.mode, chat.system, chat.params = model, mode, system, params


def show_unanswered() -> None:
    """A saved question with no answer is offered for resending."""
    if chat.unanswered:
        st.session_state.failed = {
            "question": chat.unanswered[0],
            "error": "This question has no answer yet: the answer failed or was cut short.",
        }


def open_conversation(conversation_id: str) -> None:
    st.session_state.pop("failed", None)
    try:
        chat.open(conversation_id)
    except ConversationNotFound as error:
        st.session_state.notice = str(error)
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
    st.button("New chat", icon=":material/add:", width="stretch", key="new-chat", on_click=new_chat)
    st.header("Conversations")
    try:
        conversations = store.conversations(owner)
        current = store.get(owner, chat.conversation_id) if chat.conversation_id else None
    except ConversationNotFound:  # deleted meanwhile, from another tab or replica
        new_chat()
        conversations, current = store.conversations(owner), None
    except StoreUnavailable as error:
        st.error(str(error), icon=":material/database:")
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
        with st.expander("This conversation", icon=":material/chat:"):
            title = st.text_input("Title", current.title, key=f"title-{current.id}")
            if st.button("Rename", key="rename") and title.strip():
                store.rename(owner, current.id, title.strip())
                st.rerun()
            messages = store.messages(owner, current.id)
            st.download_button(
                "Export Markdown", to_markdown(current, messages), f"{current.id}.md", "text/markdown"
            )
            st.download_button(
                "Export JSON", to_json(current, messages), f"{current.id}.json", "application/json"
            )
            if st.checkbox("Yes, delete this conversation", key=f"confirm-{current.id}"):
                st.button("Delete", type="primary", key="delete", on_click=delete, args=(current.id,))
    if conversations:
        with st.expander("Delete all conversations", icon=":material/delete_sweep:"):
            if st.checkbox(f"Yes, delete all {len(conversations)}", key="confirm-all"):
                st.button("Delete all", type="primary", key="delete-all", on_click=delete)


def caption(stats: Stats | None) -> None:
    if stats:
        rate = f" · {stats.tokens_per_s:.1f} tokens/s" if stats.tokens_per_s else ""
        st.caption(f"first token {stats.first_token_s:.2f} s · {stats.tokens} tokens{rate}")


st.title("SageMaker Chat")
st.caption(f"{model.label} · {mode}")
if notice := st.session_state.pop("notice", None):
    st.warning(notice, icon=":material/lock:")
for turn, stats in zip(chat.turns, chat.stats, strict=True):
    st.chat_message("user").markdown(turn.question)
    with st.chat_message("assistant"):
        st.markdown(turn.answer or "*(empty answer)*")
        caption(stats)

# A question whose answer failed stays on screen, ready to be sent again.
question = st.chat_input("Ask anything") or st.session_state.pop("resend", None)
failed = st.session_state.pop("failed", None)
if failed and not question:
    st.chat_message("user").markdown(failed["question"])
    with st.chat_message("assistant"):
        st.error(failed["error"], icon=":material/error:")
        st.button(
            "Resend",
            icon=":material/refresh:",
            on_click=lambda: st.session_state.update(resend=failed["question"]),
        )
    st.session_state.failed = failed

if question:
    st.chat_message("user").markdown(question)
    with st.chat_message("assistant"):
        try:
            reply = chat.ask(question)
            if reply.notice:
                st.info(reply.notice, icon=":material/info:")
            st.write_stream(reply)
            caption(reply.stats)
        except ChatError as error:
            st.session_state.failed = {"question": question, "error": str(error)}
        if chat.conversation_id:
            st.query_params["c"] = chat.conversation_id
        st.rerun()  # the sidebar lists the conversation, newest first
