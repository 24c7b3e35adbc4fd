"""Putting inference components to sleep and waking them: by an admin, and by the
app itself once a component the operator lists has been idle long enough.

A component's copies are set with UpdateInferenceComponentRuntimeConfig; at zero
copies (and, with ``ManagedInstanceScaling`` at minimum 0, zero instances) it costs
nothing and a question to it waits for it to wake (``wake``).

**Auto-sleep** (``SLEEP_COMPONENTS=endpoint/component,...`` and
``SLEEP_AFTER_MINUTES``, 30 by default): every app process (replica) checks the
listed components now and then, and the first to find one idle scales it to zero.
Several replicas doing so at once is safe, because each puts a component to sleep
only when all of these hold, read afresh just before:

- it is InService with its desired copies equal to its current ones, above zero: no
  wake, scaling or sleep is under way (an admin's, the team's autoscaling, another
  replica's, or this app waking it for a question);
- it was last changed (DescribeInferenceComponent's ``LastModifiedTime``) at least
  the idle minutes ago, so a component just woken is given the idle time to be used;
- no usage record of it ended within the idle minutes, in the store every replica
  shares (a record is written when its answer ends);
- no model call was marked (``mark_call``) within the idle minutes, nor within the
  longest a call may take (WAKE_MAX_SECONDS + ANSWER_MAX_SECONDS) when that is
  longer, plus the minute between one process's marks (``calls.MARK_EVERY_S``): an
  answer, a compared column, a summary part or a query embedding that any replica
  has under way keeps it awake.  Every call to a remote model is marked in the
  shared store before it is sent, at least once a minute while calls are sent
  (``calls.note_call``, hooked on the one sagemaker-runtime client every remote call
  goes through, ``models.endpoint``); the bundled model's calls never are.

and setting zero copies twice is the same as once; a replica whose call finds the
component already being updated (SageMaker's ValidationError) leaves it to that.
A component listed here is also woken by the app for the next question
(``catalog.may_wake``).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chat_core import aws
from chat_core.access import is_admin
from chat_core.conversations.reply import ANSWER_MAX_SECONDS
from chat_core.conversations.store import Store
from chat_core.errors import ChatError, redacted
from chat_core.i18n import Message, Text
from chat_core.models import calls, wake
from chat_core.models.catalog import component_named, components_listed

SLEEP_AFTER_MINUTES = 30.0
log = logging.getLogger(__name__)


class NotAllowedToScale(ChatError):
    en = "Only admins (CHAT_ADMINS) may put a model to sleep or wake it."
    ko = "모델을 재우거나 깨우는 일은 관리자(CHAT_ADMINS)만 할 수 있습니다."


class InvalidScaleTarget(ChatError):
    en = "{given!r} is not ENDPOINT/COMPONENT=COPIES, such as my-endpoint/llama=0 (COPIES 0 or more)."
    ko = "{given!r}는 ENDPOINT/COMPONENT=COPIES 형식이 아닙니다. 예: my-endpoint/llama=0 (COPIES는 0 이상)."


class NoSuchComponent(ChatError):
    en = (
        "{endpoint} hosts no inference component {component}: check both names "
        "(python -m chat_core endpoints)."
    )
    ko = (
        "{endpoint}에는 추론 컴포넌트 {component}가 없습니다. 두 이름을 확인하세요"
        "(python -m chat_core endpoints)."
    )


class ScaleFailed(ChatError):
    en = "{component}'s copies were not set to {copies}: {reason}."
    ko = "{component}의 복사본 수를 {copies}(으)로 설정하지 못했습니다. {reason}."


class InvalidSleepMinutes(ChatError):
    en = "SLEEP_AFTER_MINUTES is not valid ({given!r}): give the idle minutes as a number above 0."
    ko = "SLEEP_AFTER_MINUTES 값이 올바르지 않습니다({given!r}). 유휴 시간(분)을 0보다 큰 수로 적으세요."


QUOTA = Message(
    "the account's quota of instances for it is reached (ResourceLimitExceeded); ask AWS for more, "
    "or put another model to sleep",
    "계정의 인스턴스 할당량에 도달했습니다(ResourceLimitExceeded). AWS에 늘려 달라고 하거나 "
    "다른 모델을 재우세요",
)
BUSY = Message(
    "SageMaker is still changing it ({code}); try again once that is done",
    "SageMaker가 아직 변경 중입니다({code}). 끝난 뒤 다시 시도하세요",
)
REJECTED = Message("SageMaker refused it: {detail}", "SageMaker가 거부했습니다: {detail}")


def scale_target(given: str) -> tuple[str, str, int]:
    """``ENDPOINT/COMPONENT=COPIES`` read, or ``InvalidScaleTarget``."""
    named, _, copies = given.rpartition("=")
    target = component_named(named)
    if target is None or not re.fullmatch("[0-9]+", copies):  # isdigit() takes "²" too
        raise InvalidScaleTarget(given=given)
    return (*target, int(copies))


def scale(
    owner: str,
    endpoint: str,
    component: str,
    copies: int,
    environ: Mapping[str, str] = os.environ,
    region: str | None = None,
) -> None:
    """Ask SageMaker for ``copies`` copies of ``endpoint``'s ``component`` (0: put it to
    sleep), as ``owner``, who must be an admin.  Returns once asked: copies come after."""
    if not is_admin(owner, environ):
        raise NotAllowedToScale()
    try:
        client = aws.client("sagemaker", region)
        _described(client, endpoint, component)
        client.update_inference_component_runtime_config(
            InferenceComponentName=component, DesiredRuntimeConfig={"CopyCount": copies}
        )
    except (BotoCoreError, ClientError) as error:
        raise ScaleFailed(component=component, copies=copies, reason=_why(error)) from error


def _described(client: Any, endpoint: str, component: str) -> dict[str, Any]:
    """``component`` as DescribeInferenceComponent has it, checked to be ``endpoint``'s."""
    try:
        found = client.describe_inference_component(InferenceComponentName=component)
    except ClientError as error:
        if aws.code(error) in aws.VALIDATION and "not find" in str(error).lower():
            raise NoSuchComponent(endpoint=endpoint, component=component) from error
        raise
    if found.get("EndpointName") != endpoint:
        raise NoSuchComponent(endpoint=endpoint, component=component)
    return found


