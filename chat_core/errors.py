"""Errors meant for the person chatting: each says what went wrong and what to do.

Anything the model path raises (botocore, llama.cpp, a malformed response) is
translated by ``explain`` into one of these, so pages only ever show a
``ChatError``'s text and never a traceback.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from botocore.exceptions import ClientError

from chat_core import aws
from chat_core.i18n import Message, Text
from chat_core.markdown import plain


class ChatError(Exception):
    """Base of every error a user is shown: ``message`` in both languages, as pages
    show it, ``str(error)`` in English, as written (for logs and the command line).
    The Korean text is required, so that no message can reach a Korean page
    untranslated.  Pages render messages as Markdown, so ``message`` is the text made
    ``plain``: a link or an image in a file's name or in a server's words shows as
    the characters it is written with, and goes nowhere."""

    en: ClassVar[str]
    ko: ClassVar[str]

    def __init__(self, **values: object) -> None:
        kind = type(self)
        if not {"en", "ko"} <= {name for cls in kind.__mro__ for name in vars(cls)}:
            raise TypeError(f"{kind.__name__} groups other errors and has no text of its own")
        text = Message(kind.en, kind.ko).format(**values)
        super().__init__(text.en)
        self.message = Text(plain(text.en), plain(text.ko))

    def text(self, language: str) -> str:
        return self.message.text(language)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as made (an error of a child process reaches the page this way):
        Exception's own pickling would call the class without its Korean text."""
        return (_remade, (type(self), str(self), self.message))


def _remade(kind: type[ChatError], english: str, message: Text) -> ChatError:
    error = kind.__new__(kind)
    Exception.__init__(error, english)
    error.message = message
    return error


class EndpointNotConfigured(ChatError):
    en = (
        "No AWS region is set for endpoint '{endpoint}'. Set SAGEMAKER_REGION or AWS_REGION (or "
        "AWS_DEFAULT_REGION, or a region in your AWS profile), or pick the local model."
    )
    ko = (
        "엔드포인트 '{endpoint}'의 AWS 리전이 설정되어 있지 않습니다. SAGEMAKER_REGION이나 AWS_REGION"
        "(또는 AWS_DEFAULT_REGION, AWS 프로필의 리전)을 설정하거나 로컬 모델을 선택하세요."
    )


class InvalidEndpoint(ChatError):
    """An endpoint the user described in the sidebar cannot be added as given: each
    reason is a subclass, with its text."""


class MissingCredentials(ChatError):
    en = (
        "No AWS credentials were found to call endpoint '{endpoint}'. Configure them "
        "(aws configure, AWS_PROFILE, or an instance role), or pick the local model."
    )
    ko = (
        "엔드포인트 '{endpoint}'를 호출할 AWS 자격 증명이 없습니다. 자격 증명을 설정하거나"
        "(aws configure, AWS_PROFILE, 인스턴스 역할) 로컬 모델을 선택하세요."
    )


class CredentialsRefused(MissingCredentials):
    en = "AWS refused the credentials for endpoint '{endpoint}' ({code}). Refresh or fix them."
    ko = "AWS가 엔드포인트 '{endpoint}'의 자격 증명을 거부했습니다({code}). 갱신하거나 고치세요."


class EndpointNotFound(ChatError):
    en = (
        "Endpoint '{endpoint}' does not exist in this account and region. Deploy it, "
        "or set SAGEMAKER_ENDPOINT_<MODEL ID> to the name of one that does."
    )
    ko = (
        "엔드포인트 '{endpoint}'가 이 계정과 리전에 없습니다. 배포하거나 "
        "SAGEMAKER_ENDPOINT_<모델 ID>를 있는 엔드포인트 이름으로 설정하세요."
    )


class ComponentNotFound(ChatError):
    en = (
        "Endpoint '{endpoint}' hosts no inference component '{component}'. Check the component's "
        "name (the SageMaker console lists an endpoint's components), then add the model again."
    )
    ko = (
        "엔드포인트 '{endpoint}'에 추론 구성 요소 '{component}'가 없습니다. 구성 요소 이름을 "
        "확인한 뒤(SageMaker 콘솔에서 엔드포인트의 구성 요소를 볼 수 있습니다) 모델을 다시 추가하세요."
    )


class ComponentMismatch(ChatError):
    """A component named for an endpoint that hosts none, or none for one that hosts some."""


