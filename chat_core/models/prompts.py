"""Chat formats: how a system prompt, past turns and a question are given to a model.

A ``PromptFormat`` writes them as one text in a model family's layout, for the
endpoints that take text; a ``MessagesFormat`` keeps them as messages, for the
endpoints that apply their chat template themselves.  Either is expressed as a
LangChain prompt template with two variables, ``history`` and ``input``, so that
both conversation modes (the windowed PromptTemplate and ``ConversationChain``
with its buffer memory) build prompts with the very same template.

User-controlled text (questions, answers, the editable system prompt) is passed
through ``neutralize`` before it is placed in a prompt, so it can never open or
close a role in any format: not the special tokens of the families users serve
nor the bundled model's own, not a role line after any line break a tokenizer
knows (nor one behind invisible characters), not a full-width look-alike that
NFKC makes plain.
"""

from __future__ import annotations

import array
import bisect
import functools
import json
import re
import sys
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

import regex
from langchain_core.prompts import BasePromptTemplate, PromptTemplate, StringPromptTemplate

ZWSP = "\u200b"

# Special tokens: text that the tokenizers of the model families users serve turn
# into control tokens (on a TGI endpoint, even inside a message's content).  One
# pattern per family, matched case-insensitively on the text as NFKC makes it.
_FAMILY_TOKENS = (
    # Llama 2: https://huggingface.co/blog/llama2#how-to-prompt-llama-2 (and its
    # sentence-piece <s>, </s>, <unk>, which Mistral shares).
    r"\[/?INST\]",
    r"<</?SYS>>",
    r"</?s>",
    r"<unk>",
    # Llama 3 (<|begin_of_text|>, <|start_header_id|>, <|eot_id|>, <|python_tag|>...):
    # https://www.llama.com/docs/model-cards-and-prompt-formats/meta-llama-3/ ; the same
    # shape in ChatML (<|im_start|>: the template in SmolLM2's GGUF), Falcon's
    # <|endoftext|>, and DeepSeek's full-width <｜User｜>, <｜end▁of▁sentence｜>, which
    # NFKC writes with ASCII bars: tokenizer_config.json of deepseek-ai/DeepSeek-V3.
    r"<\|[^\s|<>\u200b]+\|>",
    # Mistral's control tokens: SpecialTokens in mistral-common,
    # src/mistral_common/tokens/tokenizers/base.py; [THINK] in Magistral's.
    r"\[/?(?:SYSTEM_PROMPT|AVAILABLE_TOOLS|TOOL_RESULTS|TOOL_CALLS|TOOL_CONTENT|ARGS|CALL_ID"
    r"|IMG|IMG_BREAK|IMG_END|PREFIX|MIDDLE|SUFFIX|THINK)\]",
    r"<pad>",
    # Gemma: https://ai.google.dev/gemma/docs/core/prompt-structure ; Gemma 4's
    # chat template opens and closes a turn with half-barred <|turn> and <turn|>.
    r"<(?:start|end)_of_(?:turn|image)>",
    r"</?(?:bos|eos)>",
    r"<\|[^\s|<>\u200b]+>|<[^\s|<>\u200b]+\|>",
    # DeepSeek-R1's reasoning block: tokenizer.json of deepseek-ai/DeepSeek-R1.
    r"</?think>",
    # Falcon: >>QUESTION<<, >>ANSWER<<, >>INTRODUCTION<<, >>SUMMARY<<... are tokens 0-10
    # in tokenizer.json of tiiuae/falcon-7b-instruct (Falcon 3 adds more, same shape).
    r">>[A-Z][A-Z0-9_]*<<",
    # SmolLM2, the bundled model: ChatML's tokens above, and its pre-training markers
    # (tokenizer.json of HuggingFaceTB/SmolLM2-135M-Instruct; tests/test_prompts.py
    # checks this against every special token of the GGUF's vocabulary).
    r"<(?:repo_?name|file_sep|filename|gh_stars|issue_(?:start|comment|closed)"
    r"|jupyter_(?:start|text|code|output|script)|empty_output)>",
)

# Line breaks as str.splitlines and tokenizers see them; `re`'s MULTILINE `^`
# knows only "\n".
_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"
_ROLES = ("User", "Assistant", "System", "Human", "AI")


def _char_class(codes: Iterable[int]) -> str:
    """Code points, in increasing order, as the body of a `re` character class of ranges."""
    ranges: list[list[int]] = []
    for code in codes:
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "".join(f"{re.escape(chr(low))}-{re.escape(chr(high))}" for low, high in ranges)


