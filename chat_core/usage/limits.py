"""Per-user limits: questions a minute, tokens a day and a month, set by the operator.

Off by default.  ``CHAT_LIMITS`` names a TOML file::

    [default]                      # everyone, admins (CHAT_ADMINS) excepted
    questions_per_minute = 10
    tokens_per_day = 200_000
    tokens_per_month = 2_000_000

    [groups.research]              # its members get the most generous of their groups'
    members = ["https://issuer#alice", "https://issuer#bob"]
    tokens_per_day = 1_000_000

    [users."https://issuer#carol"]  # one user (an admin too): before any group or default
    tokens_per_month = "off"

A limit is a whole number or "off"; 0 turns the models off for whoever it applies to.
Anything else in the file (a table or a setting not named here, members that are not a
list of ids) makes it invalid: every question is refused, telling the user to ask the
operator, and the log says what is wrong (which may name other users).

Windows are calendar ones, in UTC: the minute, the day, the month.  Calendar windows
rather than sliding ones, so that each is one counter in the store, admitted against in
one atomic step, and its reset is one time to tell.

Tokens are input plus output, as the usage records count them.  Admission checks and
reserves in one step of the store (``Store.reserve``): a question's input tokens plus its
``max_new_tokens``, admitted only while what the window holds plus the input stays under
the limit; the answer then settles the reservation to what it used (``Admitted.settle``),
however it ends.  So tabs racing for the last tokens together overrun a limit by at most
one answer's ``max_new_tokens``.  A reservation the app never settles (its process died
mid-answer) expires; as no usage record was saved for it either, it is given back.

Each model asked counts as a question (a comparison of three models is three): the limit
is on the load a user puts on the endpoints.  A summary is one question, and each of its
parts is admitted for its tokens.  Indexing asks no generating model: it is refused only
once a token limit is reached, and uses none.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chat_core.access import is_admin
from chat_core.conversations.store import Charge, Hold, Store, next_key, now
from chat_core.errors import ChatError
from chat_core.i18n import Message, Text

LIMITS_ENV = "CHAT_LIMITS"
NAMES = ("questions_per_minute", "tokens_per_day", "tokens_per_month")
# How long a reservation lives unsettled past its call's deadline (an answer's
# ANSWER_MAX_SECONDS; a summary part has none, and takes seconds): only a process that
# died leaves one to expire.
HOLD_S = 2 * 3600.0
log = logging.getLogger(__name__)

IN_DAYS = Message("in {days} d {hours} h, at {at} UTC", "{days}일 {hours}시간 뒤, UTC {at}에")
IN_HOURS = Message("in {hours} h {minutes} min, at {at} UTC", "{hours}시간 {minutes}분 뒤, UTC {at}에")
IN_MINUTES = Message("in {minutes} min, at {at} UTC", "{minutes}분 뒤, UTC {at}에")
IN_SECONDS = Message("in {seconds} s", "{seconds}초 뒤")


class LimitsMisconfigured(ChatError):
    """What is wrong is logged, not said: it may name other users and their limits."""

    en = (
        "The limits file (CHAT_LIMITS) is not valid, so no question can be admitted. "
        "Ask the operator to fix it: the app's log says what is wrong."
    )
    ko = (
        "한도 파일(CHAT_LIMITS)이 올바르지 않아 질문을 받을 수 없습니다. "
        "운영자에게 고쳐 달라고 하세요. 무엇이 잘못되었는지는 앱 로그에 있습니다."
    )


class LimitReached(ChatError):
    """A question refused by one of the user's limits: each limit is a subclass."""


class QuestionsPerMinuteReached(LimitReached):
    en = "You have asked {limit:,} questions this minute, the most you may a minute. Ask again {when}."
    ko = "이번 1분 동안 질문 {limit:,}개를 했습니다. 1분에 할 수 있는 최대입니다. {when} 다시 물어보세요."


class TokensPerDayReached(LimitReached):
    en = (
        "You have used {used:,} of your {limit:,} tokens for today (UTC), and this needs about "
        "{needed:,}. Your tokens for the day reset {when}."
    )
    ko = (
        "오늘(UTC) 토큰 {limit:,}개 중 {used:,}개를 썼고, 이 요청에는 약 {needed:,}개가 필요합니다. "
        "하루 토큰은 {when} 다시 채워집니다."
    )


class TokensPerMonthReached(LimitReached):
    en = (
        "You have used {used:,} of your {limit:,} tokens for this month (UTC), and this needs about "
        "{needed:,}. Your tokens for the month reset {when}."
    )
    ko = (
        "이번 달(UTC) 토큰 {limit:,}개 중 {used:,}개를 썼고, 이 요청에는 약 {needed:,}개가 필요합니다. "
        "한 달 토큰은 {when} 다시 채워집니다."
    )


