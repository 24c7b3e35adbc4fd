"""Summarize a PDF: drop it, see what it holds, get a summary of all of it."""

from functools import partial

import streamlit as st

from chat_core.conversations.exchange import Settings
from chat_core.documents.pdf import Document, PasswordRequired, PDFError, WrongPassword, read_pdf
from chat_core.documents.summaries import DETAILS, Summary
from chat_core.documents.uploads import Record, UploadStore, is_digest, sha256
from chat_core.errors import ChatError
from chat_core.markdown import safe_markdown
from chat_core.retrieval.library import Attached
from chat_core.usage.records import summary_ended
from pages import state
from pages.common import chat_session, conversation_store, indexing_bar, language, library, owner, t, uploads
from pages.models import model_picker

POLL_S = 0.25  # how often the progress of a summary under way is redrawn


def ask_this_document(digest: str, name: str, document: Document | None) -> None:
    """Index the document (once: kept in the store), then open a new chat that asks it;
    ``document`` is the one read in this session, if it was."""
    bar = st.empty()
    progress = indexing_bar(bar)
    try:
        if document is not None:  # one opened with a password is not kept
            pages, keep = document.pages, not document.protected
            attached = library().add(digest, name, lambda: pages, keep=keep, progress=progress)
        else:
            attached = Attached(digest, name)
            library().index(attached, progress)
    except ChatError as error:
        bar.empty()
        st.error(error.text(language()), icon=":material/error:")
        st.stop()
    chat = chat_session()
    chat.settle()  # an answer still streaming is kept in the chat it belongs to
    chat.clear()
    chat.documents = [attached]
    st.switch_page("pages/chat.py")


def forget() -> None:
    """The document shown is no longer the one named in the session and the URL."""
    st.session_state.pop(state.PDF_DIGEST, None)
    st.query_params.pop("d", None)


def stored(kept: UploadStore, digest: str | None) -> tuple[Record | None, str | None]:
    """The user's record of the file and its text, if they kept them; none for a ``?d=`` not a hash."""
    try:
        record = kept.record(digest) if is_digest(digest) else None
        return record, kept.text(digest) if record else None
    except ChatError as error:
        st.error(error.text(language()), icon=":material/folder_off:")
        st.stop()


lang = language()
opened: dict[str, tuple[Document, Record]] = st.session_state.setdefault(state.PDF_OPENED, {})
opened_summaries: dict[tuple, str] = st.session_state.setdefault(state.PDF_OPENED_SUMMARIES, {})
summaries: dict[tuple[str, str, str], Summary] = st.session_state.setdefault(state.PDF_SUMMARIES, {})
st.title(t("Summarize a PDF"))
kept = uploads()

with st.sidebar:
    model = model_picker(state.PDF_MODEL)
# Streamlit drops the uploader's file on a page that does not draw it: coming back (or on a
# reload, a new session) the document is the one named in the session, or in the URL, looked
# up in this user's own uploads only; until the user drops another file or removes it.
upload = st.file_uploader(t("Drop a PDF here"), type=["pdf"], key=state.PDF_FILE, on_change=forget)
if upload is None:
    digest = st.query_params.get("d") or st.session_state.get(state.PDF_DIGEST)
    record, text = stored(kept, digest)
    document, record = opened.get(digest, (None, record))
    if text is None and document is None:  # none, another user's, or one opened with its password
        forget()
        st.stop()
    name = record["name"]
else:
    data = upload.getvalue()
    digest, name = sha256(data), upload.name
    record, text = stored(kept, digest)
    document, record = opened.get(digest, (None, record))  # opened with its password before
    if text is None and document is None:  # never read: read (and so checked) before anything is stored
        password = st.session_state.get(state.PDF_PASSWORD) or None
        bar = st.progress(0.0, t("Reading pages…"))
        try:
            document = read_pdf(
                data,
                name,
                password=password,
                max_bytes=st.get_option("server.maxUploadSize") * 2**20,
                progress=lambda done, total: bar.progress(
                    done / total, t("Reading page {done} of {total}", done=done, total=total)
                ),
            )
        except (PasswordRequired, WrongPassword) as error:
            bar.empty()
            st.warning(error.text(lang), icon=":material/lock:")
            st.text_input(t("Password"), type="password", key=state.PDF_PASSWORD)
            st.stop()
        except PDFError as error:
            bar.empty()
            st.error(error.text(lang), icon=":material/error:")
            st.stop()
        bar.empty()
        try:
            kept.save(data, name)
            record = kept.keep_document(digest, document)
        except ChatError as error:
            st.error(error.text(lang), icon=":material/folder_off:")
            st.stop()
        if document.protected:
            opened[digest] = document, record
