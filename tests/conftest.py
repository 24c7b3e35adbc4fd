"""Every test runs without AWS: no credentials, no region, no profile, and
botocore never reaches for the EC2 metadata address (this machine has no network).
Conversations go to a fresh SQLite file per test.  The in-process runtime answers
with the scripted model (``chat_core/local/scripted.py``), exact and at a set
pace, except in tests marked ``real_model``, which run SmolLM2 itself."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from moto_server import moto_server, use_moto

from chat_core.conversations.backends import open_store
from chat_core.conversations.dynamodb import create_table
from chat_core.conversations.store import Store
from chat_core.local import runtime
from chat_core.local.scripted import ScriptedModel


@pytest.fixture(autouse=True)
def no_aws(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    empty = tmp_path_factory.mktemp("aws")
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "SAGEMAKER_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME",
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ENDPOINT_URL_SAGEMAKER",
        "ACCOUNT_ENDPOINTS",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty / "credentials"))
    monkeypatch.setenv("CHAT_STORE", f"sqlite://{empty / 'chat.db'}")


@pytest.fixture(autouse=True)
def scripted(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> ScriptedModel | None:
    """The model behind the in-process runtime: ``scripted.enqueue("...")`` sets the
    next answers, ``scripted.prompts`` holds what it was asked."""
    if request.node.get_closest_marker("real_model"):
        return None
    model = ScriptedModel(token_ms=2)
    monkeypatch.setattr(runtime.ENDPOINT, "complete", model.complete)
    return model


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """One moto DynamoDB server for the session (moto_server.py); each test makes its own table."""
    with moto_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "dynamodb"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new conversation store: a SQLite file, and a table on moto's DynamoDB server
    (its keys are placeholders that only let botocore sign)."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'chat.db'}"
    use_moto(monkeypatch, request.getfixturevalue("moto_url"))
    table = f"chat-{tmp_path.name}"[:200]
    create_table(table)
    return f"dynamodb://{table}"


@pytest.fixture
def store(store_url: str) -> Store:
    return open_store(store_url)
