"""The models a user can pick, and where each one is served.

Endpoint names are deployment facts, not code: each can be overridden through
the environment (``SAGEMAKER_ENDPOINT_<ID>``), and the region too
(``SAGEMAKER_REGION``, else ``AWS_REGION``: see ``endpoint.runtime_client``).
Root-level keys of ``.streamlit/secrets.toml`` reach the environment too,
because Streamlit exports them there.  Everything else about AWS (AWS_PROFILE,
AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME, credentials) is left to boto3.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

import botocore.session

from chat_core.errors import ChatError, InvalidEndpoint
from chat_core.i18n import Message
from chat_core.models.handlers import PAYLOADS
from chat_core.models.prompts import CHATML, FALCON, LLAMA2, ChatFormat, PromptFormat

LOCAL_ENDPOINT = "local-smollm2"
SMALLEST_WINDOW = 512  # tokens: the least context window an endpoint added in the sidebar may have


@dataclass(frozen=True)
class GenerationParams:
    max_new_tokens: int
    temperature: float
    top_p: float
    seed: int | None = None  # fixed seeds make local answers repeatable in tests


@dataclass(frozen=True)
class ModelSpec:
    id: str
    label: str
    payload: str  # request/response shape: a name in handlers.PAYLOADS
    prompt_format: PromptFormat
    endpoint_name: str
    context_window: int
    defaults: GenerationParams
    region: str | None = None  # None: the deployment's region (see endpoint.runtime_client)
    # On an endpoint that hosts several models, the one this is (InferenceComponentName).
    inference_component: str | None = None

    def __hash__(self) -> int:
        # By id alone, like PromptFormat: specs key the per-turn token cache.
        return hash(self.id)

    @property
    def is_local(self) -> bool:
        return self.endpoint_name == LOCAL_ENDPOINT

    @property
    def stop(self) -> tuple[str, ...]:
        return self.prompt_format.stop

    @property
    def chat_format(self) -> ChatFormat:
        """How a conversation is sent to it, as text or as messages: its payload format's way."""
        return PAYLOADS[self.payload].chat_format(self.prompt_format)

    def env_key(self) -> str:
        return "SAGEMAKER_ENDPOINT_" + self.id.upper().replace("-", "_")


# The bundled model: llama.cpp is loaded with this context window (local/model.py).
LOCAL_MODEL = ModelSpec(
    id="local-smollm2",
    label="Local - SmolLM2-135M (offline)",
    payload="tgi",
    prompt_format=CHATML,
    endpoint_name=LOCAL_ENDPOINT,
    context_window=8192,
    defaults=GenerationParams(max_new_tokens=256, temperature=0.2, top_p=0.9),
)
# What a newcomer is told once (the pages' first-run notice): its answers are a demo's.
DEMO_NOTICE = Message(
    "**New here?** The offline model, SmolLM2-135M, is a small demo model (135M parameters) for "
    "trying the app: its answers are often wrong or made up. To use a real model, enter your "
    "endpoint's name under **Add a SageMaker endpoint** in the sidebar (with AWS credentials where "
    "the app runs).",
    "**처음이신가요?** 오프라인 모델 SmolLM2-135M은 앱을 써 보기 위한 작은 데모 모델(135M, 1억 3,500만 "
    "매개변수)이라 답이 자주 틀리거나 지어낸 것입니다. 실제 모델을 쓰려면 사이드바의 **SageMaker "
    "엔드포인트 추가**에 엔드포인트 이름을 입력하세요(앱이 실행되는 곳에 AWS 자격 증명이 있어야 합니다).",
)

BUILT_IN: tuple[ModelSpec, ...] = (
    LOCAL_MODEL,
    ModelSpec(
        id="llama2-7b-chat",
        label="Llama 2 7B chat (JumpStart)",
        payload="llama2-chat",
        prompt_format=LLAMA2,
        endpoint_name="jumpstart-dft-meta-textgeneration-llama-2-7b-f",
        context_window=4096,
        defaults=GenerationParams(max_new_tokens=512, temperature=0.6, top_p=0.9),
    ),
    ModelSpec(
        id="falcon-7b-instruct",
        label="Falcon 7B instruct (JumpStart)",
        payload="tgi",
        prompt_format=FALCON,
        endpoint_name="jumpstart-dft-hf-llm-falcon-7b-instruct-bf16",
        context_window=2048,
        defaults=GenerationParams(max_new_tokens=512, temperature=0.7, top_p=0.9),
    ),
)

DEFAULT_MODEL = BUILT_IN[0].id


# Why an endpoint described in the sidebar cannot be added (the page says "Not added: ..."):
class BadComponentName(InvalidEndpoint):
    en = "an inference component's name is letters, digits and inner hyphens, at most {longest} characters"
    ko = "추론 구성 요소 이름은 영문자, 숫자, 중간의 하이픈으로 된 {longest}자 이하여야 합니다"


class NoEndpointName(InvalidEndpoint):
    en = "give the endpoint's name"
    ko = "엔드포인트 이름을 입력하세요"


class UnknownPayload(InvalidEndpoint):
    en = "payload format must be one of {formats}"
    ko = "페이로드 형식은 {formats} 중 하나여야 합니다"


class WindowTooSmall(InvalidEndpoint):
    en = "the context window must be at least {least} tokens"
    ko = "컨텍스트 창은 {least}토큰 이상이어야 합니다"


