"""The IAM policy in the README ("Run it for a team") covers every AWS call the
app makes: a chat on a remote endpoint, conversations, feedback and usage on
DynamoDB, uploads on S3 and the listing of the account's endpoints are run
against servers on 127.0.0.1 (the endpoint server, moto), every
call botocore makes is recorded (the calls go through unchanged), and each one's
IAM action must be allowed by the policy.  No IAM runs here to enforce it."""

import json
import re
import time
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from moto_server import use_moto
from shared import PDFS, ROOT, serving, until

from chat_core.conversations.backends import open_store
from chat_core.conversations.dynamodb import create_table
from chat_core.conversations.exchange import Settings
from chat_core.conversations.session import ChatSession
from chat_core.documents.pdf import read_pdf
from chat_core.documents.summaries import summarize
from chat_core.documents.uploads import open_uploads, sha256
from chat_core.local import embedding as local_embedding
from chat_core.local.endpoint import LocalEndpoint
from chat_core.local.scripted import ScriptedModel
from chat_core.models.catalog import load_catalog
from chat_core.models.discovery import list_endpoints
from chat_core.models.scaling import scale, sleep_idle
from chat_core.retrieval.embeddings import embedder, embedding_spec

# TransactWriteItems is authorized as the actions of its items.
TRANSACTION_ITEMS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


def readme_policy() -> set[str]:
    text = (ROOT / "README.md").read_text()
    document = re.search(r"IAM role.*?```json\n(.*?)```", text, re.DOTALL)
    assert document, "the README shows the IAM policy as a json block"
    return {action for statement in json.loads(document[1])["Statement"] for action in statement["Action"]}


def actions_of(service: str, operation: str, params: dict[str, Any]) -> set[str]:
    prefix = {"sagemaker-runtime": "sagemaker"}.get(service, service)
    if operation == "TransactWriteItems":
        return {f"dynamodb:{TRANSACTION_ITEMS[kind]}" for item in params["TransactItems"] for kind in item}
    return {f"{prefix}:{operation}"}


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """The IAM action of every call botocore makes from here on."""
    actions: set[str] = set()
    original = BaseClient._make_api_call

    def record(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        actions.update(actions_of(client.meta.service_model.service_name, operation, params))
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", record)
    return actions


def test_the_readme_policy_allows_every_call_the_app_makes(
    moto_url: str, monkeypatch: pytest.MonkeyPatch, recorded: set[str]
) -> None:
    use_moto(monkeypatch, moto_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", moto_url)
    create_table("team")
    boto3.client("s3").create_bucket(Bucket="team-uploads")
    sagemaker = boto3.client("sagemaker", region_name="us-east-1")
    role = "arn:aws:iam::123456789012:role/chat"
    sagemaker.create_model(ModelName="llama", ExecutionRoleArn=role, PrimaryContainer={"Image": "tgi"})
    variant = {"VariantName": "AllTraffic", "ModelName": "llama", "InstanceType": "ml.g4dn.xlarge"}
    sagemaker.create_endpoint_config(
        EndpointConfigName="llama", ProductionVariants=[variant | {"InitialInstanceCount": 1}]
    )
    sagemaker.create_endpoint(EndpointName="llama", EndpointConfigName="llama")
    recorded.clear()  # the operator's set-up, not the app's

    store = open_store("dynamodb://team")
    uploads = open_uploads("s3://team-uploads/chat").for_owner("ana")
    data = (PDFS / "minimal-document.pdf").read_bytes()
    uploads.save(data, "minimal-document.pdf")
    uploads.keep_document(sha256(data), read_pdf(data, "minimal-document.pdf"))
    uploads.keep_summary(sha256(data), "llama", "short", "A summary.")
    uploads.text(sha256(data))

    llama = load_catalog()["llama2-7b-chat"]
    with serving(LocalEndpoint(complete=ScriptedModel(token_ms=0).complete)) as server:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", server.url)
        chat = ChatSession(store, "ana")
        "".join(chat.ask("Hello?", Settings(llama, llama.defaults)))
        summarize("A short text.", llama, llama.defaults)
        # Documents indexed by an embedding endpoint: InvokeEndpoint (not streamed).
        monkeypatch.setenv("EMBEDDING_ENDPOINT", f"{local_embedding.ENDPOINT}-tei")
        monkeypatch.setenv("EMBEDDING_FORMAT", "tei")
        embedder(embedding_spec()).query("Hello?")
    chat.rate(chat.exchanges[0], "down", "Too short.")
    store.usage(0, time.time() + 60, "ana")
    assert "llama" in [found.name for found in list_endpoints().endpoints]  # moto is shared by tests
    store.rename("ana", chat.conversation_id, "Renamed")
    store.messages("ana", chat.conversation_id)
    store.delete("ana", chat.conversation_id)
    store.delete_all("ana")

    assert {"sagemaker:InvokeEndpointWithResponseStream", "sagemaker:InvokeEndpoint"} <= recorded
    # Recorded as asked, though moto does not answer it: the listing goes on without components.
    assert "sagemaker:ListInferenceComponents" in recorded
    assert recorded - readme_policy() == set()


def test_the_readme_policy_allows_putting_components_to_sleep_and_waking_them(
    monkeypatch: pytest.MonkeyPatch, recorded: set[str]
) -> None:
    """An admin's scale and the auto-sleep, against the local endpoint server's control
    plane (moto has no inference components)."""
    monkeypatch.setenv("LOCAL_MODEL", "scripted:0")
    monkeypatch.setenv("CHAT_ADMINS", "admin")
    monkeypatch.setenv("SLEEP_COMPONENTS", "team/llama")
    monkeypatch.setenv("SLEEP_AFTER_MINUTES", "0.0001")
    with serving(LocalEndpoint({}, components={"team": {"llama": "tgi"}})) as server:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", server.url)
        for name, value in (
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "t"),
            ("AWS_SECRET_ACCESS_KEY", "t"),
        ):
            monkeypatch.setenv(name, value)
        scale("admin", "team", "llama", 1)
        assert until(lambda: sleep_idle(open_store()) == ["team/llama"])
    assert {
        "sagemaker:UpdateInferenceComponentRuntimeConfig",
        "sagemaker:DescribeInferenceComponent",
    } <= recorded
    assert recorded - readme_policy() == set()
