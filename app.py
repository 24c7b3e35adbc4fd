"""SageMaker Chat: the entry point. It sets the page, the language and the
navigation; the pages themselves are in ``pages/``."""

import streamlit as st

from chat_core.i18n import LANGUAGES, language_for, tr

st.set_page_config(page_title="SageMaker Chat", page_icon="💬")
# The browser's language until the user picks one; kept in session state (not as
# the switch's own state, which Streamlit drops on any run that does not draw it).
language = st.session_state.setdefault("language", language_for(st.context.locale))
st.sidebar.radio(
    tr("Language", "en") + " · " + tr("Language", "ko"),
    list(LANGUAGES),
    index=list(LANGUAGES).index(language),
    format_func=LANGUAGES.get,
    key="language-switch",
    horizontal=True,
    on_change=lambda: st.session_state.update(language=st.session_state["language-switch"]),
)
language = st.session_state.language
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
