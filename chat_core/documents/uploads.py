"""Uploaded files: kept under generated names, recognized again by their hash.

``UPLOAD_STORE`` chooses where: ``file:///dir`` (the default, a folder in the
data folder) or ``s3://bucket/prefix`` (boto3's configuration, so
``AWS_ENDPOINT_URL_S3`` works).  A file is stored as ``<uuid>.pdf``, never
under the user's file name; ``index/<sha256>.json`` records it and, once done,
its summary, and ``text/<sha256>.txt`` its text, so the same file uploaded again
is neither read nor summarized twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from chat_core.conversations.store import DATA_DIR
from chat_core.documents.pdf import Document
from chat_core.errors import ChatError
from chat_core.i18n import Text


class UploadStoreUnavailable(ChatError):
    pass


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class UploadStore:
    """Where bytes go; subclasses say how to put and get one object."""

    def _put(self, key: str, data: bytes) -> None:
        raise NotImplementedError

    def _get(self, key: str) -> bytes | None:
        raise NotImplementedError

    def save(self, data: bytes, name: str) -> dict[str, Any]:
        """Store ``data`` under a new UUID name (once per content); its record."""
        known = self.record(sha256(data))
        if known:
            return known
        record = {"id": uuid.uuid4().hex, "name": name, "sha256": sha256(data), "bytes": len(data)}
        self._put(f"{record['id']}.pdf", data)
        self._put(f"index/{record['sha256']}.json", json.dumps(record).encode())
        return record

    def record(self, digest: str) -> dict[str, Any] | None:
        raw = self._get(f"index/{digest}.json")
        return json.loads(raw) if raw else None

    def save_text(self, digest: str, text: str) -> None:
        """Keep a file's extracted text, so it is never extracted twice."""
        self._put(f"text/{digest}.txt", text.encode())

    def text(self, digest: str) -> str | None:
        raw = self._get(f"text/{digest}.txt")
        return raw.decode() if raw is not None else None

    def keep_document(self, digest: str, document: Document) -> dict[str, Any]:
        """Keep what was read from a file (its text, page count, first page), so it is
        never read twice; the file's record, updated."""
        self.save_text(digest, document.text)
        self.remember(
            digest,
            pages=document.page_count,
            characters=document.characters,
            preview=document.pages[0][:2000],
            notice=asdict(document.notice) if document.notice else None,
        )
        return self.record(digest) or {}

    @staticmethod
    def notice(record: dict[str, Any]) -> Text | None:
        """What the user should know about the text kept (``Document.notice``)."""
        return Text(**record["notice"]) if record.get("notice") else None

    def summary(self, digest: str, model_id: str, detail: str) -> str | None:
        """The file's summary by this model at this length, if one was made before."""
        return ((self.record(digest) or {}).get("summaries") or {}).get(f"{model_id}/{detail}")

    def keep_summary(self, digest: str, model_id: str, detail: str, text: str) -> None:
        summaries = (self.record(digest) or {}).get("summaries") or {}
        self.remember(digest, summaries={**summaries, f"{model_id}/{detail}": text})

    def remember(self, digest: str, **facts: Any) -> None:
        """Add facts (page count, summary...) to a stored file's record."""
        record = self.record(digest) or {}
        self._put(f"index/{digest}.json", json.dumps({**record, **facts}, ensure_ascii=False).encode())


class FolderUploads(UploadStore):
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        try:
            for sub in ("index", "text"):
                (folder / sub).mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UploadStoreUnavailable(
                f"Cannot keep uploads in {folder}: {error.strerror}.",
                ko=f"{folder}에 업로드를 보관할 수 없습니다: {error.strerror}.",
            ) from error

    def _put(self, key: str, data: bytes) -> None:
        path = self.folder / key
        partial = path.with_suffix(path.suffix + ".part")
        partial.write_bytes(data)
        partial.replace(path)  # whole or not at all

    def _get(self, key: str) -> bytes | None:
        path = self.folder / key
        return path.read_bytes() if path.exists() else None


class S3Uploads(UploadStore):
    def __init__(self, bucket: str, prefix: str) -> None:
        self.bucket, self.prefix = bucket, prefix.strip("/")
        region = os.environ.get("AWS_REGION") or None  # botocore reads only AWS_DEFAULT_REGION
        self._s3 = boto3.session.Session().client("s3", region_name=region)

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _put(self, key: str, data: bytes) -> None:
        try:
            self._s3.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        except (ClientError, BotoCoreError) as error:
            raise UploadStoreUnavailable(
                f"Could not store the upload in s3://{self.bucket}: {error}.",
                ko=f"s3://{self.bucket}에 업로드를 저장하지 못했습니다: {error}.",
            ) from error

    def _get(self, key: str) -> bytes | None:
        try:
            return self._s3.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except ClientError as error:
            if error.response["Error"]["Code"] in ("NoSuchKey", "404"):
                return None
            raise UploadStoreUnavailable(
                f"Could not read s3://{self.bucket}: {error}.",
                ko=f"s3://{self.bucket}을 읽지 못했습니다: {error}.",
            ) from error
        except BotoCoreError as error:
            raise UploadStoreUnavailable(
                f"Could not read s3://{self.bucket}: {error}.",
                ko=f"s3://{self.bucket}을 읽지 못했습니다: {error}.",
            ) from error


def open_uploads(url: str | None = None) -> UploadStore:
    url = url or os.environ.get("UPLOAD_STORE") or f"file://{DATA_DIR / 'uploads'}"
    if url.startswith("file://"):
        return FolderUploads(Path(url[len("file://") :]))
    if url.startswith("s3://"):
        bucket, _, prefix = url[len("s3://") :].partition("/")
        return S3Uploads(bucket, prefix)
    raise UploadStoreUnavailable(
        f"UPLOAD_STORE={url!r}: use file:///folder or s3://bucket/prefix.",
        ko=f"UPLOAD_STORE={url!r}: file:///폴더 또는 s3://버킷/접두어를 쓰세요.",
    )