class DayTokensUsedUp(TokensPerDayReached):
    """The day's tokens all used: said before what needs no tokens of its own (indexing)."""

    en = "You have used all {limit:,} of your tokens for today (UTC). Your tokens for the day reset {when}."
    ko = "오늘(UTC) 토큰 {limit:,}개를 모두 썼습니다. 하루 토큰은 {when} 다시 채워집니다."


class MonthTokensUsedUp(TokensPerMonthReached):
    en = (
        "You have used all {limit:,} of your tokens for this month (UTC). "
        "Your tokens for the month reset {when}."
    )
    ko = "이번 달(UTC) 토큰 {limit:,}개를 모두 썼습니다. 한 달 토큰은 {when} 다시 채워집니다."


class TurnedOff(LimitReached):
    """A limit of 0: no window's end will let the user in."""

    en = "The operator has turned off your use of the models (a limit of 0). Ask them if you need it."
    ko = "운영자가 모델 사용을 막아 두었습니다(한도 0). 필요하면 운영자에게 요청하세요."


REFUSALS: dict[str, type[LimitReached]] = {
    "questions_per_minute": QuestionsPerMinuteReached,
    "tokens_per_day": TokensPerDayReached,
    "tokens_per_month": TokensPerMonthReached,
}
USED_UP: dict[str, type[LimitReached]] = {
    "tokens_per_day": DayTokensUsedUp,
    "tokens_per_month": MonthTokensUsedUp,
}

# The file's schema, checked with pydantic (a dependency of LangChain's already) rather
# than by hand: strict, so that ``true`` is no limit and a string of ids no members.
Limit = Annotated[int, Field(ge=0)] | Literal["off"]


class _Limits(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    questions_per_minute: Limit | None = None  # None: not set here
    tokens_per_day: Limit | None = None
    tokens_per_month: Limit | None = None


class _Group(_Limits):
    members: list[str]


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    default: _Limits = _Limits()
    groups: dict[str, _Group] = {}
    users: dict[str, _Limits] = {}


@dataclass(frozen=True)
class Window:
    """One limit's current calendar window and its counter in the store."""

    name: str  # one of NAMES
    limit: int
    counter: str  # "questions@2026-12-05T03:40", "tokens@2026-12-05", "tokens@2026-12"
    resets: float  # the window's end, seconds since the epoch


@dataclass(frozen=True)
class Standing:
    """A limit as the Usage page shows it."""

    name: str
    limit: int
    used: int
    resets: float

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)


def limits_for(owner: str, environ: Mapping[str, str] = os.environ) -> dict[str, int]:
    """``owner``'s limits by name (those off are absent): their own, else the most
    generous of their groups', else the default's unless they are an admin."""
    path = environ.get(LIMITS_ENV)
    if not path:
        return {}
    settings = _settings(Path(path), _mtime(Path(path)))
    own = settings.users.get(owner)
    groups = [group for group in settings.groups.values() if owner in group.members]
    found: dict[str, int] = {}
    for name in NAMES:
        value = getattr(own, name, None)  # None: not set
        set_by = [getattr(group, name) for group in groups if getattr(group, name) is not None]
        if value is None and set_by:
            value = "off" if "off" in set_by else max(set_by)
        elif value is None and not is_admin(owner, environ):
            value = getattr(settings.default, name)
        if value not in (None, "off"):
            found[name] = value
    return found


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError as error:
        log.warning("the limits file %s (CHAT_LIMITS) cannot be read: %s", path, error)
        raise LimitsMisconfigured from error


@functools.lru_cache(maxsize=4)
def _settings(path: Path, mtime: int) -> _File:
    """The file, read again whenever it changes (``mtime``), every value checked."""
    try:
        return _File.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, ValidationError) as error:
        log.warning("the limits file %s (CHAT_LIMITS) is not valid: %s", path, error)
        raise LimitsMisconfigured from error


def windows(limits: Mapping[str, int], at: float) -> list[Window]:
    """The current window of each of ``limits``."""
    moment = datetime.fromtimestamp(at, UTC)
    minute = moment.replace(second=0, microsecond=0)
    day = minute.replace(hour=0, minute=0)
    month = day.replace(day=1)
    next_month = (month + timedelta(days=32)).replace(day=1)
    spans = {
        "questions_per_minute": (f"questions@{minute:%Y-%m-%dT%H:%M}", minute + timedelta(minutes=1)),
        "tokens_per_day": (f"tokens@{day:%Y-%m-%d}", day + timedelta(days=1)),
        "tokens_per_month": (f"tokens@{month:%Y-%m}", next_month),
    }
    return [
        Window(name, limits[name], spans[name][0], spans[name][1].timestamp())
        for name in NAMES
        if name in limits
    ]


