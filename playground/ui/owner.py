"""Who this browser is: its owner secret (a cookie), the student's display name, and teacher mode.

The secret is made once per browser (:func:`playground.classroom.new_owner_secret`), kept in
``session_state`` for this session and in a cookie (``SameSite=Strict``, ``Path=/``, a long
``Max-Age``) for every later session of the same browser: a reload, another tab, a restarted
server. It is never put in a URL, so a shared job link carries no ownership. Jobs store only
:func:`playground.classroom.owner_id` of it. Streamlit reads cookies when a session connects
(``st.context.cookies``) but cannot set them, so a tiny script writes them from the page
(:func:`cookie_script`), on every run until the connection presents them back.

Because a script sets them, these cookies cannot be ``HttpOnly``: the strongest properties Streamlit
allows are ``SameSite=Strict``, ``Path=/``, ``Secure`` over https and a bounded ``Max-Age``. The teacher
cookie therefore holds a random server-side session id (:mod:`playground.teacher_access`) that
expires within a day and that Lock or a new passcode revokes, never anything derived from the passcode.

Limits must not reset when a cookie is dropped, so :func:`client_address` names the computer too:
the connection's address, or behind a reverse proxy on the same machine the address the proxy
appended to ``X-Forwarded-For`` (trusted only from a loopback peer, which a student cannot be).
"""
from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from urllib.parse import unquote

import streamlit as st

from playground.classroom import (
    COOKIE_MAX_AGE_SECONDS,
    DISPLAY_NAME_MAX,
    NAME_COOKIE,
    OWNER_COOKIE,
    PASSCODE_SECRET,
    TEACHER_COOKIE,
    ClassroomError,
    Viewer,
    class_passcode,
    clean_display_name,
    new_owner_secret,
    note_secrets_passcode,
    owner_id,
    valid_secret,
)
from playground.paths import home_dir
from playground.teacher_access import (
    SESSION_SECONDS,
    Client,
    check_passcode,
    check_teacher_session,
    end_teacher_session,
    new_teacher_session,
)

__all__ = ["OWNER_SECRET_KEY", "OWNER_ID_KEY", "OWNER_NAME_KEY", "TEACHER_KEY", "passcode", "classroom_mode",
           "current_owner", "display_name", "set_display_name", "is_teacher", "unlock_teacher", "lock_teacher",
           "viewer", "cookie_script", "write_cookies", "name_input", "NAME_INPUT", "client_address", "client",
           "TEACHER_TOKEN_KEY"]

OWNER_SECRET_KEY = "owner_secret"  # session_state: this browser's secret (tests set it before a run)
OWNER_ID_KEY = "owner_id"  # session_state: the owner id in use (the secret's hash, or an adopted one)
OWNER_NAME_KEY = "owner_name"  # session_state: the display name the student chose
TEACHER_KEY = "teacher_unlocked"  # session_state: False once this session pressed Lock
TEACHER_TOKEN_KEY = "teacher_session"  # session_state: the teacher session id this session holds
_CLIENT_KEY = "client_session_id"  # session_state: a random id for this browser session (passcode back-off)
_PENDING_KEY = "owner_cookies_pending"  # session_state: cookies to (re)write: name -> value (None: delete)


def passcode() -> str | None:
    """The class passcode (``st.secrets["class_passcode"]`` or the environment), None on a single-user install."""
    try:
        value = st.secrets.get(PASSCODE_SECRET)
    except Exception:  # no secrets.toml at all (StreamlitSecretNotFoundError), or an unreadable one
        value = None
    code = class_passcode(value)
    # The library reads the environment itself; it learns of a passcode in secrets.toml from here
    # (its defaults for caps and the time limit follow class mode).
    note_secrets_passcode(isinstance(value, str | int) and bool(str(value).strip()))
    return code


def classroom_mode() -> bool:
    """Whether a class passcode is set (students own their jobs; a teacher controls all)."""
    return passcode() is not None


