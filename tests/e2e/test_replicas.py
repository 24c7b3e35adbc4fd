"""Two replicas behind one address: two ``streamlit run`` processes on one
DynamoDB table and one S3 prefix (moto's server on 127.0.0.1).  A conversation
started on one continues on the other, and a file uploaded on one is summarized
on the other: nothing is cached in a process that another can make stale."""

from collections.abc import Iterator

import boto3
import pytest
from moto_server import moto_server
from playwright.sync_api import Browser, expect
from shared import PDFS, app_process, bubbles, open_page, send, wait_for_answer

from chat_core.conversations.dynamodb import create_table


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    with moto_server() as moto:
        aws = {
            "AWS_ENDPOINT_URL_DYNAMODB": moto,
            "AWS_ENDPOINT_URL_S3": moto,
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }
        with pytest.MonkeyPatch.context() as env:
            for name, value in aws.items():
                env.setenv(name, value)
            create_table("replicas")
            boto3.client("s3").create_bucket(Bucket="uploads")
        environment = aws | {
            "LOCAL_MODEL": "scripted:10",
            "CHAT_STORE": "dynamodb://replicas",
            "UPLOAD_STORE": "s3://uploads/team",
            "CHAT_DATA_DIR": str(tmp_path_factory.mktemp("replicas")),
        }
        with app_process(environment) as (first, _), app_process(environment) as (second, _):
            yield first, second


def test_a_conversation_started_on_one_replica_continues_on_the_other(
    browser: Browser, replicas: tuple[str, str], request: pytest.FixtureRequest
) -> None:
    first, second = replicas
    one = open_page(browser, first, request)
    send(one, "Started on the first replica.")
    wait_for_answer(one, 1)
    conversation = one.url.split("c=")[1]

    two = open_page(browser, f"{second}/?c={conversation}", request)
    expect(bubbles(two).nth(0)).to_contain_text("Started on the first replica.")
    send(two, "Continued on the second.")
    wait_for_answer(two, 2)

    one.reload()
    expect(bubbles(one).nth(2)).to_contain_text("Continued on the second.")


def test_a_file_uploaded_on_one_replica_is_summarized_on_the_other(
    browser: Browser, replicas: tuple[str, str], request: pytest.FixtureRequest
) -> None:
    first, second = replicas
    one = open_page(browser, first, request)
    one.get_by_test_id("stSidebarNav").get_by_text("Summarize a PDF").click()
    one.locator("input[type=file]").set_input_files(PDFS / "minimal-document.pdf")
    expect(one.get_by_text("1 page ·")).to_be_visible()  # read and kept, not summarized

    two = open_page(browser, second, request)
    two.get_by_test_id("stSidebarNav").get_by_text("Summarize a PDF").click()
    two.locator("input[type=file]").set_input_files(PDFS / "minimal-document.pdf")
    two.get_by_role("button", name="Summarize").click()
    expect(two.get_by_role("button", name="Discuss in chat")).to_be_visible(timeout=120_000)

    one.reload()
    one.get_by_test_id("stSidebarNav").get_by_text("Summarize a PDF").click()
    one.locator("input[type=file]").set_input_files(PDFS / "minimal-document.pdf")
    expect(one.get_by_text("Summarized before")).to_be_visible()
