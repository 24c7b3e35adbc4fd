"""Only a session that app.py lets in (a logged-in user, or anyone when no login is
configured) can make the server hold uploaded files.

Streamlit keeps whatever is PUT to ``/_stcore/upload_file/<session>/<file>`` in
memory until that session ends, for any live session: the login page's too, whose
id anyone who opens it gets. It has no setting or hook for who may upload (in 1.67
the route hands the bytes straight to the runtime's uploaded-file manager), so that
manager is wrapped, once per process, by the first page run (whoever's): for a
session not let in it refuses the file with 403 and holds nothing. Until a page
has run in the process nothing is refused; what was sent meanwhile is dropped then.
"""

import threading

from starlette.exceptions import HTTPException
from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager
from streamlit.runtime.scriptrunner import get_script_run_ctx
from streamlit.runtime.uploaded_file_manager import UploadedFileRec

_wrapping = threading.Lock()


def gate_uploads() -> set[str]:
    """The sessions whose uploads are held; from the first call in a process on,
    no other session's are. app.py calls it on every page run."""
    ctx = get_script_run_ctx()
    if ctx is None:  # not a page run: no session can upload
        return set()
    with _wrapping:
        admitted = getattr(ctx.uploaded_file_mgr, "admitted", None)
        return _admit_only_some(ctx.uploaded_file_mgr) if admitted is None else admitted


def admit_uploads() -> None:
    """Let this session's uploads be held (app.py calls it once a visitor is in)."""
    if ctx := get_script_run_ctx():
        gate_uploads().add(ctx.session_id)


def _admit_only_some(manager: MemoryUploadedFileManager) -> set[str]:
    """Make ``manager`` keep files only for the sessions in the set returned."""
    admitted: set[str] = set()
    add_file, remove_session_files = manager.add_file, manager.remove_session_files

    def add_if_admitted(session_id: str, file: UploadedFileRec) -> None:
        if session_id not in admitted:
            raise HTTPException(status_code=403, detail="Log in to upload files.")
        add_file(session_id, file)

    def forget(session_id: str) -> None:  # the session has ended
        admitted.discard(session_id)
        remove_session_files(session_id)

    manager.add_file, manager.remove_session_files = add_if_admitted, forget
    manager.admitted = admitted
    # What was held before this no session was let in for: a visitor's who came first.
    for session_id in list(manager.file_storage):
        remove_session_files(session_id)
    return admitted