def _cookie(name: str) -> str | None:
    try:
        value = st.context.cookies.get(name)
    except Exception:  # no browser connection (bare mode)
        return None
    return unquote(value) if isinstance(value, str) else None


def _pending() -> dict[str, str | None]:
    return st.session_state.setdefault(_PENDING_KEY, {})


def _remember(name: str, value: str | None) -> None:
    """Have the browser keep (or forget, with None) cookie ``name`` from this run on."""
    if _cookie(name) != value:
        _pending()[name] = value
    else:
        _pending().pop(name, None)


def current_owner(adopt: Callable[[], str | None] | None = None) -> str:
    """This browser's owner id, establishing it on the session's first call.

    The session's secret, else the browser's cookie, else a new secret (and the cookie written).
    On a single-user install only, a fresh browser without a cookie that opens a job link takes
    that job's owner (``adopt()`` returns it), as one person's other browser would.
    """
    if OWNER_ID_KEY in st.session_state and OWNER_SECRET_KEY not in st.session_state:
        return st.session_state[OWNER_ID_KEY]  # adopted (single-user) earlier in this session
    secret = st.session_state.get(OWNER_SECRET_KEY)
    if not valid_secret(secret):
        secret = _cookie(OWNER_COOKIE)
        if not valid_secret(secret):
            adopted = adopt() if adopt is not None and not classroom_mode() else None
            if adopted:
                st.session_state[OWNER_ID_KEY] = adopted
                return adopted
            secret = new_owner_secret()
        st.session_state[OWNER_SECRET_KEY] = secret
    assert isinstance(secret, str)  # valid_secret() checked it, or new_owner_secret() made it
    _remember(OWNER_COOKIE, secret)
    st.session_state[OWNER_ID_KEY] = owner_id(secret)
    return st.session_state[OWNER_ID_KEY]


def display_name() -> str | None:
    """The name this student chose (session, else cookie), or None."""
    name = st.session_state.get(OWNER_NAME_KEY) or _cookie(NAME_COOKIE)
    try:
        name = clean_display_name(name) if name else None
    except ClassroomError:
        name = None
    if name:
        st.session_state[OWNER_NAME_KEY] = name
    return name


def set_display_name(name: str) -> str:
    """Keep the student's name with their owner secret (this session and the cookie); returns it tidied.
    Raises ClassroomError for an empty name."""
    clean = clean_display_name(name)
    st.session_state[OWNER_NAME_KEY] = clean
    _remember(NAME_COOKIE, clean)
    return clean


def client_address() -> str | None:
    """The address of this session's computer; None for the server's own machine (a loopback
    connection no proxy forwarded). Behind a local reverse proxy: the last X-Forwarded-For entry,
    the one the proxy itself appended (earlier entries are whatever the browser claimed)."""
    try:
        address = st.context.ip_address  # None for a loopback peer
        forwarded = st.context.headers.get("X-Forwarded-For") if address is None else None
    except Exception:  # no browser connection (bare mode)
        return None
    if isinstance(forwarded, str) and forwarded.strip():
        last = forwarded.split(",")[-1].strip()
        return last[:64] or None
    return address[:64] if isinstance(address, str) else None  # (a test harness gives no real address)


def client() -> Client:
    """Who this session is for the passcode back-off: a random id per browser session, and its address."""
    session = st.session_state.setdefault(_CLIENT_KEY, secrets.token_hex(8))
    return Client(session=session, address=client_address())


def is_teacher() -> bool:
    """Whether this session is the teacher's: a live server-side teacher session, held by this
    session (the passcode given here) or by the browser's cookie. Checked on every run, so a Lock
    or a new passcode anywhere ends it."""
    code = passcode()
    if code is None or st.session_state.get(TEACHER_KEY) is False:  # Lock wins over the cookie still shown
        return False
    token = st.session_state.get(TEACHER_TOKEN_KEY) or _cookie(TEACHER_COOKIE)
    if check_teacher_session(token, code, home_dir()):
        st.session_state[TEACHER_TOKEN_KEY] = token
        return True
    return False


