"""Chat with a model served behind the SageMaker runtime contract (or the bundled one).
The conversation is ``ChatSession``'s: this page draws its exchanges and passes the
sidebar's settings with each question; ``?c=`` names the open conversation."""

import contextlib
from collections.abc import Callable
from typing import Any

import streamlit as st

from chat_core.conversations.export import to_json, to_markdown
from chat_core.conversations.feedback import preference_pairs, rated, to_jsonl
from chat_core.conversations.session import (
    DEFAULT_SYSTEM,
    MODES,
    QUESTION_MAX_CHARS,
    Exchange,
    Settings,
)
from chat_core.conversations.store import (
    COMMENT_MAX_CHARS,
    TITLE_LENGTH,
    Conversation,
    ConversationNotFound,
    Message,
    Store,
    StoreUnavailable,
)
from chat_core.errors import ChatError
from chat_core.i18n import translator
from chat_core.markdown import safe_markdown, safe_stream
from chat_core.models.catalog import GenerationParams, ModelSpec
from chat_core.retrieval.grounding import NO_SOURCE, citation
from chat_core.retrieval.library import Attached
from chat_core.retrieval.search import TOP_K, Source
from pages import comparison as columns
from pages.common import (
    chat_session,
    conversation_store,
    indexing_bar,
    language,
    library,
    model_picker,
    offered_models,
    owner,
    stats_line,
)

THUMBS = ("down", "up")  # st.feedback("thumbs") gives 0 for thumbs down, 1 for up

lang = language()
t = translator(lang)
store = conversation_store()
user = owner()
documents = library()
chat = chat_session()
# A click while an answer streams starts this run before the interrupted one ends:
# the answer so far is kept (and saved) before anything is drawn.
chat.settle()


def attach(attached: list[Attached]) -> None:
    """Set the documents questions are asked of, and the sidebar's picker with them."""
    chat.documents = attached
    st.session_state["documents"] = [document.digest for document in attached]


def show_in_url() -> None:
    """The one place the URL learns which conversation is open."""
    if chat.conversation_id:
        st.query_params["c"] = chat.conversation_id
    else:
        st.query_params.pop("c", None)


def tell(error: ChatError) -> None:
    st.session_state.notice = error.message  # shown once, at the top of the page


def go_to(conversation_id: str | None = None) -> None:
    """Open a conversation, or with none start a new one."""
    try:
        if conversation_id:
            chat.open(conversation_id)
        else:
            chat.clear()
    except ChatError as error:  # not found, or the store failed
        chat.clear()
        tell(error)
    attach(chat.documents)
    show_in_url()


def delete(conversation_id: str | None = None) -> None:
    """Delete one conversation, or with no id all of the user's."""
    chat.settle()  # an answer still streaming is saved first, and so deleted with the rest
    try:
        if conversation_id:
            store.delete(user, conversation_id)
        else:
            store.delete_all(user)
    except ChatError as error:
        tell(error)
        return
    if conversation_id in (None, chat.conversation_id):
        go_to()


def rename(conversation_id: str) -> None:
    if title := st.session_state[f"title-{conversation_id}"].strip():
        try:
            store.rename(user, conversation_id, title)
        except ChatError as error:
            tell(error)


def exported(export: Callable[[Conversation, list[Message]], str], conversation: Conversation) -> str:
    """An export, made when its button is clicked; the store's message if it cannot be read."""
    try:
        return export(conversation, store.messages(user, conversation.id))
    except ChatError as error:
        return error.text(lang)


def exported_feedback(export: Callable[[Store, str], list[dict[str, Any]]]) -> str:
    """A feedback export as JSON Lines, made when its button is clicked; the store's
    message if it cannot be read."""
    try:
        return to_jsonl(export(store, user))
    except ChatError as error:
        return error.text(lang)


def ask(question: str) -> None:
    """Send from a button (resend, regenerate, edit): asked in this run, below."""
    st.session_state.send = question


def pick(index: int) -> None:
    """ "Use this answer" under a compared model's answer."""
    try:
        chat.pick(index)
    except ChatError as error:  # the store failed: the comparison waits, to be picked again
        tell(error)


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


# A link, a reload or "Discuss in chat" names a conversation in the URL.
if (linked := st.query_params.get("c")) and linked != chat.conversation_id:
    go_to(linked)
# "Ask this document" on the PDF page: a new chat, asking it.
if asked := st.session_state.pop("ask-documents", None):
    go_to()
    attach(asked)

