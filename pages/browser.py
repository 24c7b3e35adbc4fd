"""What only the browser can do for the chat page: put an answer on the clipboard in one
click, and keep an answer in view while it streams.  Streamlit has neither (st.code's copy
button shows on hover, and its chat scrolls only a page already at the bottom), so each
is a few lines of JavaScript in ``st.html``.  The scripts are constants: the answer's text
goes in an HTML attribute, escaped, never into the script."""

import html

import streamlit as st

from pages.common import t

# A button drawn like Streamlit's tertiary ones, in either theme (it inherits the text colour).
COPY_BUTTON = """
<style>
.copy-answer {{ display: inline-flex; align-items: center; gap: 0.4rem; padding: 0.25rem 0.5rem;
  border: 0; border-radius: 0.5rem; background: none; color: inherit; font: inherit; font-size: 0.875rem;
  cursor: pointer; }}
.copy-answer:hover {{ background: rgba(128, 128, 128, 0.15); }}
.copy-answer .icon {{ font-family: "Material Symbols Rounded"; font-size: 1.125rem; line-height: 1; }}
</style>
<button type="button" class="copy-answer" aria-label="{label}" data-text="{text}" data-done="{done}">
<span class="icon" aria-hidden="true">content_copy</span><span class="label">{label}</span></button>
<script>
(() => {{
  const button = document.currentScript.previousElementSibling;
  const label = button.querySelector(".label");
  const named = (name) => {{ label.textContent = name; button.setAttribute("aria-label", name); }};
  button.addEventListener("click", async () => {{
    const text = button.dataset.text;
    try {{
      await navigator.clipboard.writeText(text);
    }} catch {{
      // The clipboard API needs a secure context (https or this machine): the older way.
      const area = Object.assign(document.createElement("textarea"), {{ value: text }});
      document.body.append(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }}
    const was = label.textContent;
    named(button.dataset.done);
    setTimeout(() => named(was), 2000);
  }});
}})();
</script>
"""

# Keeps the answer being streamed (the chat message this script is in) in view as it
# grows, until the user scrolls or types (they have taken over) or the page redraws it.
FOLLOW = """
<script>
(() => {
  const here = document.currentScript;
  const message = here.closest('[data-testid="stChatMessage"]');
  if (!message) return;
  let following = true;
  for (const name of ["wheel", "touchmove", "keydown"]) {
    window.addEventListener(name, () => { following = false; }, { once: true, passive: true });
  }
  const observer = new ResizeObserver(() => {
    if (!following || !here.isConnected) return observer.disconnect();
    message.scrollIntoView({ block: "end" });
  });
  observer.observe(message);
})();
</script>
"""


def copy_button(text: str) -> None:
    """A Copy button that puts ``text`` on the clipboard and says "Copied"."""
    values = {"text": text, "label": t("Copy"), "done": t("Copied")}
    body = COPY_BUTTON.format(**{name: html.escape(value, quote=True) for name, value in values.items()})
    st.html(body, width="content", unsafe_allow_javascript=True)


def follow() -> None:
    """Keep the chat message this is drawn in (the answer streaming) in view."""
    st.html(FOLLOW, width="content", unsafe_allow_javascript=True)
