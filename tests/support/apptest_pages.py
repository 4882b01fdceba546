"""Helpers shared by the AppTest page tests: run a page standalone, read what it shows."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

__all__ = ["run_page", "metrics", "assert_clean", "teacher_session"]

PAGES = Path(__file__).resolve().parents[2] / "app_pages"


def run_page(name: str, timeout: float = 180, **query: str) -> AppTest:
    """Run ``app_pages/<name>.py`` standalone (no router) with URL ``query`` params; return the finished session."""
    at = AppTest.from_file(str(PAGES / f"{name}.py"), default_timeout=timeout)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    return at


def metrics(at: AppTest) -> dict[str, str]:
    """Every ``st.metric`` on the page: label -> shown value."""
    return {m.label: m.value for m in at.metric}


def assert_clean(at: AppTest) -> None:
    """No uncaught exception and no error box."""
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def teacher_session(passcode: str) -> AppTest:
    """A teacher's session: the Teacher page with a fresh owner cookie, unlocked with ``passcode`` (the class's,
    which the test has set in the environment)."""
    from playground import classroom as cr
    from playground.ui.owner import OWNER_SECRET_KEY
    from playground.ui.teacher import PASSCODE_INPUT, UNLOCK_BUTTON

    at = AppTest.from_file(str(PAGES / "teacher.py"), default_timeout=120)
    at.session_state[OWNER_SECRET_KEY] = cr.new_owner_secret()
    at.run()
    at.text_input(key=PASSCODE_INPUT).input(passcode)
    at.button(key=UNLOCK_BUTTON).click().run()
    return at
