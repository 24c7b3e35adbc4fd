"""SageMaker Chat: the entry point. It sets the page, the language and the
navigation; the pages themselves are in ``pages/``."""

import streamlit as st

from chat_core.i18n import LANGUAGES, language_for, tr

st.set_page_config(page_title="SageMaker Chat", page_icon="💬")
# The browser's language until the user picks one; kept across pages.
st.session_state.setdefault("language", language_for(st.context.locale))
language = st.sidebar.radio(
    tr("Language", "en") + " · " + tr("Language", "ko"),
    list(LANGUAGES),
    format_func=LANGUAGES.get,
    key="language",
    horizontal=True,
)
st.navigation(
    [
        st.Page("pages/chat.py", title=tr("Chat", language), icon=":material/chat:", default=True),
        st.Page(
            "pages/Summarize_a_PDF.py",
            title=tr("Summarize a PDF", language),
            icon=":material/picture_as_pdf:",
        ),
    ]
).run()
