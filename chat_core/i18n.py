"""The user interface in English and Korean: every text is a ``Message``, its English and
Korean templates declared together, in one place per kind of text:

- a page's labels in ``KO`` below, keyed by the English the page is written in and
  looked up with ``tr``: the lookup fails for a label with no Korean entry, whatever
  the language shown, so any test that renders a page proves its labels translated;
- an error's in its ``ChatError`` class (``errors``);
- a notice made in ``chat_core`` as a module-level ``Message`` where it is issued.

``Text`` is a message filled in, in both languages, until a page picks one.  A
dictionary rather than gettext: two languages, no build step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chat_core.markdown import safe_markdown

LANGUAGES = {"en": "English", "ko": "한국어"}


def language_for(locale: str | None) -> str:
    """The UI language for a browser locale such as "ko-KR": Korean or English."""
    return "ko" if (locale or "").lower().startswith("ko") else "en"


@dataclass(frozen=True)
class Text:
    """A message for the user in both languages."""

    en: str
    ko: str

    def text(self, language: str) -> str:
        """The message for a page, which shows it as Markdown: an image in it (from a
        file name, a model's malformed answer) is a link, never fetched."""
        return safe_markdown(self.ko if language == "ko" else self.en)

    @classmethod
    def joined(cls, texts: Sequence[Text | None]) -> Text | None:
        """Several messages as one, in each language; None when there are none."""
        found = [text for text in texts if text]
        return cls(" ".join(t.en for t in found), " ".join(t.ko for t in found)) if found else None


@dataclass(frozen=True)
class Message:
    """A user-facing text as English and Korean templates with ``{name}`` fields, declared
    once where the text belongs (an error class, a module's notice, the label dictionary
    below); both are required, so no text can be made without its translation.  A value
    that is itself a ``Text`` fills each template in that template's language."""

    en: str
    ko: str

    def format(self, **values: object) -> Text:
        return Text(self.en.format(**_in("en", values)), self.ko.format(**_in("ko", values)))


def _in(language: str, values: dict[str, object]) -> dict[str, object]:
    return {
        name: (value.ko if language == "ko" else value.en) if isinstance(value, Text) else value
        for name, value in values.items()
    }


def plural(count: int, one: str, many: str) -> str:
    """ "1 turn", "2 turns": an English count with its noun (Korean nouns do not change)."""
    return f"{count} {one if count == 1 else many}"


SECONDS = Message("{seconds:.0f} s", "{seconds:.0f}초")
MINUTES = Message("{minutes} min {seconds} s", "{minutes}분 {seconds}초")


def duration(seconds: float) -> Text:
    """``seconds`` as a person reads them: "42 s", "3 min 5 s"."""
    if seconds < 60:
        return SECONDS.format(seconds=seconds)
    minutes, rest = divmod(round(seconds), 60)
    return MINUTES.format(minutes=minutes, seconds=rest)


def tr(label: str, language: str, **values: object) -> str:
    """``label`` in ``language``, with ``{name}`` placeholders filled from ``values``;
    a label that counts something reads in the singular for one (``ONE``)."""
    message = Message(label, KO[label])  # KeyError: a label was added without its translation
    if language != "ko" and label in ONE and values.get(ONE[label][0]) == 1:
        message = Message(ONE[label][1], message.ko)
    text = message.format(**values) if values else message
    return text.ko if language == "ko" else text.en


KO: dict[str, str] = {
    # Navigation and titles
    "Chat": "채팅",
    "SageMaker Chat": "SageMaker 채팅",
    "Summarize a PDF": "PDF 요약",
    "Language": "언어",
    "Log in": "로그인",
    "Log out": "로그아웃",
    "Logged in as {email}": "{email}(으)로 로그인함",
    # Sidebar: conversations
    "New chat": "새 채팅",
    "Conversations": "대화 목록",
    "This conversation": "이 대화",
    "Title": "제목",
    "Rename": "이름 바꾸기",
    "Export Markdown": "Markdown으로 내보내기",
    "Export JSON": "JSON으로 내보내기",
    "Yes, delete this conversation": "네, 이 대화를 삭제합니다",
    "Delete": "삭제",
    "Feedback and comparisons": "피드백과 비교",
    "Your rated answers and comparisons, for evaluation or fine-tuning.": (
        "평가하거나 파인튜닝하는 데 쓸, 내가 평가한 답변과 비교 결과입니다."
    ),
    "Export ratings (JSONL)": "평가 내보내기(JSONL)",
    "Export preference pairs (JSONL)": "선호 쌍 내보내기(JSONL)",
    "Delete all conversations": "모든 대화 삭제",
    "Yes, delete all {count}": "네, {count}개를 모두 삭제합니다",
    "Delete all": "모두 삭제",
    # Sidebar: settings
    "Settings": "설정",
    "Add a SageMaker endpoint": "SageMaker 엔드포인트 추가",
    "Endpoint name": "엔드포인트 이름",
    "Region": "리전",
    "default region": "기본 리전",
    "Payload format": "페이로드 형식",
    "Inference component": "추론 구성 요소",
    "none: the endpoint's own model": "없음: 엔드포인트 자체의 모델",
    "On an endpoint that hosts several models, the name of the one to call.": (
        "여러 모델을 호스팅하는 엔드포인트에서 호출할 모델의 이름입니다."
    ),
    "Context window (tokens)": "컨텍스트 창(토큰)",
    "Add endpoint": "엔드포인트 추가",
    "Not added: {error}": "추가하지 않았습니다: {error}",
    "Model": "모델",
    "Endpoints of unknown format ({count})": "형식을 모르는 엔드포인트 ({count})",
    "Payload format of {name}": "{name}의 페이로드 형식",
    "unknown: choose one to use it": "알 수 없음: 쓰려면 하나를 고르세요",
    "Conversation mode": "대화 방식",
    "PromptTemplate keeps the newest turns that fit; ConversationChain keeps a buffer memory.": (
        "PromptTemplate은 들어가는 만큼 최근 대화를 넣고, ConversationChain은 LangChain 버퍼 메모리를 씁니다."
    ),
    "Temperature": "온도(Temperature)",
    "Top p": "Top p",
    "Max new tokens": "최대 새 토큰 수",
    "System prompt": "시스템 프롬프트",
    # Chat
    "Ask anything": "무엇이든 물어보세요",
    "*(empty answer)*": "*(빈 답변)*",
    "first token {seconds:.2f} s · {tokens} tokens": "첫 토큰 {seconds:.2f}초 · {tokens}토큰",
    " · {rate:.1f} tokens/s": " · 초당 {rate:.1f}토큰",
    "stopped · ": "중지됨 · ",
    "Stop": "중지",
    "Copy": "복사",
    "Regenerate": "다시 생성",
    "Edit question": "질문 고치기",
    "Question": "질문",
    "Send edited question": "고친 질문 보내기",
    "Comment": "의견",
    "What was good or bad about this answer?": "이 답변의 어떤 점이 좋았거나 나빴나요?",
    "Save comment": "의견 저장",
    "Resend": "다시 보내기",
    "Save again": "다시 저장하기",
    # The PDF page
    "Drop a PDF here": "여기에 PDF를 끌어다 놓으세요",
    "Reading pages…": "페이지를 읽는 중…",
    "Reading page {done} of {total}": "{total}쪽 중 {done}쪽을 읽는 중",
    "Password": "비밀번호",
    "{pages} pages · {characters:,} characters": "{pages}쪽 · {characters:,}자",
    "First page": "첫 페이지",
    "(no text on the first page)": "(첫 페이지에 글자가 없습니다)",
    "Length": "길이",
    "short": "짧게",
    "detailed": "자세히",
    "Parallel calls to the endpoint": "엔드포인트 동시 호출 수",
    "Summarized before: the stored summary is shown.": "전에 요약한 문서입니다. 저장된 요약을 보여 줍니다.",
    "(The summary of a file protected by a password is shown in the session that made it only.)": (
        "(암호로 보호된 파일의 요약은 그 요약을 만든 세션에서만 보입니다.)"
    ),
    "The passage is not kept: its file is protected by a password.": (
        "이 구절은 보관하지 않습니다. 파일이 암호로 보호되어 있습니다."
    ),
    "Summarize": "요약하기",
    "Stopped after {done} of {total} parts; here is what was done.": (
        "{total}개 중 {done}개 부분에서 멈췄습니다. 끝난 부분은 다음과 같습니다."
    ),
    "**Part {number}.** {text}": "**{number}부분.** {text}",
    "Discuss in chat": "채팅에서 이야기하기",
    "Ask this document": "이 문서에 질문하기",
    "Documents": "문서",
    "Answer from these documents": "이 문서들에서 답하기",
    "Upload PDFs on the PDF page": "PDF 페이지에서 PDF를 올리세요",
    "Retrieval settings": "검색 설정",
    "Passages per question": "질문마다 찾을 구절 수",
    "Show the passages under each answer": "답변 아래에 구절 보이기",
    "Page": "페이지",
    "Sources ({count})": "출처 ({count})",
    "Open page {page}": "{page}쪽 열기",
    "Summarize {name} ({pages} pages).": "{name}({pages}쪽)을 요약해 주세요.",
    # Usage and cost
    "Usage": "사용량",
    "From (UTC)": "시작일(UTC)",
    "Every user's usage": "모든 사용자의 사용량",
    "{hours:,.1f} hours, to now": "지금까지 {hours:,.1f}시간",
    "User": "사용자",
    "Endpoint": "엔드포인트",
    "Questions": "질문 수",
    "Input tokens": "입력 토큰",
    "Output tokens": "출력 토큰",
    "Generation seconds": "생성 시간(초)",
    "Instance type": "인스턴스 유형",
    "Instances": "인스턴스 수",
    "Price per hour": "시간당 가격",
    "Cost": "비용",
    "Share of instance time": "인스턴스 시간 중 비율",
    "Note": "비고",
    "Per model": "모델별",
    "Per user": "사용자별",
    "Instance cost over the period": "기간 중 인스턴스 비용",
    "SageMaker bills each instance by the hour while its endpoint is in service, answering or "
    "idle: the cost is the instances' hours in the period at the prices in INSTANCE_PRICES, as if "
    "the endpoint served the whole period. A share is the part of those hours the answers took, "
    "and its cost that part of the endpoint's.": "SageMaker는 엔드포인트가 서비스 중인 동안 답변하든 "
    "쉬든 인스턴스마다 시간 단위로 청구합니다. 비용은 기간 중 인스턴스 시간에 INSTANCE_PRICES의 가격을 "
    "곱한 값이며, 엔드포인트가 기간 내내 서비스했다고 봅니다. 비율은 그 시간 중 답변에 쓰인 부분이고, "
    "그 비용은 엔드포인트 비용 중 그만큼입니다.",
    "Compare models": "모델 비교",
    "Ask each question of two or three models at once, then pick the better answer.": (
        "질문마다 두세 모델에게 한꺼번에 묻고, 더 나은 답변을 고릅니다."
    ),
    "Models to compare": "비교할 모델",
    "Choose two or three models; until then questions go to the model above.": (
        "모델을 두세 개 고르세요. 그때까지는 위의 모델에게 질문합니다."
    ),
    "Use this answer": "이 답변 쓰기",
    "Use one of the answers above to go on": "계속하려면 위의 답변 중 하나를 쓰세요",
    " · {tokens} prompt tokens": " · 프롬프트 {tokens}토큰",
    # state: the model over each answer, the first-run notice
    "{model} · picked from the compared answers": "{model} · 비교한 답변 중에서 고름",
    "Got it": "알겠습니다",
    # Usage (issue 24, usage)
    "Nothing in this period: no answers, summaries or indexing.": (
        "이 기간에는 답변도, 요약도, 색인도 없습니다."
    ),
    "Use": "용도",
    "Count": "횟수",
    "Pages": "쪽 수",
    "Answers": "답변",
    "Summaries": "요약",
    "Indexing": "색인",
    "Day (UTC)": "날짜(UTC)",
    "Tokens per day": "일별 토큰",
    "Questions per day": "일별 질문 수",
    "Instance cost per day": "일별 인스턴스 비용",
    "Tokens": "토큰",
    "US dollars": "미국 달러",
    "Your share": "내 몫",
    # polish: what the page confirms, and copying in one click
    "Renamed to “{title}”": "“{title}”(으)로 이름을 바꿨습니다",
    "Deleted “{title}”": "“{title}”을(를) 삭제했습니다",
    "Deleted {count} conversations": "대화 {count}개를 삭제했습니다",
    "Exported {name}": "{name}(으)로 내보냈습니다",
    "Feedback saved": "의견을 저장했습니다",
    "Copied": "복사했습니다",
    # limits: each user's limits on the Usage page
    "Your limits": "내 한도",
    "Questions per minute": "분당 질문 수",
    "Tokens per day (UTC)": "하루 토큰(UTC)",
    "Tokens per month (UTC)": "한 달 토큰(UTC)",
    "Limit": "한도",
    "Used": "사용",
    "Remaining": "남음",
    "Allowed": "허용",
    "Resets": "다시 채워짐",
    # issue 26: admin
    "Endpoints and idle cost": "엔드포인트와 유휴 비용",
    "serverless, {memory:,} MB, {concurrency} at once": "서버리스, {memory:,} MB, 동시 {concurrency}개",
    "Copies": "복사본",
    "Last question (UTC)": "마지막 질문(UTC)",
    "Cost per hour now": "현재 시간당 비용",
    "Idle hours this month": "이번 달 유휴 시간",
    "Idle hours × cost per hour now": "유휴 시간 × 현재 시간당 비용",
    "Put to sleep": "재우기",
    "Wake": "깨우기",
    "{name} is going to sleep.": "{name}를 재우는 중입니다.",
    "{name} is waking up.": "{name}를 깨우는 중입니다.",
    "No component is put to sleep by itself (SLEEP_COMPONENTS is not set).": (
        "저절로 잠드는 컴포넌트가 없습니다(SLEEP_COMPONENTS가 설정되지 않음)."
    ),
    "Put to sleep after {minutes:g} idle minutes: {names}.": (
        "{minutes:g}분 동안 쓰이지 않으면 재움: {names}."
    ),
    "An idle hour is a clock hour (UTC) of this month, since the model was created, in which it "
    "answered nothing. The idle cost is an estimate: idle hours this month × what the model costs "
    "an hour now (its endpoint's instances at their price, shared among its components by their "
    "copies now), as if it had run all month as it does now; a model asleep costs nothing.": (
        "유휴 시간은 이번 달 중 모델이 만들어진 뒤 아무것도 답하지 않은 정시 단위 한 시간(UTC)입니다. "
        "유휴 비용은 추정치입니다: 이번 달 유휴 시간 × 모델의 현재 시간당 비용(엔드포인트 인스턴스 가격을 "
        "현재 복사본 수에 따라 컴포넌트끼리 나눈 값). 이번 달 내내 지금처럼 실행되었다고 보고 계산하며, "
        "잠든 모델은 비용이 없습니다."
    ),
}

# English labels that count something: the value counted, and the label for one.
ONE: dict[str, tuple[str, str]] = {
    "first token {seconds:.2f} s · {tokens} tokens": (
        "tokens",
        "first token {seconds:.2f} s · {tokens} token",
    ),
    "Yes, delete all {count}": ("count", "Yes, delete the {count} conversation"),
    "{pages} pages · {characters:,} characters": ("pages", "{pages} page · {characters:,} characters"),
    "Stopped after {done} of {total} parts; here is what was done.": (
        "total",
        "Stopped after {done} of {total} part; here is what was done.",
    ),
    "Summarize {name} ({pages} pages).": ("pages", "Summarize {name} ({pages} page)."),
    " · {tokens} prompt tokens": ("tokens", " · {tokens} prompt token"),
    "Deleted {count} conversations": ("count", "Deleted {count} conversation"),
}