def _why(error: BaseException) -> Text:
    if aws.code(error) == "ResourceLimitExceeded":
        return QUOTA.format()
    if aws.code(error) in aws.VALIDATION:
        message = redacted(error.response.get("Error", {}).get("Message", ""))
        # "Cannot update in-progress ...": being created, updated or deleted.
        if "in-progress" in message.lower():
            return BUSY.format(code=aws.code(error))
        return REJECTED.format(detail=message.rstrip("."))
    return aws.reason(error, "sagemaker")


def longest_call_s() -> float:
    """The longest a model call may take: its wait for the model to wake, then its answer."""
    return wake.max_seconds() + float(os.environ.get("ANSWER_MAX_SECONDS", ANSWER_MAX_SECONDS))


def sleep_settings(environ: Mapping[str, str] = os.environ) -> tuple[list[tuple[str, str]], float]:
    """The components the operator lets the app put to sleep, and after how many idle minutes."""
    minutes = environ.get("SLEEP_AFTER_MINUTES", "")
    try:
        after = float(minutes) if minutes.strip() else SLEEP_AFTER_MINUTES
    except ValueError:
        after = -1.0
    if not after > 0:
        raise InvalidSleepMinutes(given=minutes)
    return components_listed("SLEEP_COMPONENTS", environ), after


def sleep_idle(store: Store, environ: Mapping[str, str] = os.environ, region: str | None = None) -> list[str]:
    """Put each listed component that has been idle ``SLEEP_AFTER_MINUTES`` to sleep
    (the module's docstring says when, and why several replicas may); returns the
    ``endpoint/component`` of each put to sleep by this call."""
    targets, minutes = sleep_settings(environ)
    if not targets:
        return []
    client = aws.client("sagemaker", region)
    now = time.time()
    since = now - minutes * 60
    recent = {(usage.endpoint, usage.component) for usage in store.usage(since, now + 60, None)}
    called = store.last_calls()
    calling_since = now - max(minutes * 60, longest_call_s()) - calls.MARK_EVERY_S
    slept = []
    for endpoint, component in targets:
        if (endpoint, component) in recent or called.get((endpoint, component), 0.0) > calling_since:
            continue
        try:
            if _settled_awake(_described(client, endpoint, component), since):
                client.update_inference_component_runtime_config(
                    InferenceComponentName=component, DesiredRuntimeConfig={"CopyCount": 0}
                )
                slept.append(f"{endpoint}/{component}")
        except (BotoCoreError, ClientError, ChatError) as error:  # another's change under way, say
            log.info("auto-sleep left %s/%s: %s", endpoint, component, error)
    return slept


def _settled_awake(component: Mapping[str, Any], since: float) -> bool:
    runtime = component.get("RuntimeConfig", {})
    copies = runtime.get("CurrentCopyCount", 0)
    changed = component.get("LastModifiedTime")
    changed_at = changed.timestamp() if isinstance(changed, datetime) else 0.0
    return (
        component.get("InferenceComponentStatus") == "InService"
        and copies > 0
        and runtime.get("DesiredCopyCount") == copies
        and changed_at <= since
    )


def start_auto_sleep(
    opened: Callable[[], Store], environ: Mapping[str, str] = os.environ
) -> threading.Thread | None:
    """A daemon thread checking the listed components every tenth of the idle time (at
    most a minute apart) for as long as the settings stay as they are, or None when
    they list none (and the store ``opened`` gives is not opened).  A check that fails
    (AWS out of reach, say) is logged, and the next one made."""
    settings = sleep_settings(environ)
    if not settings[0]:
        return None
    store = opened()

    def watch() -> None:
        while sleep_settings(environ) == settings:
            try:
                for name in sleep_idle(store, environ):
                    log.info("auto-sleep: %s put to sleep after %g idle minutes", name, settings[1])
            except Exception:  # the thread must outlive any one check's failure
                log.exception("auto-sleep: the check failed")
            time.sleep(min(60.0, settings[1] * 6))

    thread = threading.Thread(target=watch, name="auto-sleep", daemon=True)
    thread.start()
    return thread
