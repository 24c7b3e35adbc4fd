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

- for a component, a thread reads ``DescribeInferenceComponent`` (a control-plane
  read the listing's IAM policy already grants) on a schedule (``describe_interval``):
  every ``DESCRIBE_IDLE_S`` while no copy is asked for (nothing can serve until the
  team's alarm fires, a minute at least); once one is, often at first, then less
  often until the usual time to wake (when known), often again from it on.  Once a copy serves
  (``CurrentCopyCount`` >= 1) every waiting call is made again at once.  Where the
  operator lets it (``catalog.may_wake``: WAKE_COMPONENTS, or SLEEP_COMPONENTS, which
  the app puts to sleep itself), it also asks for one copy
  (``UpdateInferenceComponentRuntimeConfig``) when none is wanted (``DesiredCopyCount``
  0): once, again only if the copies asked for are seen back at 0, on a backoff when
  asking fails; otherwise the team's own autoscaling wakes it.  A component gone
  (not found, Failed, Deleting) is no longer waited for: every waiting call is made
  at once, and gets SageMaker's own answer;
- the runtime call itself is retried by one waiter at a time on a growing backoff
  (``RETRY_FIRST_S``, x``RETRY_GROWTH``, up to ``RETRY_MAX_S`` while the control plane
  is watched, ``RETRY_MAX_UNWATCHED_S`` when nothing else can tell: a serverless cold
  start, a Describe refused): the control plane may lag, or be out of reach.  A call
  refused though sent after a copy was seen serving (the runtime behind the control
  plane) starts the backoff again (the first time; it grows from there), and the
  copies are read again once its step is over.

A caller waits at most WAKE_MAX_SECONDS from its own first refusal (``WakeTimedOut``),
and ``stopped`` ends its wait at once.  The usual time to wake is the median of this
process's past wakes of the same model, else unknown (``Wake.usual_s`` None, which
is worded as "a few minutes").
"""

from __future__ import annotations

import enum
import logging
import os
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from chat_core import aws
from chat_core.errors import ColdStartTimedOut, InvalidWakeSetting, WakeRefused, WakeTimedOut
from chat_core.i18n import Message, Text, duration
from chat_core.models.catalog import may_wake

WAKE_MAX_SECONDS = 600.0  # WAKE_MAX_SECONDS: the longest a question waits for a model to wake
# Between two reads of a waking component's copies (``describe_interval``): at most 4 a
# second for 15 s, then 2: a copy is noticed within 0.5 s of serving however long the
# wake, for at most WAKE_MAX_SECONDS.
DESCRIBE_FAST_S = 0.25  # for the first DESCRIBE_FAST_FOR_S after a copy is asked for
DESCRIBE_FAST_FOR_S = 15.0
DESCRIBE_NEAR_S = 0.5  # then, from the usual time to wake on (or throughout, when unknown)
DESCRIBE_IDLE_S = 5.0  # the farthest: no copy asked for, or long before the usual time
ASK_FIRST_S = 1.0  # asking for a copy again, after a failure: 1, 2, 4 ... s, at most RETRY_MAX_S
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


# What a waiting answer shows (a chat, a compared column, a summary); ``elapsed`` since
# the caller's own wait began.
WAIT_WAKING = Message(
    "{model} is waking up: it had no copy running · {elapsed} · usually {usual}",
    "{model}이(가) 깨어나는 중입니다. 실행 중인 복사본이 없었습니다 · {elapsed} · 보통 {usual}",
)
WAIT_COLD_START = Message(
    "{model} is starting: a serverless endpoint sets up its resources on the first call after "
    "a time without calls (a cold start) · {elapsed} · usually {usual}",
    "{model}이(가) 시작하는 중입니다. 서버리스 엔드포인트는 한동안 호출이 없다가 처음 호출되면 "
    "자원을 준비합니다(콜드 스타트) · {elapsed} · 보통 {usual}",
)
USUAL = Message("about {duration}", "약 {duration}")  # the median of this process's past wakes
# Before any wake was measured here: scaling from zero starts an instance and loads the
# model; a serverless cold start sets up a container.
USUAL_WAKE = Message("a few minutes", "몇 분")
USUAL_COLD_START = Message("seconds to a minute", "몇 초에서 1분")


def max_seconds() -> float:
    given = os.environ.get("WAKE_MAX_SECONDS", "")
    try:
        seconds = float(given) if given.strip() else WAKE_MAX_SECONDS
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise InvalidWakeSetting(name="WAKE_MAX_SECONDS", value=given)
    return seconds


def describe_interval(asked_s: float | None, usual_s: float | None) -> float:
    """Seconds to the next read of a component's copies, ``asked_s`` after a copy was
    first seen asked for (None: none is), for a model that usually wakes in ``usual_s``."""
    if asked_s is None:
        return DESCRIBE_IDLE_S
    if asked_s < DESCRIBE_FAST_FOR_S:
        return DESCRIBE_FAST_S
    if usual_s is not None and asked_s < usual_s:  # no copy expected yet: fewer reads
        return min(max((usual_s - asked_s) / 10, DESCRIBE_NEAR_S), DESCRIBE_IDLE_S)
    return DESCRIBE_NEAR_S


def retry_delays() -> Iterator[float]:
    """The runtime call's backoff while the control plane is watched: seconds between retries."""
    delay = RETRY_FIRST_S
    while True:
        yield delay
        delay = min(delay * RETRY_GROWTH, RETRY_MAX_S)


def may_ask_for_copy(target: Target) -> bool:
    """Whether the operator lets the app ask for a copy of ``target`` (``catalog.may_wake``)."""
    return target.component is not None and may_wake(target.endpoint, target.component)


class Wake:
    """One model waking, shared by the questions waiting on it."""

    def __init__(self, target: Target, sleep: Sleep, usual_s: float | None) -> None:
        self.target = target
        self.sleep = sleep
        self.usual_s = usual_s  # the median of past wakes of the model; None before the first
        self.started = time.monotonic()
        self.waiters = 0
        self.refused: str | None = None  # SageMaker's code refusing the copy the app asked for
        # Counts the times a copy was seen serving (or a call answered): a call sent before
        # the latest of them and refused says nothing about the copy seen.
        self.generation = 0
        self._changed = threading.Condition()
        self._serving = False  # a copy serves: every waiting call is made at once
        self._lagged = False  # a call was refused though sent after a copy was seen serving
        self._watched = target.component is not None
        self._delay = RETRY_FIRST_S
        self._next_try = self.started + RETRY_FIRST_S
        self._over = threading.Event()  # awake, or nobody waits any more

    def status(self, model: str, elapsed_s: float) -> Text:
        """What a caller waiting ``elapsed_s`` on this wake is shown."""
        cold = self.sleep is Sleep.COLD_START
        if self.usual_s is not None:
            usual = USUAL.format(duration=duration(self.usual_s))
        else:
            usual = (USUAL_COLD_START if cold else USUAL_WAKE).format()
        waiting = WAIT_COLD_START if cold else WAIT_WAKING
        return waiting.format(model=model, elapsed=duration(elapsed_s), usual=usual)

    def turn(self, deadline: float, bound_s: float, stopped: Callable[[], bool]) -> bool:
        """Block until the caller should call again: at once when a copy serves, else at
        the backoff's next step, which one caller takes.  False when ``stopped``;
        raises ``WakeTimedOut`` at ``deadline`` (``bound_s`` after the caller's wait
        began), ``WakeRefused`` once asking failed."""
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
                    timed_out = ColdStartTimedOut if self.sleep is Sleep.COLD_START else WakeTimedOut
                    raise timed_out(model=self.target.name, wait=duration(bound_s))
                if now >= self._next_try:
                    cap = RETRY_MAX_S if self._watched else RETRY_MAX_UNWATCHED_S
                    self._delay = min(self._delay * RETRY_GROWTH, cap)
                    self._next_try = now + self._delay
                    return True
                self._changed.wait(min(self._next_try, deadline) - now)

    def still_refused(self, sent: int) -> None:
        """A call sent in generation ``sent`` was refused.  Sent after the copy now seen
        serving (the runtime behind the control plane): the backoff starts again (the
        first time; it grows from there) and the reads go on once its step is over;
        sent before it, it is made again at once."""
        with self._changed:
            if self._serving and sent == self.generation:
                self._serving = False
                self._delay = self._delay if self._lagged else RETRY_FIRST_S
                self._lagged = True
                self._next_try = time.monotonic() + self._delay
                self._changed.notify_all()

    def poke(self, *, serving: bool = False) -> None:
        """Have every waiter look again (a stop, a refusal); ``serving``: a call was
        answered, or a copy was seen serving, so every waiting call is made at once."""
        with self._changed:
            if serving and not self._serving:
                self._serving = True
                self.generation += 1
            self._changed.notify_all()

    def watch(self) -> None:
        """Read the component's copies until nobody waits (its own thread), on the
        schedule ``describe_interval`` gives, resting while a copy is seen serving."""
        try:
            self._watch(aws.client("sagemaker", self.target.region))
        except Exception:  # a watcher that fails leaves the backoff to find the capacity
            log.exception("watching %s failed", self.target.name)
        with self._changed:
            self._watched = False
            self._changed.notify_all()

    def _watch(self, sagemaker: Any) -> None:
        asked_at: float | None = None  # when a copy was first seen asked for
        ask_at, ask_delay = 0.0, ASK_FIRST_S  # when the app may ask for a copy (again)
        failed_s = 0.0  # the backoff of reads that failed
        while not self._over.is_set():
            try:
                described = sagemaker.describe_inference_component(
                    InferenceComponentName=self.target.component
                )
            except (ClientError, BotoCoreError) as error:
                if _gone(error):
                    return self._gone()
                if aws.failure(error) is aws.Failure.REFUSED:
                    log.warning("cannot watch %s: %s", self.target.name, aws.code(error))
                    return
                # Throttled, or out of reach: read again on a backoff.
                failed_s = min(max(failed_s * 2, DESCRIBE_FAST_S), DESCRIBE_IDLE_S)
                self._over.wait(failed_s)
                continue
            failed_s = 0.0
            if described.get("InferenceComponentStatus") in ("Failed", "Deleting"):
                return self._gone()
            copies = described.get("RuntimeConfig", {})
            if copies.get("CurrentCopyCount", 0) >= 1:
                self.poke(serving=True)
                self._rest()
                continue
            now = time.monotonic()
            may_ask = may_ask_for_copy(self.target)
            if copies.get("DesiredCopyCount", 0) >= 1:
                asked_at = asked_at or now
            else:
                asked_at = None
                if may_ask and now >= ask_at:
                    asked = self._ask_for_copy(sagemaker)
                    ask_at, ask_delay = now + ask_delay, min(ask_delay * 2, RETRY_MAX_S)
                    asked_at = now if asked else None
            interval = describe_interval(None if asked_at is None else now - asked_at, self.usual_s)
            if asked_at is None and may_ask:  # asking failed: read again when it may ask again
                interval = min(interval, max(ask_at - now, DESCRIBE_FAST_S))
            self._over.wait(interval)

    def _rest(self) -> None:
        """Nothing to read while a copy is seen serving.  A call refused all the same
        (``still_refused``) has the next read wait for the backoff's step too: read at
        once, the copy is seen again, every call is made again and refused again, in a
        loop as fast as the two calls go for as long as the runtime lags."""
        with self._changed:
            while self._serving and not self._over.is_set():
                self._changed.wait()
            resume_at = self._next_try
        self._over.wait(max(resume_at - time.monotonic(), 0.0))

    def _gone(self) -> None:
        """The component was deleted, or failed: no copy will come.  Every waiting call is
        made at once, for SageMaker's own answer; one refused again waits on the backoff."""
        with self._changed:
            self._watched = False
        self.poke(serving=True)

    def _ask_for_copy(self, sagemaker: Any) -> bool:
        """Ask for one copy: whether SageMaker took the request."""
        try:
            sagemaker.update_inference_component_runtime_config(
                InferenceComponentName=self.target.component, DesiredRuntimeConfig={"CopyCount": 1}
            )
        except ClientError as error:
            code = aws.code(error)
            # Refused for good (no quota of instances, no permission); anything else (a
            # component already updating, throttling) is asked again after a backoff.
            if code == "ResourceLimitExceeded" or aws.failure(error) is aws.Failure.REFUSED:
                with self._changed:
                    self.refused = code
                    self._changed.notify_all()
            return False
        return True

    def end(self) -> None:
        with self._changed:
            self._over.set()
            self._changed.notify_all()


def _gone(error: BaseException) -> bool:
    """Whether DescribeInferenceComponent's error says the component does not exist."""
    if not isinstance(error, ClientError) or aws.code(error) not in aws.VALIDATION:
        return False
    return "Could not find inference component" in error.response.get("Error", {}).get("Message", "")


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
    waiting: Callable[[Wake, bool], None],
) -> T:
    """``invoke()`` (a runtime call), waiting while ``target`` sleeps.  ``waiting`` is
    told of the wake with True when the wait begins and False when it ends; once
    ``stopped``, the wait ends at once with the error that began it."""
    wake: Wake | None = None
    deadline = bound_s = 0.0
    awake = False
    sent = 0
    try:
        while True:
            try:
                result = invoke()
            except ClientError as error:
                sleep = asleep(error)
                if sleep is None:
                    raise
                if wake is None:
                    bound_s = max_seconds()
                    may_ask_for_copy(target)  # a bad setting is this question's error, not the watcher's
                    wake = WAKES.join(target, sleep)
                    deadline = time.monotonic() + bound_s
                    waiting(wake, True)
                else:
                    wake.still_refused(sent)
                if not wake.turn(deadline, bound_s, stopped):
                    raise
                sent = wake.generation
                continue
            if wake is not None:
                awake = True
                wake.poke(serving=True)
            return result
    finally:
        if wake is not None:
            WAKES.leave(wake, awake=awake)
            waiting(wake, False)
