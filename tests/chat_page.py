"""Driving the chat page in Streamlit's AppTest: shared by the page's tests."""

from streamlit.testing.v1 import AppTest


def start() -> AppTest:
    """A new browser session on app.py, on the bundled model (a session starts from the
    user's last choices), answering greedily and briefly to be quick."""
    at = AppTest.from_file("../app.py", default_timeout=120)
    at.run()
    at.sidebar.selectbox(key="model").set_value("local-smollm2").run()
    at.sidebar.slider(key="t-local-smollm2").set_value(0.0)
    at.sidebar.slider(key="n-local-smollm2").set_value(40)
    return at.run()


def ask_this_document(at: AppTest, name: str, data: bytes) -> AppTest:
    """Upload a PDF on the PDF page and press "Ask this document" (it is indexed, then
    attached to a new chat); back on the chat page, which AppTest does not follow to."""
    at.switch_page("pages/Summarize_a_PDF.py").run()
    at.file_uploader(key="pdf-file").set_value((name, data, "application/pdf"))
    at.run()
    next(b for b in at.button if b.label == "Ask this document").click().run()
    return at.switch_page("pages/chat.py").run()


def send(at: AppTest, text: str) -> AppTest:
    at.chat_input[0].set_value(text)
    return at.run()


def messages(at: AppTest) -> list[tuple[str, str]]:
    """(role, text) of each chat bubble on the page."""
    return [(m.name, " ".join(md.value for md in m.markdown)) for m in at.chat_message]


def conversation_buttons(at: AppTest) -> list[str]:
    """The saved conversations listed in the sidebar, by their buttons' labels."""
    return [b.label for b in at.sidebar.button if b.key and b.key.startswith("open-")]