@functools.cache
def _gap() -> str:
    """What may stand around a role word on its line and leave it read as a role:
    spaces other than line breaks, and the characters Unicode says render as nothing
    (its Default_Ignorable_Code_Point property: zero-width and bidi controls, soft
    hyphen, variation selectors, tags, Hangul fillers...), which a tokenizer keeps
    as tokens of their own.  As a character class's body.  The property comes from
    the `regex` module, which keeps Unicode's tables (`unicodedata` has none of it)."""
    # Every code point, as one string (four times faster than joining each chr).
    codes = array.array("I", range(sys.maxunicode + 1)).tobytes()
    everything = codes.decode(f"utf-32-{sys.byteorder[0]}e", "surrogatepass")
    spaces = re.findall(rf"[^\S{_BREAKS}]", everything)  # `re`'s spaces, as str.isspace has them
    invisible = regex.findall(r"\p{Default_Ignorable_Code_Point}", everything)
    return _char_class(sorted(map(ord, {*spaces, *invisible})))


def _role_line(words: Iterable[str]) -> str:
    """A role written as text (Falcon's format, chat transcripts), from a line start:
    spaces or invisible characters, a role word, its colon."""
    return rf"[{_gap()}]*(?:{'|'.join(words)})[{_gap()}]*:"


def _after_a_break(pattern: str) -> str:
    """``pattern`` at a line start, matched from the line break before it, one
    alternative per break.  When every alternative of a regex starts with a literal,
    ``re`` scans for those first characters: with the special tokens, five times
    faster than a look-behind for a line start.  Texts searched with it begin with a "\n"."""
    return "|".join(re.escape(line_break) + pattern for line_break in _BREAKS)


@functools.cache
def _control(role_lines: bool) -> re.Pattern[str]:
    """The control tokens ``neutralize`` breaks: special tokens, and role lines unless
    roles travel as structure (in a message, "User:" is the user's own text)."""
    lines = [_after_a_break(_role_line(_ROLES))] if role_lines else []
    return re.compile("|".join([*_FAMILY_TOKENS, *lines]), re.IGNORECASE)


@functools.cache
def _maybe_changed_by_nfkc() -> re.Pattern[str]:
    """A character that NFKC may change (full-width forms, ligatures, compatibility
    spaces...), as one class to scan texts with: the exact ones of the Basic
    Multilingual Plane, which ``re`` keeps as a bitmap, and every character beyond
    it (mathematical letters such as 𝐔 change, emoji do not), which it could only
    test range by range, twenty times slower."""
    changed = (code for code in range(0x80, 0x10000) if not unicodedata.is_normalized("NFKC", chr(code)))
    bmp = _char_class(changed)
    return re.compile(f"[{bmp}\U00010000-\U0010ffff]")


class _Folded:
    """A text as a model reads it: full-width and other look-alikes made plain by
    NFKC, one character at a time, so that every character of ``text`` comes from
    one of the original.  Matching happens here; breaks go into the original, since
    NFKC would also change what the user wrote (x² into x2, ① into 1)."""

    def __init__(self, original: str) -> None:
        self.text = original
        # Each changed character: where its result starts and ends here, and its index.
        self.starts: list[int] = []
        self.changes: list[tuple[int, int]] = []
        if original.isascii():
            return
        pieces, last, shift = [], 0, 0
        for found in _maybe_changed_by_nfkc().finditer(original):
            index, plain = found.start(), unicodedata.normalize("NFKC", found.group())
            if plain == found.group():
                continue
            pieces += (original[last:index], plain)
            self.starts.append(index + shift)
            self.changes.append((index + shift + len(plain), index))
            shift += len(plain) - 1
            last = index + 1
        if pieces:
            self.text = "".join([*pieces, original[last:]])

    def source(self, position: int) -> int:
        """Where the character at ``position`` here comes from in the original."""
        before = bisect.bisect_right(self.starts, position) - 1
        if before < 0:
            return position
        end, index = self.changes[before]
        return index if position < end else index + 1 + position - end


def _every_match(pattern: re.Pattern[str], text: str) -> Iterator[re.Match[str]]:
    """Every match, overlapping ones too: a token may begin inside another
    (``<|eot_id|>>QUESTION<<``), and breaking only the first leaves the other whole."""
    match = pattern.search(text)
    while match:
        yield match
        match = pattern.search(text, match.start() + 1)


def neutralize(text: str, *, role_lines: bool = True) -> str:
    """Break every control token in ``text`` with a zero-width space after its first
    visible character, so the text reads the same but no tokenizer or template
    sees the token.  Tokens are found in the text as NFKC makes it and broken in
    the user's own characters.  Role lines are tokens unless ``role_lines`` is
    False: in a message they are the user's own text.  Idempotent."""
    folded = _Folded(text)
    tokens = _every_match(_control(role_lines), "\n" + folded.text)  # the text begins a line
    cuts = [folded.source(_first_visible(token) - 1) + 1 for token in tokens]  # "- 1": that "\n"
    if not cuts:
        return text
    return ZWSP.join(text[start:end] for start, end in zip([0, *cuts], [*cuts, len(text)], strict=True))


