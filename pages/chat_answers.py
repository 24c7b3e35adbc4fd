"""The chat page's exchanges as drawn after their run: the question, then its answer with
what it came with (speed, sources, why it failed or was not saved) and what can be done
with it (rate, comment, copy, regenerate, edit, resend); or a comparison's columns."""

import functools

import streamlit as st

from chat_core.conversations.exchange import Exchange
from chat_core.conversations.prompting import QUESTION_MAX_CHARS
from chat_core.conversations.session import ChatSession
from chat_core.conversations.store import COMMENT_MAX_CHARS
from chat_core.errors import ChatError
from chat_core.markdown import safe_markdown
from chat_core.retrieval.citations import checked, declined, marked
from chat_core.retrieval.grounding import CITES_NONE, NO_SOURCE, citation
from chat_core.retrieval.library import Attached
from chat_core.retrieval.search import Source
from pages import comparison, state
from pages.browser import copy_button
from pages.chat_conversations import tell
from pages.chat_sidebar import Choices
from pages.common import answer_header, language, library, stats_line, t

THUMBS = ("down", "up")  # st.feedback("thumbs") gives 0 for thumbs down, 1 for up


def draw(chat: ChatSession, choices: Choices, index: int, exchange: Exchange) -> None:
    st.chat_message("user").markdown(safe_markdown(exchange.question))
    with st.chat_message("assistant"):
        if chat.comparison and chat.comparison.exchange is exchange:  # waits for a pick
            comparison.settled(chat.comparison, functools.partial(pick, chat), functools.partial(rated, chat))
            if not chat.comparison.pickable:  # every model failed: the question can be sent again
                resend(exchange)
        elif not exchange.answered:  # failed or unanswered: the question can be sent again
            st.error(exchange.reason.text(language()) if exchange.reason else "", icon=":material/error:")
            resend(exchange)
        else:
            answer_header(exchange)
            answered(chat, choices, index, exchange)
            actions(chat, index, exchange)
            feedback_failure(exchange)


def resend(exchange: Exchange) -> None:
    st.button(t("Resend"), icon=":material/refresh:", on_click=ask, args=(exchange.question,))


def answered(chat: ChatSession, choices: Choices, index: int, exchange: Exchange) -> None:
    """The answer, its speed and sources, and whether and where it was saved."""
    st.markdown(marked(exchange.answer, exchange.sources or [], language()) or t("*(empty answer)*"))
    if line := stats_line(exchange):
        st.caption(line)
    sources(index, exchange, choices.show_passages)
    if exchange.saved and exchange.reason:  # saved elsewhere than asked, or ended at its deadline
        st.info(exchange.reason.text(language()), icon=":material/info:")
    if not exchange.saved:  # shown, not lost: saving can be tried again
        st.warning(exchange.reason.text(language()) if exchange.reason else "", icon=":material/database:")
        again = {"key": f"save-{index}", "on_click": chat.save_again, "args": (exchange, choices.settings)}
        st.button(t("Save again"), **again)


def actions(chat: ChatSession, index: int, exchange: Exchange) -> None:
    """Rate, comment and copy an answer; regenerate the last one, or edit its question."""
    with st.container(horizontal=True, gap="small", vertical_alignment="center"):
        if exchange.answer_key:
            feedback(chat, exchange)
        copy_button(exchange.answer)
        if index == len(chat.exchanges) - 1:
            again = {"icon": ":material/refresh:", "type": "tertiary", "key": "regenerate"}
            st.button(t("Regenerate"), on_click=lambda: ask(chat.regenerate_last()), **again)
            # Its open state is tracked (on_change) so that sending can close it.
            edit = {"icon": ":material/edit:", "type": "tertiary", "on_change": "rerun"}
            with st.popover(t("Edit question"), key=state.EDIT_BOX, **edit):
                st.text_area(
                    t("Question"), exchange.question, max_chars=QUESTION_MAX_CHARS, key=state.EDITED_QUESTION
                )
                st.button(t("Send edited question"), key="send-edited", on_click=send_edited, args=(chat,))


