"""Chat with a model served behind the SageMaker runtime contract (or the bundled one)."""

import streamlit as st

from chat_core.catalog import DEFAULT_MODEL, PAYLOAD_PROMPTS, GenerationParams, custom_model, load_catalog
from chat_core.chat import DEFAULT_SYSTEM, MODES, ChatSession, Stats
from chat_core.errors import ChatError

st.set_page_config(page_title="SageMaker Chat", page_icon="💬")
st.secrets.load_if_toml_exists()  # root-level secrets become environment variables
models = load_catalog() | st.session_state.setdefault("custom_models", {})
st.session_state.setdefault("model", DEFAULT_MODEL)

with st.sidebar:
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
    new_chat = st.button("New chat", icon=":material/add:", width="stretch", key="new-chat")

if "chat" not in st.session_state:
    st.session_state.chat = ChatSession(model)
chat: ChatSession = st.session_state.chat
chat.spec, chat.mode, chat.system, chat.params = model, mode, system, params
if new_chat:
    chat.clear()
    st.session_state.pop("failed", None)


def caption(stats: Stats | None) -> None:
    if stats:
        rate = f" · {stats.tokens_per_s:.1f} tokens/s" if stats.tokens_per_s else ""
        st.caption(f"first token {stats.first_token_s:.2f} s · {stats.tokens} tokens{rate}")


st.title("SageMaker Chat")
st.caption(f"{model.label} · {mode}")
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
            st.rerun()
