"""The one way to AWS: every boto3 client the app makes, and what their failures mean.

Every client (the SageMaker runtime for answers, the SageMaker API for the
account's endpoints, DynamoDB for conversations, S3 for uploads) gets the same
timeouts and adaptive retries, its region and boto3's own resolution of profile,
credentials and ``AWS_ENDPOINT_URL_<SERVICE>``.

A failed call is read once, here (``failure``): by exception for what botocore
raises itself (no region, no credentials, a timeout, no connection), by AWS's
error code otherwise.  Each caller says it in its own frame, with ``reason``,
adding only the codes that are its service's own (DynamoDB's throughput errors,
say).  Reasons name AWS's code, never AWS's message, which may hold account ids,
ARNs and URLs.
"""

from __future__ import annotations

import enum
import functools
import os
from collections.abc import Mapping
from typing import Any

import boto3
from botocore import exceptions as botocore_errors
from botocore.config import Config
from botocore.exceptions import ClientError

from chat_core.i18n import Message, Text

CONNECT_TIMEOUT = 5  # seconds
# A model may take minutes to begin its answer; every other call answers in milliseconds.
ANSWER_READ_TIMEOUT, READ_TIMEOUT = 120, 20  # seconds; SAGEMAKER_READ_TIMEOUT, AWS_READ_TIMEOUT
ATTEMPTS = 4  # AWS_MAX_ATTEMPTS
# Connections kept open by the one sagemaker-runtime client every answer shares
# (models/endpoint.py): one per answer streaming at once.  botocore's 10 would open and
# drop a connection for each answer past ten; bench/load.py streams 50 at once.
RUNTIME_CONNECTIONS = 100

# How AWS_ENDPOINT_URL_<SERVICE> names each service, and how messages name it.
NAMES = {
    "sagemaker-runtime": "SageMaker Runtime",
    "sagemaker": "SageMaker",
    "dynamodb": "DynamoDB",
    "s3": "S3",
}


def client(service: str, region: str | None = None) -> Any:
    """A boto3 client for ``service`` in ``region`` (None: ``region_for``'s).

    A session reads profile and credentials once, so one is kept per state of the
    AWS_* variables: a new client per call stays cheap (13 ms against 100 ms for a
    new session)."""
    session = _session(aws_environment())
    return session.client(service, region_name=region_for(service, region), config=_config(service))


def _config(service: str) -> Config:
    """Timeouts and retries: adaptive mode backs off and rate-limits itself when a
    service throttles.  AWS_MAX_ATTEMPTS is botocore's own setting (attempts in all),
    which an explicit Config would hide, so it is read here."""
    if service == "sagemaker-runtime":
        read = float(os.environ.get("SAGEMAKER_READ_TIMEOUT", ANSWER_READ_TIMEOUT))
    else:
        read = float(os.environ.get("AWS_READ_TIMEOUT", READ_TIMEOUT))
    attempts = int(os.environ.get("AWS_MAX_ATTEMPTS", ATTEMPTS))
    # "total_max_attempts": botocore reads a Config's "max_attempts" as retries, one more in all.
    config = Config(
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=read,
        retries={"mode": "adaptive", "total_max_attempts": attempts},
    )
    if service == "sagemaker-runtime":
        config = config.merge(Config(max_pool_connections=RUNTIME_CONNECTIONS))
    return config


@functools.lru_cache(maxsize=8)
def _session(aws_environment: tuple[tuple[str, str], ...]) -> boto3.session.Session:
    return boto3.session.Session()


def region_for(service: str, region: str | None = None) -> str | None:
    """``region``, else SAGEMAKER_REGION for SageMaker's services, else AWS_REGION,
    else None (boto3's own resolution: AWS_DEFAULT_REGION, the profile).  botocore
    reads AWS_DEFAULT_REGION and profiles but not AWS_REGION, which Lambda,
    SageMaker Studio and most AWS tooling set: honoured here."""
    sagemaker = os.environ.get("SAGEMAKER_REGION") if service.startswith("sagemaker") else None
    return region or sagemaker or os.environ.get("AWS_REGION") or None


def resolved_region() -> str | None:
    """The region a SageMaker client would be made for, read locally (environment
    and AWS config file, never the network); None when none is set."""
    return region_for("sagemaker") or _session(aws_environment()).region_name


def aws_environment() -> tuple[tuple[str, str], ...]:
    """The settings an AWS call depends on (boto3's AWS_* and our SAGEMAKER_*), as a
    key for what is kept per state of them: a boto3 session, the account's listing."""
    return tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(("AWS_", "SAGEMAKER_"))))


