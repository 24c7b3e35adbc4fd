"""Markdown from untrusted text (model output, documents, questions) made safe to render.

An image in Markdown is fetched by the browser as soon as it is drawn, so a
model steered by a hidden instruction in a document could send what it read to
any server in an image's URL.  A zero-width space between ``!`` and ``[`` turns
every image, inline or by reference, into a plain link: it reads the same and
fetches nothing until clicked.  Streamlit escapes raw HTML, so no ``<img>`` gets
through either.  Written here because Streamlit's Markdown has no switch for it.
"""

from __future__ import annotations

import re

_IMAGE = "!["
_LINK = "!\u200b["
_OPENS_A_LINK = re.compile(r"[\\\[\]<>]")


def safe_markdown(text: str) -> str:
    return text.replace(_IMAGE, _LINK)


def plain(text: str) -> str:
    """Text that is not Markdown (an error's message, with a server's words or a file's
    name in it) as Markdown that shows it as written: each character that can open a
    link, an image, an autolink or HTML (``[ ] < >``, and ``\\``, which would escape
    the escape) is escaped.  Bare URLs, which GitHub's Markdown links by themselves,
    are for ``errors.redacted`` to remove."""
    return _OPENS_A_LINK.sub(r"\\\g<0>", text)
