"""Chat with a model served behind the SageMaker runtime contract (or the bundled one).
The conversation is ``ChatSession``'s: this page draws the sidebar (``chat_sidebar``), which
returns the user's choices, then the exchanges (``chat_answers``), then answers the question
asked in this run with those choices.  ``?c=`` names the open conversation."""

import contextlib
from collections.abc import Callable

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from chat_core.conversations.prompting import QUESTION_MAX_CHARS
from chat_core.conversations.reply import Reply
from chat_core.conversations.session import ChatSession
from chat_core.errors import ChatError
from chat_core.i18n import Text
from chat_core.markdown import safe_markdown
from chat_core.retrieval.citations import marked
from pages import comparison, state
from pages.browser import follow
from pages.chat_answers import draw
from pages.chat_conversations import go_to, show_in_url
from pages.chat_sidebar import Choices, sidebar
from pages.common import answer_header, chat_session, indexing_bar, language, library, show_wait, t
from pages.frames import Frames


def answer(chat: ChatSession, choices: Choices, question: str) -> None:
    """Ask ``question`` and stream its answer, or each compared model's in its column.
    A failure is kept in the exchange, and shown with a Resend button on the rerun."""
    st.chat_message("user").markdown(safe_markdown(question))
    with st.chat_message("assistant"):
        # A document asked for the first time is indexed first, its progress in bar.
        # While no text comes, the answer says there what it waits for (a compared
        # column in its own place): there Streamlit can end this run (Stop, a rerun,
        # a closed tab), which stops the answer and keeps its text.  The model's
        # name goes above it, where the answer drawn again has it.
        header, bar = st.empty(), st.empty()
        indexed = indexing_bar(bar)
        compared = choices.compared
        held: list[Callable[[], None]] = []  # each stream's draw of the text its frames hold

        def waited(status: Text | None = None) -> None:
            """Every half second without text: the wait, and text held for the next frame
            (a model that pauses mid-answer still shows what it has written)."""
            show_wait(bar, status)
            for draw in held:
                draw()

        with (
            contextlib.suppress(ChatError),
            chat.compare(question, compared, choices.top_k, indexed, waited)
            if compared
            else chat.ask(question, choices.settings, choices.top_k, indexed, waited) as answering,
        ):
            bar.empty()
            show_in_url(chat)  # a reload finds the conversation, even mid-answer
            if not compared:
                with header.container():
                    answer_header(answering.exchange)
                if answering.notice:
                    st.info(safe_markdown(answering.notice.text(language())), icon=":material/info:")
            # Stop reruns the page: that interrupts the stream, and the next run stops
            # every model's answer (chat.settle); so does Streamlit's own Stop.
            st.button(t("Stop"), icon=":material/stop_circle:", key="stop")
            if compared:
                follow()  # in view as it streams, even when the page was scrolled up
                comparison.stream(answering, held)
            else:
                _stream(answering, bar, held)
    show_in_url(chat)


def _stream(reply: Reply, wait: DeltaGenerator, held: list[Callable[[], None]]) -> None:
    """The answer as it streams, in frames (``Frames``), the wait shown in ``wait`` gone
    once its text comes.  Its citations are checked in each frame (``marked``, the whole
    text, as ``chat_answers`` draws it): one the model invented never shows as a citation."""
    shown = st.empty()
    frames = Frames(lambda _, text: shown.markdown(marked(text, reply.exchange.sources or [], language())))
    held.append(frames.flush)
    for piece in reply.streamed(ended=frames.flush):  # its end drawn before it is saved
        first = not frames.texts
        if first:
            wait.empty()
        frames.add(0, piece)
        if first:  # after the first text, which it would otherwise delay
            follow()  # in view as it streams, even when the page was scrolled up
    frames.flush()


@st.fragment
def chat_area(chat: ChatSession, choices: Choices) -> None:
    """The chat box and the answer to what is asked in it.  A fragment: a question typed
    reruns only this, not app.py, the sidebar and the exchanges above, which with many
    sessions at once were most of the time before the first token (bench/load.py).  The
    page reruns whole once the answer ends, and for a button above (resend, regenerate)."""
    # While an answer streams, typing waits: a new question would cut the answer short.
    # So it does while compared answers wait for a pick, which the next question's history needs.
    picking = chat.comparison is not None and bool(chat.comparison.pickable)
    typed = st.bottom.chat_input(  # pinned to the bottom of the page, as outside a fragment
        t("Use one of the answers above to go on") if picking else t("Ask anything"),
        max_chars=QUESTION_MAX_CHARS,
        key="question",
        submit_mode="disable",
        disabled=picking,
    )
    if question := typed or st.session_state.pop(state.SEND, None):
        answer(chat, choices, question)
        st.rerun()  # the whole page: the sidebar lists the conversation, newest first


chat = chat_session()
# A click while an answer streams starts this run before the interrupted one ends:
# the answer so far is kept (and saved) before anything is drawn.
chat.settle()
# A link, a reload or "Discuss in chat" names a conversation in the URL.
if (linked := st.query_params.get("c")) and linked != chat.conversation_id:
    go_to(chat, linked)

with st.sidebar:
    choices = sidebar(chat)

st.title(t("SageMaker Chat"))
models = " · ".join(one.spec.label for one in choices.compared) or choices.settings.spec.label
names = [document.name for document in chat.documents]
st.caption(safe_markdown(" · ".join([models, choices.settings.mode, *names])))
if partly := library().notice(chat.documents):  # attached documents searched only in part
    st.caption(safe_markdown(partly.text(language())))
if notice := st.session_state.pop(state.NOTICE, None):
    st.warning(notice.text(language()), icon=":material/lock:")
# Above the chat area: an exchange a button sends again is left out, as it is asked below.
shown = chat.exchanges
if st.session_state.get(state.SEND) and shown and not shown[-1].answered:
    shown = shown[:-1]
for index, exchange in enumerate(shown):
    draw(chat, choices, index, exchange)
chat_area(chat, choices)