class Failure(enum.Enum):
    """What went wrong with a call, whichever service it was."""

    NO_REGION = "no region"
    NO_CREDENTIALS = "no credentials"
    REFUSED = "credentials refused"
    BUSY = "throttled"
    TIMED_OUT = "timed out"
    UNREACHABLE = "unreachable"
    FAILED = "failed"  # anything else, named by its code


# The code SageMaker's services answer a request they refuse with (a name that is
# not found among them): each caller tells its cases apart by the message.
VALIDATION = ("ValidationError", "ValidationException")

# Codes every service answers with (S3 has names of its own for some).
CODES: dict[str, Failure] = {
    **dict.fromkeys(
        (
            "AccessDenied",
            "AccessDeniedException",
            "UnrecognizedClientException",
            "InvalidClientTokenId",
            "InvalidSignatureException",
            "SignatureDoesNotMatch",
            "InvalidAccessKeyId",
            "ExpiredToken",
            "ExpiredTokenException",
            "MissingAuthenticationTokenException",
        ),
        Failure.REFUSED,
    ),
    **dict.fromkeys(
        ("ThrottlingException", "Throttling", "TooManyRequestsException", "SlowDown"), Failure.BUSY
    ),
}

REASONS: dict[Failure, Message] = {
    Failure.NO_REGION: Message(
        "no AWS region is set; set {regions}",
        "AWS 리전이 설정되지 않았습니다. {regions}을 설정하세요",
    ),
    Failure.NO_CREDENTIALS: Message(
        "no AWS credentials were found; configure them (aws configure, AWS_PROFILE, or an instance role)",
        "AWS 자격 증명이 없습니다. 자격 증명을 설정하세요(aws configure, AWS_PROFILE, 인스턴스 역할)",
    ),
    Failure.REFUSED: Message(
        "AWS refused the credentials or their permissions ({code}); fix the app's role or keys",
        "AWS가 자격 증명이나 권한을 거부했습니다({code}). 앱의 역할이나 키를 고치세요",
    ),
    Failure.BUSY: Message(
        "{service} is busy ({code}); try again in a moment",
        "{service}가 바쁩니다({code}). 잠시 뒤 다시 시도하세요",
    ),
    Failure.TIMED_OUT: Message(
        "{service} did not answer in time; try again in a moment",
        "{service}가 제때 응답하지 않았습니다. 잠시 뒤 다시 시도하세요",
    ),
    Failure.UNREACHABLE: Message(
        "{service} cannot be reached; check the network (and {setting} if it is set)",
        "{service}에 연결할 수 없습니다. 네트워크를(설정했다면 {setting}도) 확인하세요",
    ),
    Failure.FAILED: Message(
        "{service} refused the request ({code})",
        "{service}가 요청을 거부했습니다({code})",
    ),
}


# The settings that give SageMaker's services their region (region_for).
SAGEMAKER_REGIONS = Message("SAGEMAKER_REGION or AWS_REGION", "SAGEMAKER_REGION이나 AWS_REGION")


def code(error: BaseException) -> str:
    """AWS's error code for a failed call ("" for an error AWS did not answer with)."""
    return error.response.get("Error", {}).get("Code", "") if isinstance(error, ClientError) else ""


def failure(error: BaseException, codes: Mapping[str, Failure] | None = None) -> Failure | None:
    """What ``error`` means, ``codes`` (the caller's service's own) before the common
    ones; None for an error that is no failure of a call to AWS."""
    if isinstance(error, ClientError):
        return {**CODES, **(codes or {})}.get(code(error), Failure.FAILED)
    for kinds, meaning in (
        (botocore_errors.NoRegionError, Failure.NO_REGION),
        (
            (botocore_errors.NoCredentialsError, botocore_errors.PartialCredentialsError),
            Failure.NO_CREDENTIALS,
        ),
        ((botocore_errors.ConnectTimeoutError, botocore_errors.ReadTimeoutError), Failure.TIMED_OUT),
        # Connecting failed or the connection was cut: botocore's two families of it.
        ((botocore_errors.ConnectionError, botocore_errors.HTTPClientError), Failure.UNREACHABLE),
        (botocore_errors.BotoCoreError, Failure.FAILED),
    ):
        if isinstance(error, kinds):
            return meaning
    return None


def reason(
    error: BaseException,
    service: str,
    codes: Mapping[str, Failure] | None = None,
    meaning: Failure | None = None,
) -> Text:
    """Why a call to ``service`` (its boto3 name) failed, and what to do, for a
    caller's message; ``meaning`` when the caller has read the error itself."""
    meaning = meaning or failure(error, codes) or Failure.FAILED
    return REASONS[meaning].format(
        service=NAMES[service],
        regions=SAGEMAKER_REGIONS.format() if service.startswith("sagemaker") else "AWS_REGION",
        code=code(error) or type(error).__name__,
        setting=f"AWS_ENDPOINT_URL_{service.upper().replace('-', '_')}",
    )
