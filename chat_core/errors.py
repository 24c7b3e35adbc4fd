"""Errors meant for the person chatting: each says what went wrong and what to do.

Anything the model path raises (botocore, llama.cpp, a malformed response) is
translated by ``explain`` into one of these, so pages only ever show a
``ChatError``'s text and never a traceback.
"""

from __future__ import annotations

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ReadTimeoutError,
)


class ChatError(Exception):
    """Base of every error a user is shown; ``str(error)`` is the message."""


class EndpointNotConfigured(ChatError):
    pass


class MissingCredentials(ChatError):
    pass


class EndpointNotFound(ChatError):
    pass


class Throttled(ChatError):
    pass


class EndpointTimeout(ChatError):
    pass


class EndpointUnreachable(ChatError):
    pass


class ModelFailed(ChatError):
    pass


class PromptTooLong(ChatError):
    pass


class RequestRejected(ChatError):
    pass


class MalformedResponse(ValueError):
    """An endpoint answered with something its content handler cannot read; not
    shown as it is, ``explain`` turns it into a ``ModelFailed``."""


def explain(error: BaseException, endpoint: str) -> ChatError:
    """The user-facing error for whatever the model path raised."""
    if isinstance(error, ChatError):
        return error
    if isinstance(error, NoRegionError):
        return EndpointNotConfigured(
            f"No AWS region is set for endpoint '{endpoint}'. Set SAGEMAKER_REGION or "
            "AWS_REGION (or AWS_DEFAULT_REGION, or a region in your AWS profile), or pick the local model."
        )
    if isinstance(error, (NoCredentialsError, PartialCredentialsError)):
        return MissingCredentials(
            f"No AWS credentials were found to call endpoint '{endpoint}'. Configure them "
            "(aws configure, AWS_PROFILE, or an instance role), or pick the local model."
        )
    if isinstance(error, (ConnectTimeoutError, ReadTimeoutError)):
        return EndpointTimeout(
            f"Endpoint '{endpoint}' did not answer in time. Try again, or lower max_new_tokens."
        )
    if isinstance(error, (EndpointConnectionError, ConnectionClosedError)):
        return EndpointUnreachable(
            f"Could not connect to the SageMaker runtime for '{endpoint}'. Check the network "
            "and AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME, then resend."
        )
    if isinstance(error, ClientError):
        return _explain_client_error(error, endpoint)
    if isinstance(error, MalformedResponse):
        return ModelFailed(
            f"Endpoint '{endpoint}' answered in a shape this app cannot read ({error}). Check that "
            "the model's payload format matches what the endpoint serves."
        )
    return ModelFailed(
        f"The model behind '{endpoint}' failed ({type(error).__name__}: {error}). Resend to try again."
    )


def _explain_client_error(error: ClientError, endpoint: str) -> ChatError:
    code = error.response.get("Error", {}).get("Code", "")
    message = error.response.get("Error", {}).get("Message", "")
    if code in ("ThrottlingException", "Throttling", "TooManyRequestsException"):
        return Throttled(f"Endpoint '{endpoint}' is busy (throttled). Wait a few seconds and resend.")
    if code in ("ValidationError", "ValidationException") and "not found" in message.lower():
        return EndpointNotFound(
            f"Endpoint '{endpoint}' does not exist in this account and region. Deploy it, "
            "or set SAGEMAKER_ENDPOINT_<MODEL ID> to the name of one that does."
        )
    if code in ("ValidationError", "ValidationException"):
        return RequestRejected(
            f"Endpoint '{endpoint}' rejected the request ({message}). Check that the model's "
            "payload format matches what the endpoint serves."
        )
    if code in (
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ExpiredTokenException",
        "AccessDeniedException",
    ):
        return MissingCredentials(
            f"AWS refused the credentials for endpoint '{endpoint}' ({code}). Refresh or fix them."
        )
    if code == "ModelError" and "context" in message.lower():
        return PromptTooLong(
            f"The prompt is longer than the model behind '{endpoint}' accepts. Start a new chat "
            "or send a shorter message."
        )
    return ModelFailed(f"Endpoint '{endpoint}' returned an error ({code}: {message}). Resend to retry.")