@functools.cache
def _line_start() -> re.Pattern[str]:
    return re.compile(f"[{_BREAKS}{_gap()}]*")


def _first_visible(token: re.Match[str]) -> int:
    """Where the first visible character of a control token found is: a role line's
    begins past its line break and what may stand before the role word."""
    return token.start() + _line_start().match(token.group()).end()


class Turn(NamedTuple):
    """A question and its answer; the unit the history window keeps or drops whole.
    A tuple, as the per-turn caches hash it for every turn of every prompt: a
    tuple's hash and equality run in C, a dataclass's in Python (bench/turn_overhead.py)."""

    question: str
    answer: str


Owner = TypeVar("Owner")
Value = TypeVar("Value")


class TurnCache(Generic[Owner, Value]):
    """``compute(owner, turn)`` kept for the turns of every prompt, for each of a few
    owners (formats, models), in one cache of ``size`` turns in all: the turns in a
    window are rendered and counted again for each new question (bench/turn_overhead.py).
    Keyed by the owner's name and the turn: a string keeps its hash and a turn is a
    tuple of strings, hashed in C, while an owner's own hash runs in Python (a
    ``ModelSpec``'s hashes every field) and would be paid for every turn looked up.
    A name stands for its owner: owners of one name compute the same values."""

    def __init__(self, compute: Callable[[Owner, Turn], Value], size: int = 65536) -> None:
        self._compute = compute
        self._owners: dict[str, Owner] = {}
        self._cached = functools.lru_cache(maxsize=size)(self._computed)

    def _computed(self, name: str, turn: Turn) -> Value:
        return self._compute(self._owners[name], turn)

    def of(self, owner: Owner, name: str) -> Callable[[Turn], Value]:
        """The cached ``compute`` for ``owner``'s turns; ``owner`` is known as ``name``."""
        self._owners[name] = owner
        return functools.partial(self._cached, name)


@dataclass(frozen=True)
class PromptFormat:
    """One model family's prompt layout.

    ``head`` is written once, with ``{system}`` (or ``head_without_system`` when the
    system prompt is empty); ``turn`` is repeated per past turn with ``{question}``
    and ``{answer}``; ``tail`` holds the new question as ``{input}`` and opens the
    assistant's reply.
    """

    name: str
    head: str
    head_without_system: str
    turn: str
    tail: str
    stop: tuple[str, ...]
    strip: bool = True  # Llama 2's reference code strips every message; ChatML keeps text verbatim
    # The layout's tokens that its model's tokenizer parses apart from the text around
    # them, so that a prompt's token count is the sum of its pieces' (``budget.count_tokens``).
    specials: tuple[str, ...] = ()

    def __hash__(self) -> int:
        # By name alone (names are unique): formats key the per-turn caches, looked
        # up for every turn of every prompt, and hashing every field costs 10x more.
        return hash(self.name)

    def clean(self, text: str) -> str:
        # Stripped first: a role line behind a leading space or break would otherwise
        # be found at no line start, then bared at the start of the prompt.
        return neutralize(text.strip() if self.strip else text)

    def render_turn(self, turn: Turn) -> str:
        return _RENDERED.of(self, self.name)(turn)

    def render_head(self, system: str) -> str:
        """The prompt's opening, holding the system prompt."""
        system = self.clean(system)
        return self.head.format(system=system) if system else self.head_without_system

    def render_tail(self, question: str) -> str:
        """The prompt's end: the new question, then the opening of the answer."""
        return self.tail.format(input=self.clean(question))

    def render_history(self, turns: Sequence[Turn]) -> str:
        return "".join(map(_RENDERED.of(self, self.name), turns))

    def template(self, system: str) -> PromptTemplate:
        """The ``PromptTemplate`` both conversation modes fill with history and input."""
        return _template(self, system)

    def render(self, system: str, turns: Sequence[Turn], question: str) -> str:
        return self.template(system).format(history=self.render_history(turns), input=self.clean(question))


_RENDERED: TurnCache[PromptFormat, str] = TurnCache(
    lambda fmt, turn: fmt.turn.format(question=fmt.clean(turn.question), answer=fmt.clean(turn.answer))
)


# Cached: a PromptTemplate costs a validation each time it is made (bench/turn_overhead.py).
@functools.lru_cache(maxsize=64)
def _template(fmt: PromptFormat, system: str) -> PromptTemplate:
    # The head is a literal: escape braces so a system prompt with "{" stays text.
    literal_head = fmt.render_head(system).replace("{", "{{").replace("}", "}}")
    return PromptTemplate.from_template(literal_head + "{history}" + fmt.tail)