def when(resets: float, at: float) -> Text:
    """When a window ends, as a person reads it: "in 3 h 12 min, at 00:00 UTC".  Each
    figure is rounded up, so that the reset is never sooner than said."""
    left = max(1, math.ceil(resets - at))
    stamp = datetime.fromtimestamp(resets, UTC)
    clock = f"{stamp:%H:%M}" if left < 86400 else f"{stamp:%Y-%m-%d %H:%M}"
    if left < 60:
        return IN_SECONDS.format(seconds=left)
    minutes = -(-left // 60)
    if minutes < 60:
        return IN_MINUTES.format(minutes=minutes, at=clock)
    if minutes < 24 * 60:
        return IN_HOURS.format(hours=minutes // 60, minutes=minutes % 60, at=clock)
    hours = -(-minutes // 60)
    return IN_DAYS.format(days=hours // 24, hours=hours % 24, at=clock)


Settle = Callable[[int], None]


def _nothing(tokens: int) -> None:
    """What settles a call admitted under no limit."""


class Admitted:
    """A model call admitted under the user's limits: its reservation, to settle once
    to the tokens the call used (any later ``settle`` does nothing)."""

    def __init__(self, store: Store, owner: str, hold: Hold) -> None:
        self._store, self._owner = store, owner
        self._hold: Hold | None = hold

    def settle(self, tokens: int) -> None:
        """A store that fails here is logged for the operator, never the user's loss: the
        reservation then expires, and the answer is kept all the same."""
        hold, self._hold = self._hold, None
        if hold is None:
            return
        used = {charge.counter: tokens for charge in hold.charges if charge.counter.startswith("tokens@")}
        try:
            self._store.settle(self._owner, hold, used)
        except ChatError as error:
            log.warning("reservation %s not settled: %s", hold.key, error)


class Allowance:
    """One user's limits, counted in the store ``open()`` gives (opened only when the
    user has limits)."""

    def __init__(self, open_store: Callable[[], Store | None], owner: str) -> None:
        self._open = open_store
        self.owner = owner

    def admit(
        self, input_tokens: int, max_new_tokens: int, question: bool = True, seconds: float = 0.0
    ) -> Settle:
        """Reserve a model call's tokens (and, for a ``question``, one question), or raise
        the ``LimitReached`` of the first limit it would pass; returns what settles the
        reservation once the call ends (``Admitted.settle``).  ``seconds``: the longest
        the call may take (its deadline), which the reservation outlives by ``HOLD_S``."""
        limits = limits_for(self.owner)
        if not limits or (store := self._open()) is None:
            return _nothing
        at = now()
        found = windows(limits, at)
        if not question:
            found = [window for window in found if window.name != "questions_per_minute"]
        lives = seconds + HOLD_S
        charges = tuple(
            Charge(w.counter, 1, w.limit, w.resets + lives)
            if w.name == "questions_per_minute"
            else Charge(w.counter, input_tokens + max_new_tokens, w.limit - input_tokens, w.resets + lives)
            for w in found
        )
        if not charges:
            return _nothing
        hold = Hold(next_key(), charges, at + lives)
        if (refused := store.reserve(self.owner, hold)) is not None:
            window = next(window for window in found if window.counter == refused)
            raise self._refusal(store, window, input_tokens + max_new_tokens, at)
        return Admitted(store, self.owner, hold).settle

    def check(self) -> None:
        """Raise ``LimitReached`` once a token limit is reached (before indexing, which
        counts no tokens)."""
        for standing in self.standings():
            if standing.name != "questions_per_minute" and not standing.remaining:
                if not standing.limit:
                    raise TurnedOff
                raise USED_UP[standing.name](limit=standing.limit, when=when(standing.resets, now()))

    def standings(self) -> list[Standing]:
        """Each of the user's limits with what its window holds (reservations included)."""
        limits = limits_for(self.owner)
        if not limits or (store := self._open()) is None:
            return []
        found = windows(limits, now())
        held = store.counters(self.owner, [window.counter for window in found])
        return [Standing(w.name, w.limit, held.get(w.counter, 0), w.resets) for w in found]

    def _refusal(self, store: Store, window: Window, needed: int, at: float) -> LimitReached:
        refusal = REFUSALS[window.name]
        if not window.limit:
            return TurnedOff()
        if window.name == "questions_per_minute":
            return refusal(limit=window.limit, when=when(window.resets, at))
        used = store.counters(self.owner, [window.counter]).get(window.counter, 0)
        return refusal(used=used, limit=window.limit, needed=needed, when=when(window.resets, at))
