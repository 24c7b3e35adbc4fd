"""What pages show of untrusted text: no Markdown from the URL, no stack traces,
no account ids, ARNs or URLs from AWS's error texts."""

import re
import tomllib
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from chat_page import send, start
from shared import PDFS, ROOT

from chat_core.conversations.backends import open_store
from chat_core.conversations.exchange import Settings
from chat_core.conversations.export import to_markdown
from chat_core.conversations.session import ChatSession
from chat_core.documents.pdf import read_pdf
from chat_core.documents.uploads import FolderUploads, sha256
from chat_core.errors import ChatError, explain, redacted
from chat_core.local import runtime
from chat_core.local.endpoint import EndpointFault
from chat_core.markdown import safe_markdown
from chat_core.models.catalog import LOCAL_MODEL
from chat_core.retrieval.citations import marked
from chat_core.retrieval.library import Attached, DocumentLocked, Library

PHISHING = "x. **[sign in again](https://evil.example/login)**"


def test_a_conversation_id_from_the_url_is_not_rendered_as_markdown() -> None:
    page = start()
    page.query_params["c"] = PHISHING
    page.run()
    shown = " ".join(warning.value for warning in page.warning)
    assert shown and "evil.example" not in shown and "sign in again" not in shown


def test_users_see_no_stack_traces() -> None:
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["client"]["showErrorDetails"] == "none"


def test_aws_error_texts_lose_account_ids_arns_and_urls() -> None:
    denied = ClientError(
        {
            "Error": {
                "Code": "AccessDeniedException",
                "Message": "User: arn:aws:sts::123456789012:assumed-role/chat/i-0abc is not authorized "
                "to perform: sagemaker:InvokeEndpoint on resource: "
                "arn:aws:sagemaker:us-east-1:123456789012:endpoint/llama (see https://docs.aws.amazon.com/x)",
            }
        },
        "InvokeEndpoint",
    )
    failed = ClientError(
        {"Error": {"Code": "InternalFailure", "Message": "account 123456789012 at https://10.0.0.1/x"}},
        "InvokeEndpoint",
    )
    unreachable = EndpointConnectionError(endpoint_url="https://runtime.sagemaker.us-east-1.amazonaws.com/x")
    for error in (denied, failed, unreachable, RuntimeError("see arn:aws:iam::123456789012:role/x")):
        shown = str(explain(error, "llama"))
        assert "123456789012" not in shown and "arn:aws" not in shown and "https://" not in shown, shown


def test_images_become_links_whole_or_streamed_in_any_pieces() -> None:
    text = "See ![chart](https://attacker.example/?d=1) and ![ref][r].\n\n[r]: https://attacker.example/r.png"
    assert "![" not in safe_markdown(text)
    streamed = ""  # the chat page draws a streaming answer whole at each piece (citations.marked)
    for piece in ["See !", "[chart](https://", "x)", "!"]:
        streamed += piece
        assert "![" not in marked(streamed, [], "en")
    assert safe_markdown(text).replace("\u200b", "") == text  # reads the same


def test_an_image_in_a_file_name_is_a_link_in_the_message_about_it() -> None:
    with pytest.raises(ChatError) as refused:
        read_pdf(b"not a pdf at all", "![](https://evil.example/p.png).pdf")
    assert "![" not in refused.value.text("en")


EVIL_NAME = "report![x](https:evil.example?who=alice).pdf"


def test_an_image_in_a_file_name_is_a_link_under_the_question_it_failed(tmp_path) -> None:
    """A protected file attached to a conversation, asked in a later session: the
    question fails, and the chat page shows ``Exchange.reason`` under it as Markdown."""
    uploads = FolderUploads(tmp_path)
    data = (PDFS / "libreoffice-writer-password.pdf").read_bytes()
    uploads.save(data, EVIL_NAME)
    uploads.keep_document(sha256(data), read_pdf(data, EVIL_NAME, password="openpassword"))
    chat = ChatSession(library=Library(uploads, embedder=None))
    chat.documents = [Attached(sha256(data), EVIL_NAME)]
    with pytest.raises(DocumentLocked):
        chat.ask("What does it say?", Settings(LOCAL_MODEL, LOCAL_MODEL.defaults))
    reason = chat.exchanges[-1].reason
    assert reason and "report" in reason.text("en")
    for language in ("en", "ko"):
        assert "![" not in reason.text(language)


def test_an_image_in_a_file_name_is_a_link_in_the_markdown_export(tmp_path) -> None:
    """"Discuss in chat" names the file in the question, and so in the title."""
    store = open_store(f"sqlite://{tmp_path / 'chat.db'}")
    question = f"Summarize {EVIL_NAME} (1 page)."
    chat = ChatSession(store)
    chat.start_with(question, "A summary.", Settings(LOCAL_MODEL, LOCAL_MODEL.defaults))
    [conversation] = store.conversations(chat.owner)
    exported = to_markdown(conversation, store.messages(chat.owner, conversation.id))
    assert "report" in exported and "![" not in exported


def test_redaction_keeps_the_sentence_around_what_it_removes() -> None:
    assert redacted("Denied (see https://aws.example/x). Then retry.") == "Denied (see …). Then retry."


# Error texts kept protocol-relative links: "[sign in again](//evil.example/login)"
# was a live link inside the error box.

LURES = [
    "Your session expired: [sign in again](//evil.example/login)",
    "Your session expired: [sign in again](https:evil.example/login)",
    "Your session expired: <https://evil.example/login> or [sign in again][r]\n\n[r]: //evil.example",
    "See ![](//evil.example/pixel.png) and www.evil.example/login",
]


@pytest.mark.parametrize("lure", LURES, ids=range(len(LURES)))
def test_an_error_from_the_endpoint_shows_its_words_and_links_nowhere(
    lure: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The endpoint's error text, as the chat page shows it under the question."""

    def failing(prompt: str, **options: object) -> Iterator[str]:
        raise EndpointFault("ModelError", lure, 424)

    monkeypatch.setattr(runtime.ENDPOINT, "complete", failing)
    page = send(start(), "Hello?")
    (shown,) = [error.value for error in page.error]
    assert "ModelError: Your session expired" in shown or "ModelError: See" in shown  # its words are there
    assert "evil.example" not in shown
    assert re.search(r"(?<!\\)[\[\]<>]", shown) is None, shown  # no link or HTML can start: each escaped


def test_redaction_removes_protocol_relative_urls_too() -> None:
    assert redacted("[sign in again](//evil.example/login)") == "[sign in again](…)"
    assert redacted(r"go to \\evil.example\login, or www.evil.example.") == "go to …, or …."
    assert redacted("a // comment, and/or s3://bucket/key") == "a // comment, and/or …"