@functools.cache
def _component_name() -> tuple[int, re.Pattern[str]]:
    """The longest inference component name SageMaker accepts, and its pattern, as
    botocore's sagemaker-runtime model gives them (botocore does not check them itself)."""
    model = botocore.session.get_session().get_service_model("sagemaker-runtime")
    rules = model.shape_for("InferenceComponentHeader").metadata
    return rules["max"], re.compile(rules["pattern"])


def _checked_component(component: str | None) -> str | None:
    """The component's name, None for none, or why SageMaker would refuse it (told
    when the model is added rather than at its first question)."""
    component = (component or "").strip()
    if not component:
        return None
    longest, pattern = _component_name()
    if len(component) > longest or not pattern.fullmatch(component):
        raise BadComponentName(longest=longest)
    return component


def custom_model(
    endpoint_name: str, payload: str, context_window: int, region: str | None, component: str | None = None
) -> ModelSpec:
    """A model on an endpoint the user names in the sidebar: the endpoint's own model,
    or with ``component`` one of the inference components it hosts."""
    endpoint_name = endpoint_name.strip()
    component = _checked_component(component)
    if not endpoint_name or endpoint_name == LOCAL_ENDPOINT:
        raise NoEndpointName()
    if payload not in PAYLOADS:
        raise UnknownPayload(formats=", ".join(PAYLOADS))
    if context_window < SMALLEST_WINDOW:
        raise WindowTooSmall(least=SMALLEST_WINDOW)
    served = served_name(endpoint_name, component)
    return remote_model(
        f"custom-{served}",
        f"{served} ({payload})",
        payload,
        endpoint_name,
        context_window,
        region=(region or "").strip() or None,
        inference_component=component,
    )


def served_name(endpoint_name: str, component: str | None) -> str:
    """How the app names a model on an endpoint: ``endpoint/component`` for an
    inference component ("/" is in no endpoint's name; the endpoint server's
    --component option reads it the same way), else the endpoint's name."""
    return f"{endpoint_name}/{component}" if component else endpoint_name


# An endpoint's or inference component's name as SageMaker allows it (its API's pattern).
_SAGEMAKER_NAME = r"[a-zA-Z0-9](?:-*[a-zA-Z0-9]){0,62}"
_COMPONENT = re.compile(rf"({_SAGEMAKER_NAME})/({_SAGEMAKER_NAME})")


def component_named(text: str) -> tuple[str, str] | None:
    """``endpoint/component`` (``served_name``'s) read back: the one reading of it, for
    the commands and the settings; None when ``text`` is not two SageMaker names
    (letters, digits, hyphens) around one "/"."""
    found = _COMPONENT.fullmatch(text)
    return (found[1], found[2]) if found else None


class InvalidComponentList(ChatError):
    en = (
        "{name} is not valid ({value!r}): list inference components as endpoint/component "
        "separated by commas, such as my-endpoint/llama,my-endpoint/gemma."
    )
    ko = (
        "{name} 값이 올바르지 않습니다({value!r}). 추론 구성 요소를 endpoint/component 형식으로 "
        "쉼표로 구분해 적으세요. 예: my-endpoint/llama,my-endpoint/gemma."
    )


def components_listed(name: str, environ: Mapping[str, str] = os.environ) -> list[tuple[str, str]]:
    """The components the setting ``name`` lists (``endpoint/component``, separated by
    commas), or ``InvalidComponentList`` naming it when one entry is not a component."""
    value = environ.get(name, "")
    listed = [component_named(entry.strip()) for entry in value.split(",") if entry.strip()]
    if None in listed:
        raise InvalidComponentList(name=name, value=value)
    return [named for named in listed if named]


def may_wake(endpoint: str, component: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the operator lets the app ask for a copy of ``endpoint``'s ``component``
    for a question: listed in WAKE_COMPONENTS, or in SLEEP_COMPONENTS (a component the
    app may put to sleep it also wakes, with the same IAM permission), or else it is
    left to the team's own autoscaling.  Here, not in ``scaling``, so that ``wake``
    reads it without importing back what imports ``wake``."""
    listed = components_listed("WAKE_COMPONENTS", environ) + components_listed("SLEEP_COMPONENTS", environ)
    return (endpoint, component) in listed


def remote_model(
    id: str,
    label: str,
    payload: str,
    endpoint_name: str,
    context_window: int,
    *,
    region: str | None = None,
    inference_component: str | None = None,
) -> ModelSpec:
    """A model on an endpoint found at run time (added by the user, or listed from
    the account): its prompt format is its payload format's, and its defaults leave
    three quarters of the window to the conversation."""
    return ModelSpec(
        id=id,
        label=label,
        payload=payload,
        prompt_format=PAYLOADS[payload].prompt_format,
        endpoint_name=endpoint_name,
        context_window=context_window,
        defaults=GenerationParams(max_new_tokens=min(512, context_window // 4), temperature=0.6, top_p=0.9),
        region=region,
        inference_component=inference_component,
    )


def load_catalog(env: Mapping[str, str] | None = None) -> dict[str, ModelSpec]:
    """The built-in models with this deployment's endpoint names applied."""
    env = os.environ if env is None else env
    models = {}
    for spec in BUILT_IN:
        if not spec.is_local:
            spec = replace(
                spec,
                endpoint_name=env.get(spec.env_key(), spec.endpoint_name).strip(),
            )
        models[spec.id] = spec
    return models
