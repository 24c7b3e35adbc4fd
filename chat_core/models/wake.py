"""Waking a model that sleeps: a question to an inference component scaled to zero
copies, or to a serverless endpoint in a cold start, waits for capacity instead of
failing.

SageMaker refuses such a call at once, with an error of its own (``asleep``): an
inference component with no copies answers HTTP 400 ``ValidationError`` "Inference
Component has no capacity to process this request..." (AWS ML blog, "scale down to
zero", Dec 2024); a serverless endpoint still provisioning answers HTTP 429
``ModelNotReadyException`` (botocore's sagemaker-runtime model).  Only those are
waited on; any other error is the caller's, at once.

One ``Wake`` per (region, endpoint, component) in the process, shared by every
question waiting on it, so that many questions do not multiply calls:

- for a component, a thread reads ``DescribeInferenceComponent`` every
  ``DESCRIBE_S`` (a control-plane read the listing's IAM policy already grants):
  once a copy serves (``CurrentCopyCount`` >= 1) every waiting call is made again at
  once, so the app notices a wake within about ``DESCRIBE_S``.  Where the operator
  lists the component in WAKE_COMPONENTS, it also asks for one copy
  (``UpdateInferenceComponentRuntimeConfig``) when none is wanted (``DesiredCopyCount``
  0); otherwise the team's own autoscaling wakes it;
- the runtime call itself is retried by one waiter at a time on a growing backoff
  (``RETRY_FIRST_S``, x``RETRY_GROWTH``, up to ``RETRY_MAX_S`` while the control plane
  is watched, ``RETRY_MAX_UNWATCHED_S`` when nothing else can tell: a serverless cold
  start, a Describe refused): the control plane may lag, or be out of reach.

A caller waits at most WAKE_MAX_SECONDS (``WakeTimedOut``), and ``stopped`` ends its
wait at once.  The usual time to wake is the median of this process's past wakes of
the same model, else unknown (``Wake.usual_s`` None, which the page words as "a few
minutes").
"""

from __future__ import annotations

import enum
import logging
import os
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from chat_core import aws
from chat_core.errors import WakeRefused, WakeTimedOut
from chat_core.i18n import duration

WAKE_MAX_SECONDS = 600.0  # WAKE_MAX_SECONDS: the longest a question waits for a model to wake
DESCRIBE_S = 0.25  # between two reads of a waking component's copies
# The runtime call's own retries: 0.5, 0.75, 1.1, ... s apart, then every 30 s: about 28
# calls in a 10-minute wait, whatever the number of questions waiting.
RETRY_FIRST_S, RETRY_GROWTH, RETRY_MAX_S = 0.5, 1.5, 30.0
# When no Describe can tell that capacity came: about 123 calls in 10 minutes.
RETRY_MAX_UNWATCHED_S = 5.0
PAST_WAKES = 20  # how many of a model's past wakes its usual time is the median of
NO_CAPACITY = "Inference Component has no capacity to process this request"
log = logging.getLogger(__name__)
T = TypeVar("T")


class Sleep(enum.Enum):
    """Why a model cannot answer yet."""

    NO_COPIES = "no copies"  # an inference component scaled to zero
    COLD_START = "cold start"  # a serverless endpoint provisioning its resources


def asleep(error: BaseException) -> Sleep | None:
    """What SageMaker's error says about the model's capacity; None for any other error."""
    if not isinstance(error, ClientError):
        return None
    code = aws.code(error)
    message = error.response.get("Error", {}).get("Message", "")
    if code in aws.VALIDATION and message.startswith(NO_CAPACITY):
        return Sleep.NO_COPIES
    if asleep_code(code):
        return Sleep.COLD_START
    return None


def asleep_code(code: str) -> bool:
    """Whether AWS's error code alone says the model is not ready yet (a cold start)."""
    return code == "ModelNotReadyException"


@dataclass(frozen=True)
class Target:
    """What a runtime call is addressed to."""

    region: str | None
    endpoint: str
    component: str | None

    @property
    def name(self) -> str:
        return f"{self.endpoint}/{self.component}" if self.component else self.endpoint


def max_seconds() -> float:
    return float(os.environ.get("WAKE_MAX_SECONDS", WAKE_MAX_SECONDS))


def may_ask_for_copy(target: Target) -> bool:
    """Whether the operator lets the app ask for a copy of ``target`` (WAKE_COMPONENTS,
    "endpoint/component" separated by commas)."""
    listed = {name.strip() for name in os.environ.get("WAKE_COMPONENTS", "").split(",")}
    return target.component is not None and target.name in listed