@dataclass(frozen=True)
class MessagesFormat:
    """A conversation as messages, for the endpoints that apply their models' chat
    template themselves (JumpStart Llama 2 chat, TGI's Messages API).  ``family`` is
    that template as far as it is known: whether it strips messages.

    Roles travel as structure, so a role line in a message is the user's own text
    and stays as written; special tokens are broken as in a text prompt, since the
    endpoint's tokenizer parses them inside a message too.  LangChain carries a
    prompt to ``SagemakerEndpoint`` as one string: here the message list as JSON,
    which keeps every message whole (``messages_of`` reads it back)."""

    family: PromptFormat

    def clean(self, text: str) -> str:
        return neutralize(text.strip() if self.family.strip else text, role_lines=False)

    def render_history(self, turns: Sequence[Turn]) -> list[dict[str, str]]:
        cleaned = map(_CLEANED.of(self, self.family.name), turns)
        return [
            {"role": role, "content": text}
            for turn in cleaned
            for role, text in (("user", turn.question), ("assistant", turn.answer))
        ]

    def template(self, system: str) -> _MessagesTemplate:
        """The template both conversation modes fill with history and input."""
        return _messages_template(self, system)

    def render(self, system: str, turns: Sequence[Turn], question: str) -> str:
        return self.template(system).format(history=self.render_history(turns), input=self.clean(question))


class _MessagesTemplate(StringPromptTemplate):
    """A ``MessagesFormat``'s prompt: the system prompt, the history's messages and
    the question, as JSON."""

    system: str  # cleaned; empty for none

    def format(self, **kwargs: Any) -> str:
        system = [{"role": "system", "content": self.system}] if self.system else []
        return json.dumps([*system, *kwargs["history"], {"role": "user", "content": kwargs["input"]}])


def messages_of(prompt: str) -> list[dict[str, str]]:
    """The messages of a ``MessagesFormat`` prompt, for the payloads that send messages."""
    try:
        messages = json.loads(prompt)
    except ValueError:
        messages = None
    if not isinstance(messages, list):
        raise ValueError("an endpoint that takes messages is given them as MessagesFormat renders them")
    return messages


# Cached as a text format's turns and templates are.
_CLEANED: TurnCache[MessagesFormat, Turn] = TurnCache(
    lambda fmt, turn: Turn(fmt.clean(turn.question), fmt.clean(turn.answer))
)


@functools.lru_cache(maxsize=64)
def _messages_template(fmt: MessagesFormat, system: str) -> _MessagesTemplate:
    return _MessagesTemplate(system=fmt.clean(system), input_variables=["history", "input"])


class ChatFormat(Protocol):
    """How a conversation is given to an endpoint: as text in its models' layout
    (``PromptFormat``) or as messages (``MessagesFormat``); the payload format
    decides (``handlers.PayloadHandler.chat_format``).  Both conversation modes fill
    ``template(system)`` with ``history`` (``render_history``) and ``input`` (``clean``)."""

    def clean(self, text: str) -> str: ...

    def render_history(self, turns: Sequence[Turn]) -> Any: ...

    def template(self, system: str) -> BasePromptTemplate: ...

    def render(self, system: str, turns: Sequence[Turn], question: str) -> str: ...


LLAMA2 = PromptFormat(
    # https://huggingface.co/blog/llama2#how-to-prompt-llama-2
    name="llama2",
    head="<s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\n",
    head_without_system="<s>[INST] ",
    turn="{question} [/INST] {answer} </s><s>[INST] ",
    tail="{input} [/INST]",
    stop=("</s>",),
)

CHATML = PromptFormat(
    # The chat template shipped inside SmolLM2's GGUF (tokenizer.chat_template).
    name="chatml",
    head="<|im_start|>system\n{system}<|im_end|>\n",
    head_without_system="",
    turn="<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n{answer}<|im_end|>\n",
    tail="<|im_start|>user\n{input}<|im_end|>\n<|im_start|>assistant\n",
    stop=("<|im_end|>",),
    strip=False,
    specials=("<|im_start|>", "<|im_end|>"),
)

FALCON = PromptFormat(
    name="falcon",
    head="{system}\n\n",
    head_without_system="",
    turn="User: {question}\nAssistant: {answer}\n",
    tail="User: {input}\nAssistant:",
    stop=("\nUser:",),
)

LLAMA3 = PromptFormat(
    # https://www.llama.com/docs/model-cards-and-prompt-formats/meta-llama-3/
    name="llama3",
    head="<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n{system}<|eot_id|>",
    head_without_system="<|begin_of_text|>",
    turn=(
        "<|start_header_id|>user<|end_header_id|>\n\n{question}<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n{answer}<|eot_id|>"
    ),
    tail=(
        "<|start_header_id|>user<|end_header_id|>\n\n{input}<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    ),
    stop=("<|eot_id|>",),
)

FORMATS = {fmt.name: fmt for fmt in (LLAMA2, LLAMA3, CHATML, FALCON)}
