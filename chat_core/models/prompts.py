"""Prompt formats: how a system prompt, past turns and a question become one string.

Every format is expressed as a LangChain ``PromptTemplate`` with two variables,
``history`` and ``input``, so that both conversation modes (the windowed
PromptTemplate and ``ConversationChain`` with its buffer memory) build prompts
with the very same template.  The system prompt is a partial variable.

User-controlled text (questions, answers, the editable system prompt) is passed
through ``neutralize`` before it is placed in a prompt, so it can never open or
close a role in any format.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from langchain_core.prompts import PromptTemplate

ZWSP = "\u200b"

# Every token that delimits a role in a format we speak, in any of them: text
# written for one model must not be able to steer another one either.
_CONTROL = re.compile(
    r"\[/?INST\]"  # Llama 2 instruction brackets
    r"|<</?SYS>>"  # Llama 2 system block
    r"|</?s>"  # sentence-piece BOS/EOS as literal text
    r"|<\|[A-Za-z0-9_]+\|>"  # ChatML and Llama 3 special tokens: <|im_start|>, <|eot_id|>...
    r"|^[ \t]*(?:User|Assistant|System|Human|AI)[ \t]*:",  # plain role lines (Falcon)
    re.IGNORECASE | re.MULTILINE,
)


def neutralize(text: str) -> str:
    """Break every control token in ``text`` with a zero-width space after its first
    visible character, so the text reads the same but no tokenizer or template
    sees the token.  Idempotent."""

    def breaks(match: re.Match[str]) -> str:
        token = match.group(0)
        start = len(token) - len(token.lstrip(" \t"))
        return token[: start + 1] + ZWSP + token[start + 1 :]

    return _CONTROL.sub(breaks, text)


@dataclass(frozen=True)
class Turn:
    """A question and its answer; the unit the history window keeps or drops whole."""

    question: str
    answer: str


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

    def __hash__(self) -> int:
        # By name alone (names are unique): formats key the per-turn caches, looked
        # up for every turn of every prompt, and hashing every field costs 10x more.
        return hash(self.name)

    def clean(self, text: str) -> str:
        text = neutralize(text)
        return text.strip() if self.strip else text

    def render_turn(self, turn: Turn) -> str:
        return _rendered_turn(self, turn)

    def render_head(self, system: str) -> str:
        """The prompt's opening, holding the system prompt."""
        system = self.clean(system)
        return self.head.format(system=system) if system else self.head_without_system

    def render_tail(self, question: str) -> str:
        """The prompt's end: the new question, then the opening of the answer."""
        return self.tail.format(input=self.clean(question))

    def render_history(self, turns: Sequence[Turn]) -> str:
        return "".join(self.render_turn(turn) for turn in turns)

    def template(self, system: str) -> PromptTemplate:
        """The ``PromptTemplate`` both conversation modes fill with history and input."""
        return _template(self, system)

    def render(self, system: str, turns: Sequence[Turn], question: str) -> str:
        return self.template(system).format(history=self.render_history(turns), input=self.clean(question))

    def messages(self, prompt: str) -> list[dict[str, str]]:
        """The message list a prompt rendered in this format was made from, for
        endpoints that take messages (JumpStart Llama 2 chat, the TGI Messages API).

        Exact because rendering neutralized every control token inside the
        messages: a message is the text between two of them."""
        if not prompt.startswith(self.head_without_system):
            raise ValueError(f"not a {self.name} prompt")
        head, turn, tail = (_pattern(part) for part in (self.head, self.turn, self.tail))
        found = head.match(prompt)
        messages = [{"role": "system", "content": found["system"]}] if found else []
        position = found.end() if found else len(self.head_without_system)
        while not (last := tail.fullmatch(prompt, position)):
            found = turn.match(prompt, position)
            if not found:
                raise ValueError(f"not a {self.name} prompt")
            messages.append({"role": "user", "content": found["question"]})
            messages.append({"role": "assistant", "content": found["answer"]})
            position = found.end()
        messages.append({"role": "user", "content": last["input"]})
        return messages


# Text between control tokens: what a message can be once neutralized.
_MESSAGE = f"(?:(?!{_CONTROL.pattern}).)*"


@functools.lru_cache(maxsize=32)
def _pattern(template: str) -> re.Pattern[str]:
    """A template as a regular expression, each placeholder a named group."""
    parts = re.split(r"\{(\w+)\}", template)
    regex = "".join(
        re.escape(part) if i % 2 == 0 else f"(?P<{part}>{_MESSAGE})" for i, part in enumerate(parts)
    )
    return re.compile(regex, _CONTROL.flags | re.DOTALL)


# Cached: every turn in a window is rendered for each new question, and a
# PromptTemplate costs a validation each time it is made (bench/turn_overhead.py).
@functools.lru_cache(maxsize=65536)
def _rendered_turn(fmt: PromptFormat, turn: Turn) -> str:
    return fmt.turn.format(question=fmt.clean(turn.question), answer=fmt.clean(turn.answer))


@functools.lru_cache(maxsize=64)
def _template(fmt: PromptFormat, system: str) -> PromptTemplate:
    # The head is a literal: escape braces so a system prompt with "{" stays text.
    literal_head = fmt.render_head(system).replace("{", "{{").replace("}", "}}")
    return PromptTemplate.from_template(literal_head + "{history}" + fmt.tail)


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
