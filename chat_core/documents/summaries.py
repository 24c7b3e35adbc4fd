"""Summaries of documents of any length.

A text that fits the model's window is summarized in one call.  A longer one is
map-reduced: cut into chunks sized to the window (a little overlap between
neighbours, so no sentence is lost at a cut), each chunk summarized, then the
summaries combined, again in chunks if they still do not fit, until one
remains.  The whole document is covered.  Remote endpoints take the chunk calls
concurrently; the bundled model, one at a time, each call its own turn, so another
user's question waits for one part at most (``local.model.Turns``).

``Summary.start`` runs one in a thread of its own, which the page polls for its
progress (the calls done of those it will take, and the time left) and can stop:
the call under way ends at its next token (a remote stream is shut at once), no
other is started, and the parts done are kept.  A ``Summary`` also counts what
usage records: its model calls, tokens in and out, and seconds.

The prompt is Korean when the document is mostly Hangul, else English, as the
original app chose.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

import chat_core.local.runtime  # noqa: F401  (registers the bundled models with the model path)
from chat_core.errors import ChatError, PromptTooLong, explain
from chat_core.i18n import Message, Text, duration
from chat_core.local import model as local_model
from chat_core.models.budget import count_tokens
from chat_core.models.catalog import GenerationParams, ModelSpec
from chat_core.models.endpoint import ChatClient, endpoint_llm
from chat_core.models.prompts import neutralize
from chat_core.usage.records import output_tokens

DETAILS = ("short", "detailed")
SYSTEM = "You summarize documents faithfully, without adding facts."
INSTRUCTIONS = {
    ("en", "short"): "Summarize the following text in three to five sentences.",
    ("en", "detailed"): "Summarize the following text in detail: its main points as a list, "
    "then a conclusion.",
    ("ko", "short"): "다음 글을 세 문장에서 다섯 문장으로 요약해 주세요.",
    ("ko", "detailed"): "다음 글을 자세히 요약해 주세요. 주요 내용을 목록으로 정리하고 결론을 덧붙여 주세요.",
}
COMBINE = {
    "en": "These are summaries of consecutive parts of one document. Combine them into one summary.",
    "ko": "다음은 한 문서의 연속된 부분들의 요약입니다. 하나의 요약으로 합쳐 주세요.",
}
OVERLAP = 0.05  # of a chunk's tokens, repeated at the start of the next one
MAX_CALLS = 300  # per summary, SUMMARY_MAX_CALLS: GeoTopo (117 pages) takes 69 on Falcon's window
# How long ``Summary.stop`` waits for the summary's thread: a remote stream is shut at
# once and the bundled model stops at its next token, but not while it reads a prompt:
# the page shows the parts done all the same, and the call ends at its first token.
STOP_WAIT_S = 0.5
# Admits a model call under the user's limits (input tokens, max new tokens, whether it
# counts as a question), returning what settles it to the tokens used.
Admit = Callable[[int, int, bool], Callable[[int], None]]
CUTTING = Message("Cutting the document into parts…", "문서를 부분으로 나누는 중…")
PART = Message("Part {part} of {parts}…", "{parts}개 부분 중 {part}번째…")
PART_WITH_TIME_LEFT = Message(
    "Part {part} of {parts}, about {left} left", "{parts}개 부분 중 {part}번째, 약 {left} 남음"
)


class SummaryTooCostly(ChatError):
    """A summary would take more model calls than allowed, or cannot converge."""

    en = (
        "This document is {parts} parts for {model}: more model calls than the limit of {limit} "
        "a summary (SUMMARY_MAX_CALLS). Summarize a shorter document."
    )
    ko = (
        "이 문서는 {model}에서 {parts}개 부분으로 나뉩니다. 요약 한 번의 모델 호출 한도 {limit}회"
        "(SUMMARY_MAX_CALLS)보다 많습니다. 더 짧은 문서를 요약하세요."
    )


class NotConverging(SummaryTooCostly):
    en = (
        "{model}'s summaries of the parts do not get shorter when combined, so they cannot be "
        "brought down to one summary. The summaries of the parts are kept."
    )
    ko = (
        "{model}의 부분 요약을 합쳐도 짧아지지 않아 하나의 요약으로 만들 수 없습니다. "
        "부분 요약은 남겨 둡니다."
    )


class PartTooLong(PromptTooLong):
    en = (
        "{model} refused a part of this document as longer than its context window ({window} tokens, "
        "as configured). Summarize with a model that has a larger window, or set this endpoint's "
        "window to what it really accepts."
    )
    ko = (
        "{model}이(가) 문서의 한 부분을 컨텍스트 창({window}토큰, 설정값)보다 길다며 거부했습니다. "
        "창이 더 큰 모델로 요약하거나, 이 엔드포인트의 창을 실제로 받는 길이로 설정하세요."
    )


def _max_calls() -> int:
    return int(os.environ.get("SUMMARY_MAX_CALLS", MAX_CALLS))


def language(text: str) -> str:
    """ "ko" when most letters are Hangul, else "en"."""
    letters = sum(char.isalpha() for char in text)
    hangul = sum("\uac00" <= char <= "\ud7a3" or "\u3131" <= char <= "\u318e" for char in text)
    return "ko" if letters and hangul * 2 > letters else "en"


def instruction_for(text: str, detail: str) -> str:
    """The map-step instruction: in the document's language, short or detailed."""
    return INSTRUCTIONS[(language(text), detail)]


