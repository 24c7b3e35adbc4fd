"""The upload store under concurrent writers, slow summaries, refused files and
broken backends: no fact is lost, nothing is kept for a refused file, and every
failure is a message.  The folder store runs on a temp folder; the S3 store on
moto's server on 127.0.0.1 (see moto_server.py; its keys only let botocore sign)."""

from __future__ import annotations

import io
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from functools import partial
from multiprocessing import get_context
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto_server import moto_server
from shared import BAD_FILES, PDFS
from streamlit.testing.v1 import AppTest
from urllib3.response import HTTPResponse

from chat_core.documents.pdf import read_pdf
from chat_core.documents.uploads import (
    FolderUploads,
    UploadStore,
    UploadStoreUnavailable,
    open_uploads,
    owner_key,
    sha256,
)

DATA = (PDFS / "minimal-document.pdf").read_bytes()
DIGEST = sha256(DATA)
ACCOUNT = "123456789012"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with moto_server() as url:
        yield url


def s3_env(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    for name, value in {
        "AWS_ENDPOINT_URL_S3": endpoint, "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_MAX_ATTEMPTS": "1",  # an unreachable endpoint fails at once
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)


@pytest.fixture
def bucket(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    s3_env(monkeypatch, moto_url)
    name = f"uploads-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=name)
    return name


def in_s3(bucket: str) -> list[str]:
    return [item["Key"] for item in boto3.client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])]


def write_facts(uploads: UploadStore, count: int, writer: int) -> None:
    """What one session does: store the file (the same one as every other writer),
    then add facts to its record, one write each."""
    uploads.save(DATA, "minimal-document.pdf")
    for number in range(count):
        uploads.remember(DIGEST, **{f"fact-{writer}-{number}": number})


@pytest.mark.parametrize(
    "pool",
    # Forked: the children need no lock that another thread of pytest's could hold.
    [partial(ThreadPoolExecutor, 8), partial(ProcessPoolExecutor, 8, mp_context=get_context("fork"))],
    ids=["threads", "processes"],
)
def test_eight_writers_adding_facts_to_one_upload_lose_none(
    tmp_path: Path, pool: Callable[[], Executor]
) -> None:
    """Today: JSONDecodeError and FileNotFoundError in most writers, 55 of 1,600
    facts kept, sometimes an index that can never be read again."""
    uploads = open_uploads(f"file://{tmp_path}")
    with pool() as writers:
        list(writers.map(partial(write_facts, uploads, 200), range(8)))
    record = json.loads((tmp_path / "index" / f"{DIGEST}.json").read_text())
    assert sum(key.startswith("fact-") for key in record) == 1600
    assert len(list(tmp_path.glob("*.pdf"))) == 1  # one copy of the file, however many stored it


def test_an_index_left_damaged_by_unlocked_writes_is_written_anew(tmp_path: Path) -> None:
    """Two records written over each other, as the store wrote them before it locked."""
    uploads = open_uploads(f"file://{tmp_path}")
    (tmp_path / "index" / f"{DIGEST}.json").write_text('{"pages": 1}es": 1}')
    record = uploads.save(DATA, "minimal-document.pdf")
    assert uploads.remember(DIGEST, pages=1) == {**record, "pages": 1}


def test_eight_threads_adding_facts_to_one_upload_on_s3_lose_none(bucket: str) -> None:
    """moto's server honours If-Match and If-None-Match on PutObject (checked: a
    stale ETag gets 412 PreconditionFailed) and answers one request at a time, so
    each conditional write is checked and applied atomically, as S3 does."""
    uploads = open_uploads(f"s3://{bucket}/pdfs")
    with ThreadPoolExecutor(8) as writers:
        list(writers.map(partial(write_facts, uploads, 5), range(8)))
    record = uploads.record(DIGEST)
    assert record and sum(key.startswith("fact-") for key in record) == 40
    assert len([key for key in in_s3(bucket) if key.endswith(".pdf")]) == 1


def other_tab_summarizes_meanwhile(store: UploadStore) -> None:
    """Another session of the app keeps the detailed summary of the same file."""
    store.keep_summary(DIGEST, "smollm2", "detailed", "The detailed summary.")


