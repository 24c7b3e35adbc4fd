"""The chat page's side-by-side columns for a comparison (chat_core/conversations/compare.py):
one column per model, headed by it, its answer streaming in, then its first-token
time, speed and token counts, a button to use it and its feedback."""

from collections.abc import Callable

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from chat_core.conversations.compare import Candidate, Comparison
from chat_core.conversations.exchange import Exchange
from chat_core.markdown import safe_markdown
from pages.common import language, show_wait, stats_line, t
from pages.frames import Frames


def stream(comparison: Comparison, held: list[Callable[[], None]]) -> None:
    """Draw the columns and fill each as its answer arrives, in frames (``Frames``;
    ``held`` gets what draws text held for a frame, to call while no text comes).
    Only this run calls Streamlit: it drains what the candidates' threads put in the
    comparison's queue."""
    answers, unders = {}, {}  # by candidate: where its text goes, and what goes under it
    for index, (column, candidate) in enumerate(_columns(comparison)):
        with column:
            _heading(candidate)
            if candidate.reply is None:  # failed before its stream began
                _under(candidate)
            else:
                answers[index], unders[index] = st.empty(), st.empty()
    frames = Frames[int](lambda index, text: answers[index].markdown(safe_markdown(text)))
    held.append(frames.flush)  # drawn while no text comes, too
    for index, text in comparison:
        reply = comparison.candidates[index].reply
        if text is None:  # its stream ended: answered, stopped or failed
            frames.flush(index)
            with unders[index].container():
                _under(comparison.candidates[index])
        elif not text:  # no text yet: what it waits for
            show_wait(answers[index], reply.waited() if reply else None)
        else:
            frames.add(index, text)


def settled(comparison: Comparison, pick: Callable[[int], None], rate: Callable[[Exchange], None]) -> None:
    """The columns of a comparison that waits for the user to pick an answer; each
    saved answer can be rated too (``rate`` draws the feedback widgets)."""
    for index, (column, candidate) in enumerate(_columns(comparison)):
        with column:
            _heading(candidate)
            if candidate.exchange.answered:
                st.markdown(safe_markdown(candidate.exchange.answer) or t("*(empty answer)*"))
            _under(candidate)
            if candidate.exchange.answered:
                st.button(
                    t("Use this answer"),
                    icon=":material/check:",
                    key=f"use-{index}",
                    on_click=pick,
                    args=(index,),
                    width="stretch",
                )
            if candidate.exchange.answer_key:
                rate(candidate.exchange)


def _columns(comparison: Comparison) -> list[tuple[DeltaGenerator, Candidate]]:
    """A column for each candidate, side by side."""
    columns = st.columns(len(comparison.candidates), border=True)
    return list(zip(columns, comparison.candidates, strict=True))


def _heading(candidate: Candidate) -> None:
    st.markdown(f"**{safe_markdown(candidate.label)}**")
    if candidate.reply and candidate.reply.notice:
        st.info(safe_markdown(candidate.reply.notice.text(language())), icon=":material/info:")


def _under(candidate: Candidate) -> None:
    """What its answer came with (times and tokens), or why it has none, or was not saved."""
    exchange = candidate.exchange
    if not exchange.answered:
        st.error(exchange.reason.text(language()) if exchange.reason else "", icon=":material/error:")
        return
    if stats := exchange.stats:
        st.caption(stats_line(exchange) + t(" · {tokens} prompt tokens", tokens=stats.input_tokens))
    if not exchange.saved:  # kept on screen; picking it tries saving it again
        st.warning(exchange.reason.text(language()) if exchange.reason else "", icon=":material/database:")
    elif exchange.reason:  # ended at its deadline
        st.info(exchange.reason.text(language()), icon=":material/info:")