class _Stopped(Exception):
    """The summary was stopped (``Summary.stop``): raised out of its calls to end it."""


@dataclass
class Summary:
    text: str = ""
    model: str = ""  # the label of the model that summarizes
    language: str = "en"
    chunks: int = 0  # of the document, in the map step
    done: dict[int, str] = field(default_factory=dict)  # chunk index: its summary, filled as they come
    complete: bool = False
    stopped: bool = False
    error: Exception | None = None  # what ended a summary run by ``start``, when it failed
    unkept: ChatError | None = None  # why ``start``'s ``on_end`` could not keep it: shown with it
    parts: int = 0  # model calls the summary takes, as known so far: the map step's, then combining
    finished: int = 0  # of those, the calls answered
    # What the model calls took, for the usage record: a call cut by a stop counts too.
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    seconds: float = 0.0  # each call's, added: concurrent calls each count their whole time
    _started: float = field(default_factory=time.monotonic, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _client: ChatClient | None = field(default=None, repr=False)

    def count(self, input_tokens: int, output_tokens: int, seconds: float) -> None:
        with self._lock:  # the map step's calls finish in threads of their own
            self.calls += 1
            self.input_tokens += input_tokens
            self.output_tokens += output_tokens
            self.seconds += seconds

    @property
    def chunk_summaries(self) -> list[str]:
        """The chunks summarized so far, in document order: kept when stopped."""
        return [self.done[index] for index in sorted(self.done)]

    @classmethod
    def start(
        cls,
        text: str,
        spec: ModelSpec,
        params: GenerationParams,
        *,
        detail: str,
        owner: str,
        concurrency: int = 4,
        on_end: Callable[[Summary], None] | None = None,
        admit: Admit | None = None,
    ) -> Summary:
        """``summarize`` in a thread of its own, for ``owner``, whose turns its parts take
        on the bundled model; the summary it fills, to poll and to stop.
        The thread calls ``on_end(summary)`` once as it ends (complete, stopped or failed)
        after a model call, whether anyone still polls or not: the user may have left the
        page meanwhile.  A summary refused before any call has nothing to keep or count."""
        summary = cls()

        def run() -> None:
            try:
                summarize(
                    text,
                    spec,
                    params,
                    detail=detail,
                    concurrency=concurrency,
                    summary=summary,
                    admit=admit,
                )
            except _Stopped:
                pass
            except Exception as error:  # shown by whoever polls
                summary.error = error
            if on_end is not None and summary.calls:
                try:
                    on_end(summary)
                except ChatError as error:
                    summary.unkept = error

        summary._thread = threading.Thread(target=local_model.on_behalf_of(owner, run), daemon=True)
        summary._thread.start()
        return summary

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def stop(self) -> None:
        """End the summary: the call under way is cut, no other starts, the parts done stay."""
        self.stopped = True
        if self._client is not None:
            self._client.close()
        if self._thread is not threading.current_thread():
            self.wait(STOP_WAIT_S)

    @property
    def fraction(self) -> float:
        return self.finished / self.parts if self.parts else 0.0

    @property
    def message(self) -> Text:
        """While the model wakes, that it does (as a chat says it); else the part under
        way of those known so far, and the time left once a part is done, from the
        time the parts took (a wake left out)."""
        client = self._client
        if client is not None and (waking := client.waking) is not None:
            return waking.status(self.model, client.waking_s())
        if not self.parts:
            return CUTTING.format()
        part, parts = min(self.finished + 1, self.parts), self.parts
        if not self.finished:
            return PART.format(part=part, parts=parts)
        took = time.monotonic() - self._started - (client.asleep_s() if client is not None else 0.0)
        left = took / self.finished * (parts - self.finished)
        return PART_WITH_TIME_LEFT.format(part=part, parts=parts, left=duration(left))


def split(spec: ModelSpec, text: str, budget: int) -> list[str]:
    """Consecutive pieces of ``text`` of at most ``budget`` tokens, cut between
    lines, each starting with the last ~5% of the one before."""
    kept = [line for line in text.splitlines(keepends=True) if line.strip()]
    lines, sizes = _short_lines(spec, kept, budget // 4)
    pieces: list[str] = []
    start = 0
    while start < len(lines):
        end, used = start + 1, sizes[start]
        while end < len(lines) and used + sizes[end] <= budget:
            used += sizes[end]
            end += 1
        # Lines joined can take more tokens than apart (a line ending in a space
        # costs one more before the next line's word), so the piece is counted whole.
        while end - start > 1 and (over := count_tokens(spec, "".join(lines[start:end])) - budget) > 0:
            while end - start > 1 and over > 0:
                end -= 1
                over -= sizes[end]
        pieces.append("".join(lines[start:end]))
        if end == len(lines):
            break
        # The next piece repeats this one's last lines, up to the overlap, never all of it.
        first, start, carried = start, end, 0
        while start - 1 > first and carried + sizes[start - 1] <= budget * OVERLAP:
            start -= 1
            carried += sizes[start]
    return pieces


def _short_lines(spec: ModelSpec, lines: list[str], limit: int) -> tuple[list[str], list[int]]:
    """Lines cut so that none exceeds ``limit`` tokens (a page may be one line),
    and the tokens of each."""
    short, sizes = [], []
    for line in lines:
        for piece, tokens in _cut(spec, line, limit):
            short.append(piece)
            sizes.append(tokens)
    return short, sizes


def _cut(spec: ModelSpec, line: str, limit: int) -> list[tuple[str, int]]:
    """``line`` in pieces of at most ``limit`` tokens, each counted: cut at its
    average density, and a piece denser than that (Hangul after English) cut again."""
    tokens = count_tokens(spec, line)
    if tokens <= limit or len(line) == 1:
        return [(line, tokens)]
    step = max(1, min(len(line) // 2, len(line) * limit // tokens))
    return [piece for i in range(0, len(line), step) for piece in _cut(spec, line[i : i + step], limit)]


def collapse_whitespace(text: str) -> str:
    """Each line's runs of spaces and tabs as one space, blank lines dropped: a
    layout-preserving export pads columns with hundreds of them, which cost
    tokens and say nothing to a summary."""
    return "\n".join(" ".join(words) for line in text.splitlines() if (words := line.split()))


def summarize(
    text: str,
    spec: ModelSpec,
    params: GenerationParams,
    *,
    detail: str = "short",
    concurrency: int = 4,
    progress: Callable[[int, int], None] | None = None,
    summary: Summary | None = None,
    admit: Admit | None = None,
) -> Summary:
    """Summarize ``text``; ``progress(done, total)`` after each model call answered,
    of those the summary takes as known so far.  A ``summary`` passed in is filled
    as chunks finish, so a caller interrupted mid-way (``Summary.stop``, or an
    exception from ``progress``) still has them, and no call starts after that.
    Under the user's limits (``admit``, ``usage.limits.Allowance.admit``), the summary
    counts as one question, and each part is admitted for its tokens before it is sent:
    one refused ends the summary, the parts done kept."""
    summary = summary or Summary()
    if admit is not None:
        admit(0, 0, True)(0)
    summary._started = time.monotonic()
    summary.model = spec.label
    # Neutralized before it is cut, as the prompt will have it: a zero-width space
    # in each role line costs tokens the parts must have room for.
    text = neutralize(collapse_whitespace(text))
    summary.language = language(text)
    instruction = instruction_for(text, detail)
    # Streamed, so that a stop ends a call at its next token rather than at its end.
    llm = endpoint_llm(spec, params, streaming=True)
    summary._client = llm.client
    if summary.stopped:  # stopped before its client could be closed
        raise _Stopped

    def ask(task: str, body: str) -> str:
        if summary.stopped:
            raise _Stopped
        prompt = spec.chat_format.render(SYSTEM, [], f"{task}\n\n{body}")
        prompt_tokens = count_tokens(spec, prompt)
        settle = admit(prompt_tokens, params.max_new_tokens, False) if admit else None
        started = time.monotonic()
        tokens: list[str] = []
        try:
            with contextlib.closing(llm.stream(prompt)) as stream:
                for token in stream:
                    if summary.stopped:
                        break
                    tokens.append(token)
        except Exception as error:
            if summary.stopped:  # its stream shut by ``Summary.stop``
                raise _Stopped from error
            explained = explain(error, spec.endpoint_name, spec.inference_component)
            if isinstance(explained, PromptTooLong):  # its text is about chats
                raise PartTooLong(model=spec.label, window=spec.context_window) from error
            raise explained from error
        finally:
            answer = "".join(tokens).strip()
            answer_tokens = output_tokens(spec, params.max_new_tokens, answer)
            summary.count(prompt_tokens, answer_tokens, time.monotonic() - started)
            if settle is not None:
                settle(prompt_tokens + answer_tokens)
        if summary.stopped:
            raise _Stopped
        with summary._lock:
            summary.finished += 1
        return answer

    def answered() -> None:
        if progress:
            progress(summary.finished, summary.parts)

    # The room a chunk has: the window, less the answer, the instruction and a margin.
    overhead = count_tokens(spec, spec.prompt_format.render(SYSTEM, [], instruction + "\n\n")) + 16
    budget = spec.context_window - params.max_new_tokens - overhead
    if count_tokens(spec, text) <= budget:
        summary.chunks = summary.parts = 1
        summary.text = ask(instruction, text)
        summary.done[0] = summary.text
        summary.complete = True
        answered()
        return summary

    chunks = split(spec, text, budget)
    summary.chunks = len(chunks)
    summary.parts = len(chunks) + (len(chunks) > 1)  # and the final combination
    max_calls = _max_calls()
    calls_left = max_calls - summary.parts
    if calls_left < 0:
        raise SummaryTooCostly(parts=len(chunks), model=spec.label, limit=max_calls)
    _map(ask, instruction, chunks, 1 if spec.is_local else concurrency, summary.done, answered)
    combined = neutralize("\n\n".join(summary.chunk_summaries))  # a model's text may hold role lines too
    parts = chunks
    while count_tokens(spec, combined) > budget:  # reduce in rounds until one call can take it all
        # Each round must need fewer calls than the one before, or it would never end.
        parts, before = split(spec, combined, budget), len(parts)
        calls_left -= len(parts)
        if len(parts) >= before or calls_left < 0:
            raise NotConverging(model=spec.label)
        summary.parts += len(parts)
        rounds = []
        for part in parts:
            rounds.append(ask(COMBINE[summary.language], part))
            answered()
        combined = neutralize("\n\n".join(rounds))
    if len(chunks) > 1:
        summary.text = ask(COMBINE[summary.language], combined)
        answered()
    else:
        summary.text = combined
    summary.complete = True
    return summary


def _map(
    ask: Callable[[str, str], str],
    instruction: str,
    chunks: list[str],
    workers: int,
    done: dict[int, str],
    answered: Callable[[], None],
) -> None:
    """Summarize the chunks into ``done`` as each finishes, each in the caller's context:
    its user's (``local_model.USER``), whose turns the calls take."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: dict[Future[str], int] = {}
        queue = iter(enumerate(chunks))
        while True:
            while len(pending) < workers:
                item = next(queue, None)
                if item is None:
                    break
                call = contextvars.copy_context().run
                pending[pool.submit(call, ask, instruction, item[1])] = item[0]
            if not pending:
                return
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                done[pending.pop(future)] = future.result()
                answered()