def test_a_summary_written_back_after_another_was_kept_meanwhile_keeps_both(bucket: str) -> None:
    """The write-back reads the record, then (the summary took minutes) another tab
    keeps its own summary before the write lands.  The other tab writes from a
    botocore ``after-call`` hook on the first read, so the order is exact."""
    uploads, other = open_uploads(f"s3://{bucket}/pdfs"), open_uploads(f"s3://{bucket}/pdfs")
    uploads.save(DATA, "minimal-document.pdf")
    pending = [other]

    def meanwhile(**_: Any) -> None:
        while pending:
            other_tab_summarizes_meanwhile(pending.pop())

    uploads._s3.meta.events.register("after-call.s3.GetObject", meanwhile)
    uploads.keep_summary(DIGEST, "smollm2", "short", "The short summary.")
    assert not pending  # the other tab did write in between
    assert other.summary(DIGEST, "smollm2", "short") == "The short summary."
    assert other.summary(DIGEST, "smollm2", "detailed") == "The detailed summary."


def test_the_same_on_the_folder_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The folder store's lock makes the other tab wait for the write-back, so its
    write cannot land in between; it is given 0.3 s to try (without the lock it
    takes milliseconds).  The outcome does not depend on that time, only the test's
    power to show the fault without the lock does."""
    uploads, other = open_uploads(f"file://{tmp_path}"), open_uploads(f"file://{tmp_path}")
    uploads.save(DATA, "minimal-document.pdf")
    read = uploads._get
    tabs: list[threading.Thread] = []

    def read_then_wait_for_the_other_tab(key: str) -> bytes | None:
        data = read(key)
        if not tabs:
            tabs.append(threading.Thread(target=other_tab_summarizes_meanwhile, args=(other,)))
            tabs[0].start()
            tabs[0].join(timeout=0.3)
        return data

    monkeypatch.setattr(uploads, "_get", read_then_wait_for_the_other_tab)
    uploads.keep_summary(DIGEST, "smollm2", "short", "The short summary.")
    tabs[0].join()
    assert other.summary(DIGEST, "smollm2", "short") == "The short summary."
    assert other.summary(DIGEST, "smollm2", "detailed") == "The detailed summary."


@pytest.mark.parametrize("name", ["renamed.pdf", "scan.pdf"])
def test_a_refused_upload_leaves_nothing_in_the_store(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a PDF, or a PDF with no text: the user reads why, and no byte of it is kept."""
    monkeypatch.setenv("UPLOAD_STORE", f"file://{tmp_path}")
    data, _, message = BAD_FILES[name]
    at = AppTest.from_file("../../pages/Summarize_a_PDF.py", default_timeout=60)
    at.run()
    at.file_uploader(key="pdf-file").set_value((name, data, "application/pdf"))
    at.run()
    assert not at.exception and re.search(message, at.error[0].value)
    assert [path.name for path in tmp_path.rglob("*") if path.is_file() and path.name != ".lock"] == []


def forbidden(message: str, when: Callable[[str, str], bool] = lambda bucket, key: True) -> Callable:
    """A botocore ``before-send`` hook answering 403 AccessDenied, as S3 does, for
    the requests ``when(bucket, key)`` selects; botocore parses it as S3's own."""

    def answer(request: Any, **_: Any) -> AWSResponse | None:
        bucket, _, key = unquote(urlsplit(request.url).path).lstrip("/").partition("/")
        if not when(bucket, key):
            return None
        body = f"<Error><Code>AccessDenied</Code><Message>{message}</Message></Error>".encode()
        raw = HTTPResponse(body=io.BytesIO(body), status=403, preload_content=False)
        return AWSResponse(request.url, 403, {"Content-Type": "application/xml"}, raw)

    return answer


def test_access_denied_on_a_missing_object_reads_as_missing(bucket: str) -> None:
    """A bucket policy granting GetObject but not ListBucket makes S3 answer a
    missing key with 403 AccessDenied instead of 404.  moto answers 404 whatever
    the policy (checked), so a botocore hook on the real client gives S3's answer
    for keys that do not exist, and lets the others through to moto."""
    probe = boto3.client("s3")

    def missing(bucket: str, key: str) -> bool:
        return not probe.list_objects_v2(Bucket=bucket, Prefix=key)["KeyCount"]

    uploads = open_uploads(f"s3://{bucket}/pdfs")
    uploads._s3.meta.events.register("before-send.s3.GetObject", forbidden("Access Denied", missing))
    assert uploads.text(DIGEST) is None
    record = uploads.save(DATA, "minimal-document.pdf")
    assert uploads.record(DIGEST) == record


