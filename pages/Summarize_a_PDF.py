"""Summarize a PDF: drop it, see what it holds, get a summary of all of it."""

import streamlit as st

from chat_core.conversations.exchange import Settings
from chat_core.documents.pdf import Document, PasswordRequired, PDFError, WrongPassword, read_pdf
from chat_core.documents.summaries import DETAILS, Summary, summarize
from chat_core.documents.uploads import Record, sha256
from chat_core.errors import ChatError
from chat_core.markdown import safe_markdown
from chat_core.retrieval.library import Attached
from chat_core.usage.records import summary_usage
from pages import state
from pages.common import chat_session, conversation_store, indexing_bar, language, library, owner, t, uploads
from pages.models import model_picker


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


lang = language()
opened: dict[str, tuple[Document, Record]] = st.session_state.setdefault(state.PDF_OPENED, {})
opened_summaries: dict[tuple[str, str, str], str] = st.session_state.setdefault(
    state.PDF_OPENED_SUMMARIES, {}
)
st.title(t("Summarize a PDF"))
kept = uploads()

with st.sidebar:
    model = model_picker(state.PDF_MODEL)
upload = st.file_uploader(t("Drop a PDF here"), type=["pdf"], key="pdf-file")
if upload is None:
    st.stop()

data = upload.getvalue()
digest = sha256(data)
try:
    record = kept.record(digest)
    text = kept.text(digest) if record else None
except ChatError as error:
    st.error(error.text(lang), icon=":material/folder_off:")
    st.stop()

document = None  # read in this run, or opened with its password before
if digest in opened:
    document, record = opened[digest]
if text is None and document is None:  # never read before: read (and so checked) before anything is stored
    password = st.session_state.get(state.PDF_PASSWORD) or None
    bar = st.progress(0.0, t("Reading pages…"))
    try:
        document = read_pdf(
            data,
            upload.name,
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
        kept.save(data, upload.name)
        record = kept.keep_document(digest, document)
    except ChatError as error:
        st.error(error.text(lang), icon=":material/folder_off:")
        st.stop()
    if document.protected:
        opened[digest] = document, record
if document is not None:
    text = document.text
protected = bool(record.get("protected"))

st.subheader(safe_markdown(upload.name))
st.caption(
    t("{pages} pages · {characters:,} characters", pages=record["pages"], characters=record["characters"])
)
if notice := kept.notice(record):
    st.warning(notice.text(lang), icon=":material/content_cut:")
with st.expander(t("First page")):
    st.text(record["preview"] or t("(no text on the first page)"))

if st.button(t("Ask this document"), icon=":material/quick_reference:"):
    ask_this_document(digest, record["name"] if document is None else upload.name, document)

detail = st.radio(t("Length"), DETAILS, format_func=t, horizontal=True, key="pdf-detail")
concurrency = 1  # the bundled model takes one call at a time
if not model.is_local:
    concurrency = st.number_input(t("Parallel calls to the endpoint"), 1, 16, 4, key="pdf-concurrency")
try:
    known = opened_summaries.get((digest, model.id, detail)) or kept.summary(digest, model.id, detail)
except ChatError as error:
    st.error(error.text(lang), icon=":material/folder_off:")
    st.stop()
partial: Summary | None = st.session_state.get(state.PDF_PARTIAL, {}).get(digest)

if known:
    if not protected:
        st.success(t("Summarized before: the stored summary is shown."), icon=":material/history:")
    summary_text = known
elif st.button(t("Summarize"), type="primary", icon=":material/summarize:"):
    summary = Summary()
    st.session_state.setdefault(state.PDF_PARTIAL, {})[digest] = summary  # kept if the run is stopped
    bar = st.progress(0.0, t("Summarizing…"))
    st.caption(t("To stop, press Stop at the top right of the page; the parts done are kept."))
    try:
        summarize(
            text,
            model,
            model.defaults,
            detail=detail,
            concurrency=concurrency,
            summary=summary,
            progress=lambda done, total: bar.progress(
                done / total, t("Summarized {done} of {total} parts", done=done, total=total)
            ),
        )
    except ChatError as error:
        st.error(error.text(lang), icon=":material/error:")
        st.stop()
    bar.empty()
    if protected:
        opened_summaries[digest, model.id, detail] = summary.text
    try:
        kept.keep_summary(digest, model.id, detail, summary.text)
        conversation_store().record_usage(summary_usage(owner(), model, summary))
    except ChatError as error:  # shown all the same, only not kept
        st.warning(error.text(lang), icon=":material/folder_off:")
    st.session_state[state.PDF_PARTIAL].pop(digest, None)
    summary_text = summary.text
elif partial and partial.done:
    st.info(
        t(
            "Stopped after {done} of {total} parts; here is what was done.",
            done=len(partial.done),
            total=partial.chunks,
        ),
        icon=":material/pause:",
    )
    for number, text in enumerate(partial.chunk_summaries, start=1):
        st.markdown(t("**Part {number}.** {text}", number=number, text=safe_markdown(text)))
    st.stop()
else:
    st.stop()

st.markdown(safe_markdown(summary_text))
if st.button(t("Discuss in chat"), icon=":material/forum:"):
    question = t("Summarize {name} ({pages} pages).", name=upload.name, pages=record["pages"])
    saved = t("(The summary of a file protected by a password is shown in the session that made it only.)")
    try:
        started = chat_session().start_with(
            question, summary_text, Settings(model, model.defaults), saved if protected else None
        )
    except ChatError as error:
        st.error(error.text(lang), icon=":material/database:")
        st.stop()
    st.switch_page("pages/chat.py", query_params={"c": started})
