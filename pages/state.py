"""What the pages keep between runs in ``st.session_state``, each under the one name given
here.  Streamlit keeps every widget's value under its ``key=`` too; the widgets whose value a
page reads from session state (in a callback, or to set it) take their key from here."""

# Every page
LANGUAGE = "language"  # "en" or "ko": the browser's until the user switches (app.py)
LANGUAGE_SWITCH = "language-switch"  # the switch itself, which Streamlit forgets on a page without it
CHAT = "chat"  # the ChatSession: the chat page draws it; the PDF page starts one
CUSTOM_MODELS = "custom_models"  # endpoints the user added, by id
ACCOUNT_MODELS = "account_models"  # the account's endpoints the model picker last offered, by id
ACCOUNT_FORMATS = "account_formats"  # payload formats the user named for account endpoints
MODEL = "model"  # the chat page's model picker
PDF_MODEL = "pdf-model"  # the PDF page's
PREFERENCES = "preferences"  # the user's, as last read from or saved to the store
DEMO_NOTICE = "demo-notice"  # True while this session shows the first-run notice (app.py)


def library(owner: str) -> str:
    """The owner's documents, with the indexes loaded this session."""
    return f"library-{owner}"


# The chat page.  The sidebar's choices are kept for the user (``CHOICES`` and each model's
# sliders): across pages in the session, and in the store for their next session.
MODE = "mode"
SYSTEM = "system"
COMPARE = "compare"
TOP_K = "top-k"
SHOW_PASSAGES = "show-passages"
NOTICE = "notice"  # a Text shown once at the top of the page
SEND = "send"  # a question a button sent (resend, regenerate, edit): asked in the next run
DOCUMENTS = "documents"  # the documents picker, which shows the ChatSession's documents
COMPARED = "compared"  # the models picked for comparing
EDITED_QUESTION = "edited-question"
EDIT_BOX = "edit"  # the Edit question popover: open or not
CHOICES = (MODEL, MODE, SYSTEM, COMPARE, COMPARED, TOP_K, SHOW_PASSAGES)


def temperature(model_id: str) -> str:
    return f"t-{model_id}"


def top_p(model_id: str) -> str:
    return f"p-{model_id}"


def max_new_tokens(model_id: str) -> str:
    return f"n-{model_id}"


def is_choice(key: str) -> bool:
    """Whether ``key`` is one of the sidebar's choices that are kept for the user."""
    return key in CHOICES or key.startswith(
        tuple(slider("") for slider in (temperature, top_p, max_new_tokens))
    )


def title(conversation_id: str) -> str:
    """The conversation's title as typed to rename it."""
    return f"title-{conversation_id}"


def thumbs(answer_key: str | None) -> str:
    return f"thumbs-{answer_key}"


def comment(answer_key: str | None) -> str:
    return f"comment-{answer_key}"


def comment_box(answer_key: str | None) -> str:
    """The answer's Comment popover: open or not."""
    return f"comment-popover-{answer_key}"


def feedback_failed(answer_key: str | None) -> str:
    """Why the feedback just given on the answer was not saved (a Text, shown once)."""
    return f"feedback-failed-{answer_key}"


# The PDF page.  Of a file opened with its password, what was read and summarized stays in
# the session, never in a store: the password is not asked for again on every click.
PDF_OPENED = "pdf-opened"  # by digest: the Document read and its record
PDF_OPENED_SUMMARIES = "pdf-opened-summaries"  # by (digest, model id, length)
PDF_PASSWORD = "pdf-password"
PDF_SUMMARIES = "pdf-summaries"  # by (digest, model id, length): a Summary under way, or stopped
PDF_FILE = "pdf-file"  # the uploader, whose file Streamlit drops on a page without it
PDF_DIGEST = "pdf-digest"  # the document shown: found again after a visit to another page
PDF_DETAIL = "pdf-detail"  # the length picked
PDF_DETAIL_KEPT = "pdf-detail-kept"  # the same, which Streamlit keeps on a page without the widget