with st.sidebar:
    st.button(t("New chat"), icon=":material/add:", width="stretch", key="new-chat", on_click=go_to)
    st.header(t("Conversations"))
    conversations: list[Conversation] = []
    current = None
    try:
        conversations = store.conversations(user)
        current = store.get(user, chat.conversation_id) if chat.conversation_id else None
    except ConversationNotFound:  # deleted meanwhile, from another tab or replica
        go_to()
    except StoreUnavailable as error:
        st.error(error.text(lang), icon=":material/database:")
    for conversation in conversations:
        st.button(
            safe_markdown(conversation.title),
            key=f"open-{conversation.id}",
            width="stretch",
            type="primary" if conversation.id == chat.conversation_id else "tertiary",
            on_click=go_to,
            args=(conversation.id,),
        )
    if current:
        with st.expander(t("This conversation"), icon=":material/chat:"):
            st.text_input(t("Title"), current.title, max_chars=TITLE_LENGTH, key=f"title-{current.id}")
            st.button(t("Rename"), key="rename", on_click=rename, args=(current.id,))
            # Made when clicked, not on every run: a long conversation costs nothing until then.
            for label, export, kind in (
                ("Export Markdown", to_markdown, "md"),
                ("Export JSON", to_json, "json"),
            ):
                st.download_button(
                    t(label),
                    lambda export=export, conversation=current: exported(export, conversation),
                    f"{current.id}.{kind}",
                    "text/markdown" if kind == "md" else "application/json",
                    on_click="ignore",
                )
            if st.checkbox(t("Yes, delete this conversation"), key=f"confirm-{current.id}"):
                st.button(t("Delete"), type="primary", key="delete", on_click=delete, args=(current.id,))
    if conversations:
        with st.expander(t("Feedback and comparisons"), icon=":material/thumbs_up_down:"):
            st.caption(t("Your rated answers and comparisons, for evaluation or fine-tuning."))
            for label, export, name in (
                ("Export ratings (JSONL)", rated, "ratings.jsonl"),
                ("Export preference pairs (JSONL)", preference_pairs, "preference-pairs.jsonl"),
            ):
                st.download_button(
                    t(label),
                    lambda export=export: exported_feedback(export),
                    name,
                    "application/jsonl",
                    on_click="ignore",
                    key=f"export-{name}",
                )
        with st.expander(t("Delete all conversations"), icon=":material/delete_sweep:"):
            if st.checkbox(t("Yes, delete all {count}", count=len(conversations)), key="confirm-all"):
                st.button(t("Delete all"), type="primary", key="delete-all", on_click=delete)

    st.header(t("Documents"))
    try:
        names = {document.digest: document.name for document in [*documents.documents(), *chat.documents]}
    except ChatError as error:
        st.error(error.text(lang), icon=":material/folder_off:")
        names = {document.digest: document.name for document in chat.documents}
    st.session_state.setdefault("documents", [document.digest for document in chat.documents])
    chosen = st.multiselect(
        t("Answer from these documents"),
        list(names),
        format_func=lambda digest: names[digest],
        key="documents",
        placeholder=t("Upload PDFs on the PDF page"),
    )
    chat.documents = [Attached(digest, names[digest]) for digest in chosen]
    with st.expander(t("Retrieval settings"), icon=":material/tune:"):
        top_k = st.slider(t("Passages per question"), 1, 10, TOP_K, key="top-k")
        show_passages = st.toggle(t("Show the passages under each answer"), True, key="show-passages")

    st.header(t("Settings"))
    model = model_picker("model")
    comparing: list[ModelSpec] = []
    if st.toggle(
        t("Compare models"),
        key="compare",
        help=t("Ask each question of two or three models at once, then pick the better answer."),
    ):
        offered = offered_models()
        kept = [id for id in st.session_state.get("compared", [model.id]) if id in offered]
        st.session_state["compared"] = kept  # a model no longer offered leaves the comparison
        ids = st.multiselect(
            t("Models to compare"),
            list(offered),
            key="compared",
            max_selections=3,
            format_func=lambda id: offered[id].label,
        )
        comparing = [offered[id] for id in ids]
        if len(comparing) < 2:
            st.caption(t("Choose two or three models; until then questions go to the model above."))
    mode = st.radio(
        t("Conversation mode"),
        MODES,
        key="mode",
        help=t("PromptTemplate keeps the newest turns that fit; ConversationChain keeps a buffer memory."),
    )
    compared_params: dict[ModelSpec, GenerationParams] = {}
    if len(comparing) < 2:
        params = generation_params(model)
    else:  # each compared model with its own sliders
        for spec in comparing:
            with st.expander(spec.label, icon=":material/tune:"):
                compared_params[spec] = generation_params(spec)
        params = compared_params.get(model, model.defaults)
    system = st.text_area(t("System prompt"), DEFAULT_SYSTEM, key="system")
    settings = Settings(model, params, mode, system)
    # Empty unless two or three models are compared: then each question goes to all of them.
    comparison_settings = [Settings(spec, chosen, mode, system) for spec, chosen in compared_params.items()]