class ComponentNotHosted(ComponentMismatch):
    en = (
        "Endpoint '{endpoint}' hosts no inference components, so it cannot be called with "
        "'{component}'. Add the endpoint again without an inference component."
    )
    ko = (
        "엔드포인트 '{endpoint}'에는 추론 구성 요소가 없으므로 '{component}'로 호출할 수 "
        "없습니다. 추론 구성 요소 없이 엔드포인트를 다시 추가하세요."
    )


class ComponentNeeded(ComponentMismatch):
    en = (
        "Endpoint '{endpoint}' hosts inference components: add it again with the name of the one "
        'to call (Inference component, in "Add a SageMaker endpoint").'
    )
    ko = (
        "엔드포인트 '{endpoint}'에는 추론 구성 요소가 있습니다. 호출할 구성 요소의 이름을 넣어"
        '("SageMaker 엔드포인트 추가"의 추론 구성 요소) 다시 추가하세요.'
    )


class Throttled(ChatError):
    en = "Endpoint '{endpoint}' is busy (throttled). Wait a few seconds and resend."
    ko = "엔드포인트 '{endpoint}'가 요청이 많아 바쁩니다(스로틀링). 몇 초 기다린 뒤 다시 보내세요."


class EndpointTimeout(ChatError):
    en = "Endpoint '{endpoint}' did not answer in time. Try again, or lower max_new_tokens."
    ko = "엔드포인트 '{endpoint}'가 제때 응답하지 않았습니다. 다시 시도하거나 max_new_tokens를 줄이세요."


class EndpointUnreachable(ChatError):
    en = (
        "Could not connect to the SageMaker runtime for '{endpoint}'. Check the network "
        "and AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME, then resend."
    )
    ko = (
        "'{endpoint}'의 SageMaker 런타임에 연결할 수 없습니다. 네트워크와 "
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME을 확인한 뒤 다시 보내세요."
    )


class ModelFailed(ChatError):
    en = "The model behind '{endpoint}' failed ({detail}). Resend to try again."
    ko = "'{endpoint}'의 모델이 실패했습니다({detail}). 다시 보내 보세요."


class UnreadableAnswer(ModelFailed):
    en = (
        "Endpoint '{endpoint}' answered in a shape this app cannot read ({detail}). "
        "Check that the model's payload format matches what the endpoint serves."
    )
    ko = (
        "엔드포인트 '{endpoint}'의 응답 형식을 이 앱이 읽을 수 없습니다({detail}). "
        "모델의 페이로드 형식이 엔드포인트와 맞는지 확인하세요."
    )


class EndpointFailed(ModelFailed):
    en = "Endpoint '{endpoint}' returned an error ({code}: {detail}). Resend to retry."
    ko = "엔드포인트 '{endpoint}'가 오류를 돌려주었습니다({code}: {detail}). 다시 보내 보세요."


class WakeTimedOut(ChatError):
    en = (
        "'{model}' is still not ready after {wait} (WAKE_MAX_SECONDS): it has no copy serving "
        "yet. Resend to wait again, or ask the team that runs it to check its scaling."
    )
    ko = (
        "'{model}'이(가) {wait}(WAKE_MAX_SECONDS)이 지나도록 준비되지 않았습니다. 아직 실행 중인 "
        "복사본이 없습니다. 다시 보내 다시 기다리거나, 운영 팀에 스케일링 설정을 확인해 달라고 하세요."
    )


class ColdStartTimedOut(WakeTimedOut):
    en = (
        "'{model}' is still not ready after {wait} (WAKE_MAX_SECONDS): the serverless endpoint's "
        "cold start (setting up its resources after a time without calls) is not over. Resend to "
        "wait again, or ask the team that runs it to check the endpoint."
    )
    ko = (
        "'{model}'이(가) {wait}(WAKE_MAX_SECONDS)이 지나도록 준비되지 않았습니다. 서버리스 "
        "엔드포인트의 콜드 스타트(한동안 호출이 없다가 자원을 준비하는 과정)가 끝나지 않았습니다. "
        "다시 보내 다시 기다리거나, 운영 팀에 엔드포인트를 확인해 달라고 하세요."
    )


class InvalidWakeSetting(ChatError):
    en = "{name} is not valid ({value!r}): give the seconds a question may wait as a number above 0."
    ko = "{name} 값이 올바르지 않습니다({value!r}). 질문이 기다릴 수 있는 초를 0보다 큰 수로 적으세요."


