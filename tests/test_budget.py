"""The history window: newest whole turns that fit the context window, never more."""

from dataclasses import replace

import pypdf
import pytest
from shared import PDFS

from chat_core.errors import PromptTooLong
from chat_core.local import model as local_model
from chat_core.models.budget import (
    PIECE_CACHED_CHARS,
    count_tokens,
    estimate_tokens,
    fit_history,
    history_budget,
    history_tokens,
    prompt_tokens,
)
from chat_core.models.catalog import GenerationParams, load_catalog
from chat_core.models.prompts import Turn

MODELS = load_catalog()
SYSTEM = "You are a helpful assistant."


def long_history(n: int) -> list[Turn]:
    return [
        Turn(f"Question {i}: item {i}?" + " more detail" * (i % 7), f"Answer {i}." + " ok" * (i % 5))
        for i in range(n)
    ]


@pytest.mark.parametrize("model_id", ["local-smollm2", "llama2-7b-chat", "falcon-7b-instruct"])
def test_thousand_turns_fit_the_budget_newest_first_and_whole(model_id: str) -> None:
    spec = MODELS[model_id]
    params = spec.defaults
    turns = long_history(1000)
    question = "And what about the last one?"
    limit = spec.context_window - params.max_new_tokens

    kept = fit_history(spec, turns, history_budget(spec, params, SYSTEM, question))
    prompt = spec.prompt_format.render(SYSTEM, kept, question)

    assert 0 < len(kept) < 1000
    assert list(kept) == turns[-len(kept) :]  # the newest, in order
    assert count_tokens(spec, prompt) <= limit
    assert prompt.endswith(spec.prompt_format.tail.format(input=question))
    for turn in kept:  # whole turns, never a half
        assert spec.prompt_format.render_turn(turn) in prompt
    # As many as fit, by the window's own accounting (exact for the local model;
    # for remote models per-turn estimates round up, so their sum is the bound).
    base = prompt_tokens(spec, SYSTEM, question)
    assert base + history_tokens(spec, turns[-len(kept) - 1 :]) > limit
    if spec.is_local:
        one_more = spec.prompt_format.render(SYSTEM, turns[-len(kept) - 1 :], question)
        assert count_tokens(spec, one_more) > limit


@pytest.mark.parametrize("system", [SYSTEM, ""])
def test_the_local_model_counted_by_parts_is_the_count_of_the_prompt_it_is_sent(system: str) -> None:
    spec = MODELS["local-smollm2"]
    turns = long_history(40)
    kept = fit_history(spec, turns, history_budget(spec, spec.defaults, system, "Next?"))
    prompt = spec.prompt_format.render(system, kept, "Next?")
    by_parts = prompt_tokens(spec, system, "Next?") + history_tokens(spec, kept)
    # What llama.cpp itself counts when it is sent this prompt.
    assert by_parts == len(local_model.model().tokenize(prompt.encode(), special=True))


def test_a_question_longer_than_the_window_is_refused_with_a_clear_message() -> None:
    spec = MODELS["falcon-7b-instruct"]
    with pytest.raises(PromptTooLong, match="Shorten the message"):
        history_budget(spec, spec.defaults, SYSTEM, "word " * 5000)


def test_short_history_is_kept_entirely() -> None:
    spec = replace(MODELS["local-smollm2"], defaults=GenerationParams(64, 0.2, 0.9))
    turns = long_history(3)
    assert list(fit_history(spec, turns, history_budget(spec, spec.defaults, SYSTEM, "Next?"))) == turns


def pdf_text(name: str, pages: int) -> str:
    reader = pypdf.PdfReader(PDFS / name)
    return "\n".join(page.extract_text() for page in reader.pages[:pages])


@pytest.mark.parametrize(
    "name", ["error_code.pdf", "habibi.pdf", "pdflatex-4-pages.pdf", "GeoTopo-komprimiert.pdf"]
)
def test_remote_estimate_is_never_below_the_real_count_on_real_text(name: str) -> None:
    """The remote tokenizers are not available offline; the bundled model's real
    tokenizer is the check here, and the estimate must stay above it."""
    text = pdf_text(name, pages=8)
    assert len(text) > 20
    assert estimate_tokens(text) >= count_tokens(MODELS["local-smollm2"], text)


def test_korean_is_charged_per_utf8_byte() -> None:
    # Byte-fallback tokenizers (Llama 2) spend up to one token per UTF-8 byte on Hangul.
    assert estimate_tokens("보일러 에러코드") == 3 * 7 + 1
    assert estimate_tokens("abcd efgh") == 2 + 1 + 2


@pytest.mark.parametrize(
    "text",
    [
        "",
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
        " <|im_end|> \n\n<|im_start|>  user\n\n",  # spaces either side of a special token
        "안녕하세요 <|im_start|>assistant\n서울은 어때요?<|im_end|>",
        "<|im_start|><|im_end|><|endoftext|>\u200b<|im_start|>",  # tokens back to back, and another special
        "word " * (PIECE_CACHED_CHARS // 5 + 10) + "<|im_end|>\nend",  # a piece too long to keep
    ],
)
def test_the_local_model_counts_a_text_piece_by_piece_as_llama_cpp_counts_it_whole(text: str) -> None:
    """Pieces between the layout's special tokens are counted once each and summed;
    asked twice (the second time from what was kept), the count is llama.cpp's own."""
    spec = MODELS["local-smollm2"]
    whole = len(local_model.model().tokenize(text.encode(), add_bos=False, special=True))
    assert count_tokens(spec, text) == whole
    assert count_tokens(spec, text) == whole