class Wake:
    """One model waking, shared by the questions waiting on it."""

    def __init__(self, target: Target, sleep: Sleep, usual_s: float | None) -> None:
        self.target = target
        self.sleep = sleep
        self.usual_s = usual_s  # the median of past wakes of the model; None before the first
        self.started = time.monotonic()
        self.waiters = 0
        self.refused: str | None = None  # SageMaker's code refusing the copy the app asked for
        self._changed = threading.Condition()
        self._serving = False  # a copy serves: every waiting call is made at once
        self._watched = target.component is not None
        self._delay = RETRY_FIRST_S
        self._next_try = self.started + RETRY_FIRST_S
        self._over = threading.Event()  # awake, or nobody waits any more

    def turn(self, deadline: float, stopped: Callable[[], bool]) -> bool:
        """Block until the caller should call again: at once when a copy serves, else at
        the backoff's next step, which one caller takes.  False when ``stopped``;
        raises ``WakeTimedOut`` at ``deadline``, ``WakeRefused`` once asking failed."""
        with self._changed:
            while True:
                now = time.monotonic()
                if stopped():
                    return False
                if self.refused is not None:
                    raise WakeRefused(model=self.target.name, code=self.refused)
                if self._serving:
                    return True
                if now >= deadline:
                    raise WakeTimedOut(model=self.target.name, wait=duration(max_seconds()))
                if now >= self._next_try:
                    cap = RETRY_MAX_S if self._watched else RETRY_MAX_UNWATCHED_S
                    self._delay = min(self._delay * RETRY_GROWTH, cap)
                    self._next_try = now + self._delay
                    return True
                self._changed.wait(min(self._next_try, deadline) - now)

    def still_refused(self) -> None:
        """A call made when a copy was seen serving was refused all the same (the control
        plane ahead of the runtime): back to the backoff, which no longer counts on it."""
        with self._changed:
            if self._serving:
                self._serving, self._watched = False, False
                self._next_try = time.monotonic() + self._delay

    def poke(self, *, serving: bool = False) -> None:
        """Have every waiter look again (a stop, a refusal); ``serving``: a call was
        answered, or a copy was seen serving, so every waiting call is made at once."""
        with self._changed:
            self._serving = self._serving or serving
            self._changed.notify_all()

    def watch(self) -> None:
        """Read the component's copies until one serves or nobody waits (its own thread)."""
        try:
            sagemaker = aws.client("sagemaker", self.target.region)
            interval = DESCRIBE_S
            while not self._over.is_set():
                try:
                    described = sagemaker.describe_inference_component(
                        InferenceComponentName=self.target.component
                    )
                except (ClientError, BotoCoreError) as error:
                    if aws.failure(error) is aws.Failure.REFUSED:
                        log.warning("cannot watch %s: %s", self.target.name, aws.code(error))
                        break
                    interval = min(interval * 2, RETRY_MAX_UNWATCHED_S)  # throttled, or out of reach
                else:
                    interval = DESCRIBE_S
                    copies = described.get("RuntimeConfig", {})
                    if copies.get("CurrentCopyCount", 0) >= 1:
                        self.poke(serving=True)
                        return
                    if copies.get("DesiredCopyCount", 0) == 0 and may_ask_for_copy(self.target):
                        self._ask_for_copy(sagemaker)
                self._over.wait(interval)
        except Exception:  # a watcher that fails leaves the backoff to find the capacity
            log.exception("watching %s failed", self.target.name)
        with self._changed:
            self._watched = False
            self._changed.notify_all()

    def _ask_for_copy(self, sagemaker: Any) -> None:
        try:
            sagemaker.update_inference_component_runtime_config(
                InferenceComponentName=self.target.component, DesiredRuntimeConfig={"CopyCount": 1}
            )
        except ClientError as error:
            code = aws.code(error)
            # Refused for good (no quota of instances, no permission); anything else (a
            # component already updating, throttling) is asked again at the next read.
            if code == "ResourceLimitExceeded" or aws.failure(error) is aws.Failure.REFUSED:
                with self._changed:
                    self.refused = code
                    self._changed.notify_all()

    def end(self) -> None:
        self._over.set()


class Wakes:
    """The models waking in this process, and how long their past wakes took."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waking: dict[Target, Wake] = {}
        self._past: dict[Target, deque[float]] = {}

    def join(self, target: Target, sleep: Sleep) -> Wake:
        with self._lock:
            wake = self._waking.get(target)
            if wake is None:
                past = self._past.get(target)
                wake = Wake(target, sleep, statistics.median(past) if past else None)
                self._waking[target] = wake
                if target.component is not None:
                    threading.Thread(target=wake.watch, name=f"wake {target.name}", daemon=True).start()
            wake.waiters += 1
            return wake

    def leave(self, wake: Wake, *, awake: bool) -> None:
        """A caller is done waiting: ``awake``, its call answered (the wake's time is
        recorded, once); the wake ends with its last waiter."""
        with self._lock:
            wake.waiters -= 1
            current = self._waking.get(wake.target) is wake
            if awake and current:
                took = time.monotonic() - wake.started
                self._past.setdefault(wake.target, deque(maxlen=PAST_WAKES)).append(took)
            if current and (awake or wake.waiters == 0):
                del self._waking[wake.target]
                wake.end()


WAKES = Wakes()


def call_awake(
    invoke: Callable[[], T],
    target: Target,
    *,
    stopped: Callable[[], bool],
    waiting: Callable[[Wake | None], None],
) -> T:
    """``invoke()`` (a runtime call), waiting while ``target`` sleeps.  ``waiting`` is
    told of the wake when the wait begins and with None when it ends; once ``stopped``,
    the wait ends at once with the error that began it."""
    wake: Wake | None = None
    deadline = 0.0
    awake = False
    try:
        while True:
            try:
                result = invoke()
            except ClientError as error:
                sleep = asleep(error)
                if sleep is None:
                    raise
                if wake is None:
                    wake = WAKES.join(target, sleep)
                    deadline = time.monotonic() + max_seconds()
                    waiting(wake)
                else:
                    wake.still_refused()
                if not wake.turn(deadline, stopped):
                    raise
                continue
            if wake is not None:
                awake = True
                wake.poke(serving=True)
            return result
    finally:
        if wake is not None:
            WAKES.leave(wake, awake=awake)
            waiting(None)