text = document.text if document is not None else text
protected = bool(record.get("protected"))
st.session_state[state.PDF_DIGEST] = digest
st.query_params["d"] = digest

st.subheader(safe_markdown(name))
st.caption(
    t("{pages} pages · {characters:,} characters", pages=record["pages"], characters=record["characters"])
)
if notice := kept.notice(record):
    st.warning(notice.text(lang), icon=":material/content_cut:")
with st.expander(t("First page")):
    st.text(record["preview"] or t("(no text on the first page)"))

if st.button(t("Ask this document"), icon=":material/quick_reference:"):
    ask_this_document(digest, name, document)

chosen = st.query_params.get("detail") or st.session_state.get(state.PDF_DETAIL_KEPT)
at = DETAILS.index(chosen) if chosen in DETAILS else 0
detail = st.radio(t("Length"), DETAILS, at, format_func=t, horizontal=True, key=state.PDF_DETAIL)
st.session_state[state.PDF_DETAIL_KEPT] = st.query_params["detail"] = detail
concurrency = 1  # the bundled model takes one call at a time
if not model.is_local:
    concurrency = st.number_input(t("Parallel calls to the endpoint"), 1, 16, 4, key="pdf-concurrency")
key = digest, model.id, detail
try:
    known = opened_summaries.get(key) or kept.summary(*key)
except ChatError as error:
    st.error(error.text(lang), icon=":material/folder_off:")
    st.stop()
run = summaries.get(key)  # one under way, stopped, or not kept, in this session

if known:
    if not protected:
        st.success(t("Summarized before: the stored summary is shown."), icon=":material/history:")
    summary_text = known
else:
    under_way = run is not None and run.running and not run.stopped
    if not under_way and st.button(t("Summarize"), type="primary", icon=":material/summarize:"):
        # Kept and counted by the summary's thread as it ends, wherever the user is by then.
        keep = partial(opened_summaries.__setitem__, key) if protected else partial(kept.keep_summary, *key)
        ended = summary_ended(keep, conversation_store().record_usage, owner(), model)
        run = summaries[key] = Summary.start(
            text, model, model.defaults, detail=detail, owner=owner(), concurrency=concurrency,
            on_end=ended, admit=chat_session().allowance.admit,  # each part, under the user's limits
        )
    if run is None:
        st.stop()
    stop, bar = st.empty(), st.empty()
    if run.running and not run.stopped and stop.button(t("Stop"), icon=":material/stop_circle:"):
        run.stop()  # the parts done are kept
    while run.running and not run.stopped:  # a click (Stop) ends this page run at its next redraw
        bar.progress(run.fraction, run.message.text(lang))
        run.wait(POLL_S)
    stop.empty()
    bar.empty()
    if isinstance(run.error, ChatError):
        st.error(run.error.text(lang), icon=":material/error:")
    elif run.error is not None:
        raise run.error
    if not run.complete:
        if run.stopped and run.done:
            n, total = run.finished, run.parts  # as the bar counted: the combining calls too
            st.info(t("Stopped after {done} of {total} parts; here is what was done.", done=n, total=total))
        for number, part in enumerate(run.chunk_summaries, start=1):
            st.markdown(t("**Part {number}.** {text}", number=number, text=safe_markdown(part)))
        st.stop()
    if run.unkept is not None:  # shown all the same, only not kept
        st.warning(run.unkept.text(lang), icon=":material/folder_off:")
    summary_text = run.text

st.markdown(safe_markdown(summary_text))
if st.button(t("Discuss in chat"), icon=":material/forum:"):
    question = t("Summarize {name} ({pages} pages).", name=name, pages=record["pages"])
    saved = t("(The summary of a file protected by a password is shown in the session that made it only.)")
    try:
        started = chat_session().start_with(
            question, summary_text, Settings(model, model.defaults), saved if protected else None
        )
    except ChatError as error:
        st.error(error.text(lang), icon=":material/database:")
        st.stop()
    st.switch_page("pages/chat.py", query_params={"c": started})
