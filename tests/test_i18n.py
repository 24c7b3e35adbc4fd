"""English and Korean: the browser's language is the default, and a label or an
error without its Korean text cannot reach a page."""

import re

import pytest

from chat_core.errors import ChatError, Throttled
from chat_core.i18n import KO, language_for, tr

HANGUL = re.compile("[\uac00-\ud7a3]")


@pytest.mark.parametrize(
    ("locale", "language"), [("ko-KR", "ko"), ("ko", "ko"), ("en-US", "en"), ("de-DE", "en"), (None, "en")]
)
def test_the_browser_locale_picks_the_language(locale: str | None, language: str) -> None:
    assert language_for(locale) == language


def test_a_label_without_korean_fails_in_either_language() -> None:
    assert tr("Yes, delete all {count}", "ko", count=3) == "네, 3개를 모두 삭제합니다"
    assert tr("Yes, delete all {count}", "en", count=3) == "Yes, delete all 3"
    with pytest.raises(KeyError):
        tr("A label nobody translated", "en")


def test_every_korean_label_is_korean() -> None:
    untranslated = [en for en, ko in KO.items() if not HANGUL.search(ko) and en not in ("Top p",)]
    assert untranslated == []


def test_an_error_is_its_own_text_in_both_languages() -> None:
    busy = Throttled(endpoint="llama")
    english = "Endpoint 'llama' is busy (throttled). Wait a few seconds and resend."
    assert str(busy) == busy.text("en") == english
    korean = "엔드포인트 'llama'가 요청이 많아 바쁩니다(스로틀링). 몇 초 기다린 뒤 다시 보내세요."
    assert busy.text("ko") == korean


def test_an_error_cannot_be_made_without_its_text() -> None:
    with pytest.raises(TypeError):
        ChatError(message="English only")

    class EnglishOnly(ChatError):
        en = "Only English."

    with pytest.raises(TypeError):
        EnglishOnly()