def test_reading_denied_on_an_object_that_exists_is_said_at_once(bucket: str) -> None:
    """GetObject denied for every key (a KMS key the app may not use, say) while
    PutObject is allowed: the record exists, so writing it anew fails its condition;
    that is the denial to report, not "too many changes" after 10 s of retries."""
    uploads = open_uploads(f"s3://{bucket}/pdfs")
    uploads.save(DATA, "minimal-document.pdf")
    uploads._s3.meta.events.register("before-send.s3.GetObject", forbidden("Access Denied"))
    started = time.monotonic()
    with pytest.raises(UploadStoreUnavailable, match="AccessDenied"):
        uploads.keep_summary(DIGEST, "local-smollm2", "short", "A summary.")
    assert time.monotonic() - started < 5


def closed_port() -> int:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        return free.getsockname()[1]


def folder_index_is_a_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> UploadStore:
    uploads = open_uploads(f"file://{tmp_path}")
    (tmp_path / "index" / f"{DIGEST}.json").mkdir()  # IsADirectoryError on reading it
    return uploads


def folder_text_is_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> UploadStore:
    uploads = open_uploads(f"file://{tmp_path}")
    (tmp_path / "text").rmdir()
    (tmp_path / "text").write_text("")  # NotADirectoryError on writing into it
    return uploads


def s3_unreachable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> UploadStore:
    s3_env(monkeypatch, f"http://127.0.0.1:{closed_port()}")
    return open_uploads("s3://chat-uploads/pdfs")


def s3_denied_with_an_arn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> UploadStore:
    """No server: every request is answered 403 by the hook, with S3's kind of message."""
    s3_env(monkeypatch, f"http://127.0.0.1:{closed_port()}")
    uploads = open_uploads("s3://chat-uploads/pdfs")
    uploads._s3.meta.events.register(
        "before-send.s3.*",
        forbidden(
            f"User: arn:aws:iam::{ACCOUNT}:user/app is not authorized to perform: s3:PutObject on "
            'resource: "arn:aws:s3:::chat-uploads/pdfs/text/x.txt" with an explicit deny'
        ),
    )
    return uploads


@pytest.mark.parametrize(
    "broken", [folder_index_is_a_folder, folder_text_is_a_file, s3_unreachable, s3_denied_with_an_arn]
)
def test_a_broken_backend_is_a_message_in_both_languages_that_leaks_nothing(
    broken: Callable[[Path, pytest.MonkeyPatch], UploadStore], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uploads = broken(tmp_path, monkeypatch)
    for use in (lambda: uploads.record(DIGEST), lambda: uploads.save_text(DIGEST, "text")):
        try:
            use()
        except UploadStoreUnavailable as error:
            for text in (error.text("en"), error.text("ko")):
                assert "UPLOAD_STORE" in text
                for secret in ("arn:", ACCOUNT, "http", "127.0.0.1", str(tmp_path)):
                    assert secret not in text
            assert any("\uac00" <= char <= "\ud7a3" for char in error.text("ko"))
            break
    else:
        pytest.fail("neither reading nor writing failed")


def test_no_name_but_a_files_hash_reaches_the_store(tmp_path: Path) -> None:
    """Ana's record and text, and names that would be a path out of Ben's folder, a
    null byte or too long a name: Ben's store refuses each before touching a file."""
    uploads = FolderUploads(tmp_path)
    ana, ben = uploads.for_owner("ana"), uploads.for_owner("ben")
    ana.save(DATA, "mine.pdf")
    ana.keep_document(DIGEST, read_pdf(DATA, "mine.pdf"))
    ana.keep_summary(DIGEST, "m", "short", "Ana's summary.")
    escapes = [f"../../{owner_key('ana')}/{folder}/{DIGEST}" for folder in ("index", "text")]
    for name in [*escapes, "\x00", "a" * 300, DIGEST.upper(), ""]:
        for use in (
            ben.record, ben.text, ben.data, ben.index, lambda n: ben.summary(n, "m", "short"),
            lambda n: ben.save_text(n, "x"), lambda n: ben.remember(n, pages=1),
            lambda n: ben.keep_summary(n, "m", "short", "x"), lambda n: ben.keep_index(n, b"x"),
        ):  # fmt: skip
            with pytest.raises(ValueError, match="not a file's hash"):
                use(name)
    assert ana.summary(DIGEST, "m", "short") == "Ana's summary."
