"""Uploaded files: kept under generated names, recognized again by their hash.

``UPLOAD_STORE`` chooses where: ``file:///dir`` (the default, a folder in the
data folder) or ``s3://bucket/prefix`` (``aws.client``'s configuration, so
``AWS_ENDPOINT_URL_S3`` works).  A file is stored as ``<uuid>.pdf``, never
under the user's file name; ``index/<sha256>.json`` records it and, once done,
its summary, ``text/<sha256>.txt`` its text and ``passages/`` its index for
questions (``retrieval.index``), so the same file uploaded again is neither
read, summarized nor indexed twice.  Each owner has a part of the store of
their own (``users/<owner key>/``, ``for_owner``): nothing is shared between
users, not even whether a file was seen before.  A file opened with a password
leaves nothing read from it in the store.  Many sessions may write about one file at
once: every write is whole or not at all, and a record is changed only from its
latest version (a file lock on a folder, conditional writes on S3), so no fact
or summary is lost.  Every backend failure is an ``UploadStoreUnavailable``.
"""

from __future__ import annotations

import copy
import fcntl
import hashlib
import json
import os
import re
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_random_exponential

from chat_core import aws
from chat_core.conversations.store import DATA_DIR
from chat_core.documents.pdf import Document
from chat_core.errors import ChatError
from chat_core.i18n import Text


class UploadStoreUnavailable(ChatError):
    """The upload store cannot be used: each cause is a subclass, with its text."""


class FolderUnavailable(UploadStoreUnavailable):
    en = (
        "The upload folder cannot be used ({reason}). Check UPLOAD_STORE, the folder's permissions "
        "and free space."
    )
    ko = "업로드 폴더를 사용할 수 없습니다({reason}). UPLOAD_STORE와 폴더의 권한, 남은 공간을 확인하세요."


class S3Unavailable(UploadStoreUnavailable):
    en = "The upload store on S3 cannot be used: {reason}. Check UPLOAD_STORE."
    ko = "S3의 업로드 저장소를 사용할 수 없습니다. {reason}. UPLOAD_STORE를 확인하세요."


class TooManyChanges(UploadStoreUnavailable):
    en = "Too many changes to this file's record at once on S3. Try again."
    ko = "S3에서 이 파일의 기록이 동시에 너무 많이 바뀌고 있습니다. 다시 시도하세요."


class UnknownUploadStore(UploadStoreUnavailable):
    en = "UPLOAD_STORE={url!r}: use file:///folder or s3://bucket/prefix."
    ko = "UPLOAD_STORE={url!r}: file:///폴더 또는 s3://버킷/접두어를 쓰세요."


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


DIGEST = re.compile(r"[0-9a-f]{64}")
INDEX_KEY = re.compile(r"[0-9a-f]{64}-[0-9a-f]{1,64}")  # a digest and its embedder's (retrieval.index)


def is_digest(value: object) -> bool:
    """Whether ``value`` is a sha256 hex digest: the only name a file has in the store and in a link."""
    return isinstance(value, str) and DIGEST.fullmatch(value) is not None


def _named(name: str, pattern: re.Pattern[str] = DIGEST) -> str:
    """``name``, checked before it becomes part of a path or key: anything else (``..``,
    a null byte, a long name) could reach outside the owner's part of the store."""
    if not isinstance(name, str) or pattern.fullmatch(name) is None:
        raise ValueError(f"{str(name)[:80]!r} is not a file's hash")
    return name


Record = dict[str, Any]
_CATALOG = "documents.json"


def owner_key(owner: str) -> str:
    """An owner as a folder or key name: fixed length, no path characters, one per owner."""
    return sha256(owner.encode())[:32]


def parse(raw: bytes | None) -> Record | None:
    """A stored record; None when there is none, or when it is damaged (as the
    unlocked writes of earlier versions could leave it), so it is written anew."""
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


