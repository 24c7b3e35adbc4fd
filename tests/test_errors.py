"""Each failure on the model path becomes a message that says what to do.

No endpoint that throttles, times out or fails runs here yet, so these
exceptions are built as botocore raises them; missing region, missing
credentials, a refused connection and a real model error are driven end to end
in test_chat.py."""

import re

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from chat_core.errors import (
    EndpointNotFound,
    EndpointTimeout,
    ModelFailed,
    PromptTooLong,
    Throttled,
    explain,
)


def client_error(code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "InvokeEndpoint")


@pytest.mark.parametrize(
    ("error", "kind", "advice"),
    [
        (client_error("ThrottlingException", "Rate exceeded"), Throttled, "Wait a few seconds"),
        (
            client_error("ValidationError", "Endpoint my-llama of account 1 not found."),
            EndpointNotFound,
            "SAGEMAKER_ENDPOINT_",
        ),
        (client_error("ModelError", "Requested tokens exceed context window"), PromptTooLong, "shorter"),
        (client_error("ModelError", "CUDA out of memory"), ModelFailed, "Resend"),
        (ReadTimeoutError(endpoint_url="http://127.0.0.1:1"), EndpointTimeout, "lower max_new_tokens"),
        (ValueError("no generated_text"), ModelFailed, "Resend"),
    ],
)
def test_failures_map_to_their_own_message(error: Exception, kind: type, advice: str) -> None:
    explained = explain(error, "my-llama")
    assert isinstance(explained, kind)
    assert advice in str(explained) and "my-llama" in str(explained)
    korean = explained.text("ko")
    assert "my-llama" in korean and re.search("[\uac00-\ud7a3]", korean)


def test_an_error_crosses_a_process_as_it_was_made() -> None:
    """Indexing runs in a child process, whose errors reach the page pickled: the
    message must arrive as made, in both languages, escaped once."""
    import pickle

    from chat_core.retrieval.indexing import IndexingFailed

    made = IndexingFailed(name="[x] <y> C:\\path", detail="refused")
    arrived = pickle.loads(pickle.dumps(made))
    assert type(arrived) is IndexingFailed and str(arrived) == str(made)
    assert arrived.message == made.message
    assert arrived.text("en") == made.text("en") and arrived.text("ko") == made.text("ko")