def ask(question: str) -> None:
    """Send from a button (resend, regenerate, edit): asked in this run, below."""
    st.session_state[state.SEND] = question


def send_edited(chat: ChatSession) -> None:
    if edited := st.session_state.get(state.EDITED_QUESTION, "").strip():
        st.session_state[state.EDIT_BOX] = False  # closed: the edited question is asked below
        chat.edit_last()
        ask(edited)


def pick(chat: ChatSession, index: int) -> None:
    """ "Use this answer" under a compared model's answer."""
    try:
        chat.pick(index)
    except ChatError as error:  # the store failed: the comparison waits, to be picked again
        tell(error)


def sources(index: int, exchange: Exchange, show_passages: bool) -> None:
    """Where the answer comes from, and whether it cites any of it; or that the
    documents do not answer the question (naming what they never mention)."""
    if exchange.sources is None:
        return
    if not exchange.sources:
        why = exchange.no_source or NO_SOURCE  # told when asked: an answer saved before says less
        st.info(why.text(language()), icon=":material/search_off:")
        return
    cited = checked(exchange.answer, exchange.sources)
    if not declined(exchange.answer) and not any(one.verified for one in cited):
        st.caption(CITES_NONE.text(language()))
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


def open_page(source: Source) -> None:
    """The page a passage is on, in a dialog (titled in the language of this run)."""
    st.dialog(t("Page"), width="large")(page)(source)


def page(source: Source) -> None:
    st.subheader(safe_markdown(citation(source)))
    try:
        text = library().index(Attached(source.digest, source.file)).pages[source.page - 1]
    except ChatError as error:
        st.error(error.text(language()), icon=":material/error:")
        return
    st.text(text)


def feedback(chat: ChatSession, exchange: Exchange) -> None:
    """Thumbs up or down and a comment on a saved answer, each saved at once."""
    key, given = exchange.answer_key, exchange.feedback
    st.feedback(
        "thumbs",
        key=state.thumbs(key),
        default=THUMBS.index(given.rating) if given and given.rating else None,
        on_change=save_feedback,
        args=(chat, exchange),
    )
    icon = ":material/comment:" if given and given.comment else ":material/add_comment:"
    # Its open state is tracked (on_change) so that saving can close it.
    with st.popover(t("Comment"), icon=icon, type="tertiary", key=state.comment_box(key), on_change="rerun"):
        st.text_area(
            t("What was good or bad about this answer?"),
            given.comment if given else "",
            max_chars=COMMENT_MAX_CHARS,
            key=state.comment(key),
        )
        st.button(
            t("Save comment"),
            key=f"save-comment-{key}",
            on_click=lambda: save_feedback(chat, exchange, st.session_state[state.comment(key)]),
        )


def save_feedback(chat: ChatSession, exchange: Exchange, comment: str | None = None) -> None:
    """Save the answer's thumbs with ``comment`` (None: the comment saved before).  If
    the store fails, its message is shown under the answer, and the thumbs and the
    comment typed stay as they are, to be saved again."""
    key = exchange.answer_key
    thumbs = st.session_state.get(state.thumbs(key))
    if comment is None:
        comment = exchange.feedback.comment if exchange.feedback else ""
    try:
        chat.rate(exchange, None if thumbs is None else THUMBS[thumbs], comment)
    except ChatError as error:  # the comment box stays open with what was typed
        st.session_state[state.feedback_failed(key)] = error.message
        return
    st.session_state[state.comment_box(key)] = False
    st.toast(t("Feedback saved"), icon=":material/thumbs_up_down:")


def feedback_failure(exchange: Exchange) -> None:
    """Why the feedback just given could not be saved (the widgets keep it, to try again)."""
    if failed := st.session_state.pop(state.feedback_failed(exchange.answer_key), None):
        st.error(failed.text(language()), icon=":material/database:")


def rated(chat: ChatSession, exchange: Exchange) -> None:
    """Feedback on a compared answer, before or without picking it."""
    with st.container(horizontal=True, gap="small", vertical_alignment="center"):
        feedback(chat, exchange)
    feedback_failure(exchange)