@st.dialog(t("Page"), width="large")
def open_page(source: Source) -> None:
    st.subheader(safe_markdown(citation(source)))
    try:
        page = documents.index(Attached(source.digest, source.file)).pages[source.page - 1]
    except ChatError as error:
        st.error(error.text(lang), icon=":material/error:")
        return
    st.text(page)


def sources(index: int, exchange: Exchange) -> None:
    """Where the answer comes from, or that no passage of the documents matched."""
    if exchange.sources is None:
        return
    if not exchange.sources:
        st.info(NO_SOURCE.text(lang), icon=":material/search_off:")
        return
    if not show_passages:
        return
    with st.expander(t("Sources ({count})", count=len(exchange.sources)), icon=":material/quick_reference:"):
        for number, source in enumerate(exchange.sources):
            heading = f" · {source.heading}" if source.heading else ""
            st.markdown(f"**{safe_markdown(citation(source))}**{safe_markdown(heading)}")
            if source.text:
                st.text(source.text)
            else:  # saved from a file opened with a password: where, not what
                st.caption(t("The passage is not kept: its file is protected by a password."))
            st.button(
                t("Open page {page}", page=source.page),
                key=f"page-{index}-{number}",
                type="tertiary",
                on_click=open_page,
                args=(source,),
            )


def save_feedback(exchange: Exchange, comment: str | None = None) -> None:
    """Save the answer's thumbs with ``comment`` (None: the comment saved before).  If
    the store fails, its message is shown under the answer, and the thumbs and the
    comment typed stay as they are, to be saved again."""
    key = exchange.answer_key
    thumbs = st.session_state.get(f"thumbs-{key}")
    if comment is None:
        comment = exchange.feedback.comment if exchange.feedback else ""
    try:
        chat.rate(exchange, None if thumbs is None else THUMBS[thumbs], comment)
    except ChatError as error:
        st.session_state[f"feedback-failed-{key}"] = error.message


def feedback(exchange: Exchange) -> None:
    """Thumbs up or down and a comment on a saved answer, each saved at once."""
    key, given = exchange.answer_key, exchange.feedback
    st.feedback(
        "thumbs",
        key=f"thumbs-{key}",
        default=THUMBS.index(given.rating) if given and given.rating else None,
        on_change=save_feedback,
        args=(exchange,),
    )
    icon = ":material/comment:" if given and given.comment else ":material/add_comment:"
    with st.popover(t("Comment"), icon=icon, type="tertiary", key=f"comment-popover-{key}"):
        st.text_area(
            t("What was good or bad about this answer?"),
            given.comment if given else "",
            max_chars=COMMENT_MAX_CHARS,
            key=f"comment-{key}",
        )
        st.button(
            t("Save comment"),
            key=f"save-comment-{key}",
            on_click=lambda: save_feedback(exchange, st.session_state[f"comment-{key}"]),
        )


def feedback_failure(exchange: Exchange) -> None:
    """Why the feedback just given could not be saved (the widgets keep it, to try again)."""
    if failed := st.session_state.pop(f"feedback-failed-{exchange.answer_key}", None):
        st.error(failed.text(lang), icon=":material/database:")


def rate_candidate(exchange: Exchange) -> None:
    """Feedback on a compared answer, before or without picking it."""
    with st.container(horizontal=True, gap="small", vertical_alignment="center"):
        feedback(exchange)
    feedback_failure(exchange)