class UploadStore:
    """Where bytes go; subclasses say how to put, get and delete one object, and
    how to change one record so that no other writer's change is lost."""

    owner: str | None = None  # whose part of the store this is (``for_owner``)

    def _put(self, key: str, data: bytes) -> None:
        raise NotImplementedError

    def _get(self, key: str) -> bytes | None:
        raise NotImplementedError

    def _delete(self, key: str) -> None:
        raise NotImplementedError

    def _update(self, key: str, change: Callable[[Record | None], Record]) -> Record:
        """Store ``change(the record now stored)`` at ``key``; never from a stale copy."""
        raise NotImplementedError

    def for_owner(self, owner: str) -> UploadStore:
        """The part of the store that is ``owner``'s alone: another owner's uploads,
        texts and summaries are not in it, nor is whether they uploaded a file."""
        raise NotImplementedError

    def save(self, data: bytes, name: str) -> Record:
        """Store ``data`` under a new UUID name (once per content); its record.
        Only a file that was read (``read_pdf``) should be saved."""
        digest = sha256(data)
        if not (record := self.record(digest)):
            fresh = {"id": uuid.uuid4().hex, "name": name, "sha256": digest, "bytes": len(data)}
            self._put(f"{fresh['id']}.pdf", data)
            record = self._update(f"index/{digest}.json", lambda stored: stored or fresh)
            if record["id"] != fresh["id"]:  # another session stored the same file meanwhile
                self._delete(f"{fresh['id']}.pdf")
        self._update(_CATALOG, lambda catalog: {**(catalog or {}), digest: record["name"]})
        return record

    def documents(self) -> dict[str, str]:
        """The files kept, as their names by hash: the documents questions can be asked of.
        A record of its own, not a listing: listing a bucket needs one more permission."""
        return parse(self._get(_CATALOG)) or {}

    def data(self, digest: str) -> bytes | None:
        """A kept file's bytes, to read it again (for an index made after its upload)."""
        record = self.record(digest)
        return self._get(f"{record['id']}.pdf") if record else None

    def record(self, digest: str) -> Record | None:
        return parse(self._get(f"index/{_named(digest)}.json"))

    def save_text(self, digest: str, text: str) -> None:
        """Keep a file's extracted text, so it is never extracted twice."""
        self._put(f"text/{_named(digest)}.txt", text.encode())

    def text(self, digest: str) -> str | None:
        raw = self._get(f"text/{_named(digest)}.txt")
        return raw.decode() if raw is not None else None

    def keep_document(self, digest: str, document: Document) -> Record:
        """Keep what was read from a file (its text, page count, first page), so it is
        never read twice; the file's record, updated.  The text is written last: a
        file whose text is stored is one whose facts are, however a write fails.
        Of a file opened with a password nothing read is kept, only that it is
        protected: its text would be there in clear, without the password."""
        facts = {
            "pages": document.page_count,
            "characters": document.characters,
            "preview": document.pages[0][:2000],
            "notice": asdict(document.notice) if document.notice else None,
        }
        if document.protected:
            return {**self.remember(digest, protected=True), **facts}
        record = self.remember(digest, **facts)
        self.save_text(digest, document.text)
        return record

    def keep_index(self, key: str, data: bytes) -> None:
        """Keep a file's passages and their embeddings (``retrieval.index``)."""
        self._put(f"passages/{_named(key, INDEX_KEY)}.npz", data)

    def index(self, key: str) -> bytes | None:
        return self._get(f"passages/{_named(key, INDEX_KEY)}.npz")

    @staticmethod
    def notice(record: Record) -> Text | None:
        """What the user should know about the text kept (``Document.notice``)."""
        return Text(**record["notice"]) if record.get("notice") else None

    def summary(self, digest: str, model_id: str, detail: str) -> str | None:
        """The file's summary by this model at this length, if one was made before."""
        return ((self.record(digest) or {}).get("summaries") or {}).get(f"{model_id}/{detail}")

    def keep_summary(self, digest: str, model_id: str, detail: str, text: str) -> None:
        """Add a summary to the record as it is when written, not as it was when the
        summary began: facts and summaries kept meanwhile stay."""

        def add(record: Record | None) -> Record:
            record = record or {}
            if record.get("protected"):  # a summary is its text too
                return record
            return {**record, "summaries": {**record.get("summaries", {}), f"{model_id}/{detail}": text}}

        self._update(f"index/{_named(digest)}.json", add)

    def remember(self, digest: str, **facts: Any) -> Record:
        """Add facts (page count, summary...) to a stored file's record; the record."""
        return self._update(f"index/{_named(digest)}.json", lambda record: {**(record or {}), **facts})


def _folder_unavailable(error: OSError) -> UploadStoreUnavailable:
    return FolderUnavailable(reason=error.strerror or type(error).__name__)


