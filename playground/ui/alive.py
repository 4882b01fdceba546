"""Whether the browser session that started this script run is still connected (for long work to stop)."""
from __future__ import annotations

from collections.abc import Callable

__all__ = ["session_alive"]


def session_alive() -> Callable[[], bool]:
    """A callable that says whether this run's session is still active; always True outside a Streamlit
    server (tests, the CLI), so work there runs to its own limits."""
    try:
        from streamlit.runtime import Runtime
        from streamlit.runtime.scriptrunner import get_script_run_ctx
    except ImportError:  # pragma: no cover - streamlit is a dependency of the ui package
        return lambda: True
    ctx = get_script_run_ctx()
    if ctx is None or not Runtime.exists():
        return lambda: True
    runtime, session_id = Runtime.instance(), ctx.session_id
    return lambda: bool(runtime.is_active_session(session_id))