def draw(index: int, exchange: Exchange) -> None:
    st.chat_message("user").markdown(safe_markdown(exchange.question))
    with st.chat_message("assistant"):
        if chat.comparison and chat.comparison.exchange is exchange:  # waits for a pick
            columns.settled(chat.comparison, t, lang, pick, rate_candidate)
            if not chat.comparison.pickable:  # every model failed: the question can be sent again
                st.button(t("Resend"), icon=":material/refresh:", on_click=ask, args=(exchange.question,))
            return
        if not exchange.answered:  # failed or unanswered: the question can be sent again
            st.error(exchange.reason.text(lang) if exchange.reason else "", icon=":material/error:")
            st.button(t("Resend"), icon=":material/refresh:", on_click=ask, args=(exchange.question,))
            return
        st.markdown(safe_markdown(exchange.answer) or t("*(empty answer)*"))
        if line := stats_line(exchange):
            st.caption(line)
        sources(index, exchange)
        if exchange.saved and exchange.reason:  # saved elsewhere than asked, or ended at its deadline
            st.info(exchange.reason.text(lang), icon=":material/info:")
        if not exchange.saved:  # shown, not lost: saving can be tried again
            st.warning(exchange.reason.text(lang) if exchange.reason else "", icon=":material/database:")
            again = {"key": f"save-{index}", "on_click": chat.save_again, "args": (exchange, settings)}
            st.button(t("Save again"), **again)
        with st.container(horizontal=True, gap="small", vertical_alignment="center"):
            if exchange.answer_key:
                feedback(exchange)
            with st.popover(t("Copy"), icon=":material/content_copy:", type="tertiary", key=f"copy-{index}"):
                st.caption(t("The copy button is at the top right of the text."))
                st.code(exchange.answer, language=None, wrap_lines=True)
            if index == len(chat.exchanges) - 1:
                again = {"icon": ":material/refresh:", "type": "tertiary", "key": "regenerate"}
                st.button(t("Regenerate"), on_click=lambda: ask(chat.regenerate_last()), **again)
                with st.popover(t("Edit question"), icon=":material/edit:", type="tertiary", key="edit"):
                    st.text_area(
                        t("Question"), exchange.question, max_chars=QUESTION_MAX_CHARS, key="edited-question"
                    )
                    st.button(t("Send edited question"), key="send-edited", on_click=send_edited)
        feedback_failure(exchange)


def send_edited() -> None:
    if edited := st.session_state.get("edited-question", "").strip():
        chat.edit_last()
        ask(edited)


st.title(t("SageMaker Chat"))
models = " vs ".join(one.spec.label for one in comparison_settings) or model.label
st.caption(safe_markdown(" · ".join([models, mode, *(document.name for document in chat.documents)])))
if partly := documents.notice(chat.documents):  # attached documents searched only in part
    st.caption(safe_markdown(partly.text(lang)))
if notice := st.session_state.pop("notice", None):
    st.warning(notice.text(lang), icon=":material/lock:")
# While an answer streams, typing waits: a new question would cut the answer short.
# So it does while compared answers wait for a pick, which the next question's history needs.
picking = chat.comparison is not None and bool(chat.comparison.pickable)
typed = st.chat_input(
    t("Use one of the answers above to go on") if picking else t("Ask anything"),
    max_chars=QUESTION_MAX_CHARS,
    key="question",
    submit_mode="disable",
    disabled=picking,
)
question = typed or st.session_state.pop("send", None)
shown = chat.exchanges
if question and shown and not shown[-1].answered:  # sent again, or left for a new question
    shown = shown[:-1]
for index, exchange in enumerate(shown):
    draw(index, exchange)

if question:
    st.chat_message("user").markdown(safe_markdown(question))
    with st.chat_message("assistant"):
        # A document asked for the first time is indexed first.  While no text comes,
        # the answer calls bar.empty(): there Streamlit can end this run (Stop, a
        # rerun, a closed tab), which stops the answer and keeps its text.
        bar = st.empty()
        indexed = indexing_bar(bar)
        # A failure is kept in the exchange, and shown with a Resend button on the rerun.
        if comparison_settings:
            with (
                contextlib.suppress(ChatError),
                chat.compare(question, comparison_settings, top_k, indexed, bar.empty) as comparison,
            ):
                bar.empty()
                show_in_url()
                # Stop reruns the page; the next run stops every model's answer (chat.settle).
                st.button(t("Stop"), icon=":material/stop_circle:", key="stop")
                columns.stream(comparison, t, lang)
        else:
            with (
                contextlib.suppress(ChatError),
                chat.ask(question, settings, top_k, indexed, bar.empty) as reply,
            ):
                bar.empty()
                show_in_url()  # a reload finds the conversation, even mid-answer
                if reply.notice:
                    st.info(safe_markdown(reply.notice.text(lang)), icon=":material/info:")
                # Stop reruns the page, which interrupts the stream; so does Streamlit's own Stop.
                st.button(t("Stop"), icon=":material/stop_circle:", key="stop")
                st.write_stream(safe_stream(reply))
    show_in_url()
    st.rerun()  # the sidebar lists the conversation, newest first