class FolderUploads(UploadStore):
    """Files in a folder.  Each is written to a temp file of its own and renamed
    into place, so a reader sees it whole or not at all; records are changed
    under an exclusive lock on ``.lock``, which threads and processes share."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        try:
            for sub in ("index", "text", "passages"):
                (folder / sub).mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise _folder_unavailable(error) from error

    def for_owner(self, owner: str) -> FolderUploads:
        scoped = FolderUploads(self.folder / "users" / owner_key(owner))
        scoped.owner = owner
        return scoped

    def _put(self, key: str, data: bytes) -> None:
        path = self.folder / key
        try:
            handle, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
            try:
                with os.fdopen(handle, "wb") as file:
                    file.write(data)
                os.replace(partial, path)
            except BaseException:
                Path(partial).unlink(missing_ok=True)
                raise
        except OSError as error:
            raise _folder_unavailable(error) from error

    def _get(self, key: str) -> bytes | None:
        try:
            return (self.folder / key).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise _folder_unavailable(error) from error

    def _delete(self, key: str) -> None:
        try:
            (self.folder / key).unlink(missing_ok=True)
        except OSError as error:
            raise _folder_unavailable(error) from error

    def _update(self, key: str, change: Callable[[Record | None], Record]) -> Record:
        try:
            with open(self.folder / ".lock", "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
                record = change(parse(self._get(key)))
                self._put(key, json.dumps(record, ensure_ascii=False).encode())
        except OSError as error:
            raise _folder_unavailable(error) from error
        return record


class _Changed(Exception):
    """The object changed between reading it and writing it back."""


# S3's answers to a conditional write that lost: 412 to If-Match / If-None-Match,
# 409 when another conditional write to the key was in flight, 404 to If-Match
# when the object was deleted meanwhile.
CONFLICTS = ("PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey")
# A missing key reads as 403 AccessDenied, not 404, without s3:ListBucket.
MISSING = ("NoSuchKey", "404", "AccessDenied")


def _s3_unavailable(error: Exception) -> UploadStoreUnavailable:
    return S3Unavailable(reason=aws.reason(error, "s3"))


class S3Uploads(UploadStore):
    """Objects under a prefix in a bucket.  Records are changed with conditional
    writes (If-Match the ETag read, If-None-Match: * to create), retried from a
    fresh read when another writer got there first."""

    def __init__(self, bucket: str, prefix: str) -> None:
        self.bucket, self.prefix = bucket, prefix.strip("/")
        self._s3 = aws.client("s3")

    def for_owner(self, owner: str) -> S3Uploads:
        scoped = copy.copy(self)  # the same client: making one takes tens of milliseconds
        scoped.prefix = f"{self.prefix}/users/{owner_key(owner)}".strip("/")
        scoped.owner = owner
        return scoped

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _put(self, key: str, data: bytes, **condition: str) -> None:
        try:
            self._s3.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, **condition)
        except ClientError as error:
            if condition and aws.code(error) in CONFLICTS:
                raise _Changed from error
            raise _s3_unavailable(error) from error
        except BotoCoreError as error:
            raise _s3_unavailable(error) from error

    def _get_with_etag(self, key: str) -> tuple[bytes | None, str | None, ClientError | None]:
        """The object and its ETag, or Nones when it is missing; with the denial, when
        it read as missing because reading was denied (it may exist after all)."""
        try:
            answer = self._s3.get_object(Bucket=self.bucket, Key=self._key(key))
            return answer["Body"].read(), answer["ETag"], None
        except ClientError as error:
            if aws.code(error) in MISSING:
                return None, None, error if aws.code(error) == "AccessDenied" else None
            raise _s3_unavailable(error) from error
        except BotoCoreError as error:
            raise _s3_unavailable(error) from error

    def _get(self, key: str) -> bytes | None:
        return self._get_with_etag(key)[0]

    def _delete(self, key: str) -> None:
        try:
            self._s3.delete_object(Bucket=self.bucket, Key=self._key(key))
        except (ClientError, BotoCoreError) as error:
            raise _s3_unavailable(error) from error

    def _update(self, key: str, change: Callable[[Record | None], Record]) -> Record:
        try:
            for attempt in Retrying(
                retry=retry_if_exception_type(_Changed),
                wait=wait_random_exponential(multiplier=0.005, max=0.1),  # writers spread out
                stop=stop_after_delay(10),
                reraise=True,
            ):
                with attempt:
                    raw, etag, denied = self._get_with_etag(key)
                    record = change(parse(raw))
                    condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
                    try:
                        self._put(key, json.dumps(record, ensure_ascii=False).encode(), **condition)
                    except _Changed:
                        if denied:  # it exists after all: reading it is what is denied
                            raise _s3_unavailable(denied) from denied
                        raise
        except _Changed as error:
            raise TooManyChanges() from error
        return record


def open_uploads(url: str | None = None) -> UploadStore:
    url = url or os.environ.get("UPLOAD_STORE") or f"file://{DATA_DIR / 'uploads'}"
    if url.startswith("file://"):
        return FolderUploads(Path(url[len("file://") :]))
    if url.startswith("s3://"):
        bucket, _, prefix = url[len("s3://") :].partition("/")
        return S3Uploads(bucket, prefix)
    raise UnknownUploadStore(url=url)