class WakeRefused(ChatError):
    en = (
        "SageMaker refused the app's request for a copy of '{model}' ({code}): the account may "
        "have no instance to spare, or the app's role lacks "
        "sagemaker:UpdateInferenceComponentRuntimeConfig. Resend later, or ask your administrator."
    )
    ko = (
        "SageMaker가 '{model}'의 복사본을 띄워 달라는 앱의 요청을 거부했습니다({code}). 계정에 남는 "
        "인스턴스가 없거나 앱의 역할에 sagemaker:UpdateInferenceComponentRuntimeConfig 권한이 "
        "없을 수 있습니다. 나중에 다시 보내거나 관리자에게 문의하세요."
    )


class PromptTooLong(ChatError):
    en = (
        "The prompt is longer than the model behind '{endpoint}' accepts. Start a new chat "
        "or send a shorter message."
    )
    ko = (
        "프롬프트가 '{endpoint}'의 모델이 받을 수 있는 길이보다 깁니다. 새 채팅을 시작하거나 "
        "더 짧은 메시지를 보내세요."
    )


class RequestRejected(ChatError):
    en = (
        "Endpoint '{endpoint}' rejected the request ({detail}). Check that the model's "
        "payload format matches what the endpoint serves."
    )
    ko = (
        "엔드포인트 '{endpoint}'가 요청을 거부했습니다({detail}). 모델의 페이로드 형식이 "
        "엔드포인트와 맞는지 확인하세요."
    )


class MalformedResponse(ValueError):
    """An endpoint answered with something its content handler cannot read; not
    shown as it is, ``explain`` turns it into a ``ModelFailed``."""


# What an error text from AWS or a library may hold that a user must not see:
# ARNs (with the account id and role names in them), account ids, and URLs, in
# every form a browser follows to another host: with a scheme, protocol-relative
# (//host, or \\host, which browsers read the same), http(s): without slashes, and
# www.host, which Markdown links by itself.  Each runs to the next space, quote or
# closing bracket, less a sentence's full stop.
_PRIVATE = re.compile(
    r"(?:\barn:aws[\w-]*:|\b[a-z][a-z0-9+.-]*://|\bhttps?:|(?<![\w:/\\])[/\\]{2}|\bwww\.)"
    r"[^\s'\"()<>\[\]]*[^\s'\"()<>\[\].,;:]|\b\d{12}\b",
    re.IGNORECASE,
)


def redacted(text: str) -> str:
    """``text`` with ARNs, account ids and URLs replaced by "…"."""
    return _PRIVATE.sub("…", text)


# What each failure of a call to SageMaker (aws.failure) is on the model path.
_BY_FAILURE: dict[aws.Failure, type[ChatError]] = {
    aws.Failure.NO_REGION: EndpointNotConfigured,
    aws.Failure.NO_CREDENTIALS: MissingCredentials,
    aws.Failure.REFUSED: CredentialsRefused,
    aws.Failure.BUSY: Throttled,
    aws.Failure.TIMED_OUT: EndpointTimeout,
    aws.Failure.UNREACHABLE: EndpointUnreachable,
}


def explain(error: BaseException, endpoint: str, component: str | None = None) -> ChatError:
    """The user-facing error for whatever the model path raised calling ``endpoint``
    (its inference ``component``, if it was called with one)."""
    if isinstance(error, ChatError):
        return error
    if isinstance(error, MalformedResponse):
        return UnreadableAnswer(endpoint=endpoint, detail=redacted(str(error)))
    meaning = aws.failure(error)
    if meaning in _BY_FAILURE:
        return _BY_FAILURE[meaning](endpoint=endpoint, code=aws.code(error))
    if isinstance(error, ClientError):
        return _explain_client_error(error, endpoint, component)
    return ModelFailed(endpoint=endpoint, detail=f"{type(error).__name__}: {redacted(str(error))}")


def _explain_client_error(error: ClientError, endpoint: str, component: str | None) -> ChatError:
    """What SageMaker's own codes say: a refused request (ValidationError) is told
    apart by its message, which names no account here (it is redacted all the same)."""
    code = aws.code(error)
    message = redacted(error.response.get("Error", {}).get("Message", ""))
    lowered = message.lower()
    if code in aws.VALIDATION:
        if "inference component name header" in lowered:
            mismatch = ComponentNotHosted if component else ComponentNeeded
            return mismatch(endpoint=endpoint, component=component)
        # "inference component" with its space: no endpoint's name can hold it
        if component and "not found" in lowered and "inference component" in lowered:
            return ComponentNotFound(endpoint=endpoint, component=component)
        if "not found" in lowered:
            return EndpointNotFound(endpoint=endpoint)
        return RequestRejected(endpoint=endpoint, detail=message)
    if code == "ModelError" and "context" in lowered:
        return PromptTooLong(endpoint=endpoint)
    return EndpointFailed(endpoint=endpoint, code=code, detail=message)