def unlock_teacher(given: str) -> bool:
    """Check the passcode (or the reset code in the server's log); on success this session (and, by
    cookie, this browser) holds a new teacher session. Raises ClassroomError while this client must
    wait after too many wrong tries."""
    code = passcode()
    if not check_passcode(given, code, client()):
        return False
    assert code is not None  # check_passcode raised otherwise
    token = new_teacher_session(code, home_dir())
    st.session_state[TEACHER_KEY] = True
    st.session_state[TEACHER_TOKEN_KEY] = token
    _remember(TEACHER_COOKIE, token)
    return True


def lock_teacher() -> None:
    """Leave teacher mode: the server forgets this teacher session (its cookie unlocks nothing any more)."""
    end_teacher_session(st.session_state.pop(TEACHER_TOKEN_KEY, None), home_dir())
    end_teacher_session(_cookie(TEACHER_COOKIE), home_dir())
    st.session_state[TEACHER_KEY] = False
    _remember(TEACHER_COOKIE, None)


def viewer(adopt: Callable[[], str | None] | None = None) -> Viewer:
    """Who this session is, for :class:`~playground.classroom.Viewer` checks."""
    return Viewer(owner=current_owner(adopt), teacher=is_teacher(), classroom=classroom_mode())


def cookie_script(cookies: dict[str, str | None], max_age: int = COOKIE_MAX_AGE_SECONDS) -> str:
    """A <script> that sets (or, for None, deletes) ``cookies`` on the app's page: SameSite=Strict, Path=/,
    Secure over https. Values are JSON-encoded, with '<' escaped so no value can close the script."""
    data = json.dumps(cookies).replace("<", "\\u003c")
    return ("<script>(() => { const doc = window.parent.document;"
            " const secure = doc.location.protocol === 'https:' ? '; Secure' : '';"
            f" for (const [k, v] of Object.entries({data})) {{"
            " doc.cookie = k + '=' + (v === null ? '' : encodeURIComponent(v)) + '; Max-Age=' +"
            f" (v === null ? 0 : {int(max_age)}) + '; Path=/; SameSite=Strict' + secure; }} }})();</script>")


def write_cookies() -> None:
    """Write the cookies this session changed; call once per run, before anything can st.rerun().
    Repeated on each run until the browser's connection presents them (a reload), so a run cut
    short before the script reached the browser cannot lose the owner secret."""
    pending = {name: value for name, value in _pending().items() if _cookie(name) != value}
    st.session_state[_PENDING_KEY] = pending
    long_lived = {k: v for k, v in pending.items() if k != TEACHER_COOKIE}
    if long_lived:
        st.html(cookie_script(long_lived), unsafe_allow_javascript=True)
    if TEACHER_COOKIE in pending:  # the teacher's lives no longer than its server-side session
        st.html(cookie_script({TEACHER_COOKIE: pending[TEACHER_COOKIE]}, max_age=SESSION_SECONDS),
                unsafe_allow_javascript=True)


NAME_INPUT = "owner_name_input"  # the display-name text box


def name_input() -> str | None:
    """The student's display name box (prefilled once chosen; kept with the owner secret).
    Returns the name, or None (with a hint) while it is empty."""
    if NAME_INPUT not in st.session_state:
        st.session_state[NAME_INPUT] = display_name() or ""
    typed = st.text_input("Your name", key=NAME_INPUT, max_chars=DISPLAY_NAME_MAX, placeholder="e.g. your first name",
                          help="The teacher sees it beside your jobs. Kept in this browser, never in a link.")
    try:
        return set_display_name(typed)
    except ClassroomError:
        st.caption(":material/badge: Type your name to start a job: the teacher sees it beside your jobs.")
        return None
