"""Getting into teacher mode: the passcode check with per-client back-off, a reset code, server-side sessions.

Three rules, each from an attack on a class server:

- **Wrong passcodes slow down only whoever types them.** Failures are counted per client key (this
  browser session, and its address); after :data:`FREE_TRIES` in :data:`ATTEMPT_WINDOW_SECONDS`
  that key waits, doubling up to :data:`MAX_WAIT_SECONDS`. There is no global lock: a student
  flooding the form cannot lock the teacher out.
- **The teacher can always get in**: from the server's own machine (a loopback connection that no
  proxy forwarded) no back-off applies, and the server's log holds a one-time *reset code*
  (:func:`reset_code`) that the passcode box accepts from anywhere, whatever the back-off.
- **A teacher's browser holds a random session id, not a passcode-derived value.** The server keeps
  its SHA-256, an expiry (:data:`SESSION_SECONDS`) and a MAC under the passcode in SQLite
  (``<home>/classroom.sqlite3``): Lock deletes the row, changing the passcode voids every row, and a
  copied cookie dies with its expiry.

No streamlit here; :mod:`playground.ui.owner` supplies the client key and keeps the cookie.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import sqlite3
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from playground.classroom import PASSCODE_ENV, ClassroomError
from playground.paths import home_dir

__all__ = ["FREE_TRIES", "ATTEMPT_WINDOW_SECONDS", "MAX_WAIT_SECONDS", "SESSION_SECONDS", "DB_FILE", "Client",
           "check_passcode", "reset_code", "new_teacher_session", "check_teacher_session", "end_teacher_session"]

FREE_TRIES = 5  # wrong passcodes per client key before it has to wait
ATTEMPT_WINDOW_SECONDS = 300.0  # failures older than this are forgotten
MAX_WAIT_SECONDS = 300.0  # the longest one client key waits (the wait doubles from 1 s)
SESSION_SECONDS = 12 * 3600  # a school day: a teacher's browser stays unlocked this long at most
DB_FILE = "classroom.sqlite3"  # under the data directory

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Client:
    """Who is typing a passcode: this browser session's id, and its address (None: the server's own machine)."""

    session: str
    address: str | None

    def keys(self) -> list[str]:
        """The back-off keys: the session always, the address unless it is the server's own machine."""
        return [f"session:{self.session}"] + ([f"address:{self.address}"] if self.address else [])


class _Backoff:
    """Wrong passcodes per client key in this server process (a restart forgets them, on purpose)."""

    def __init__(self) -> None:
        self._failed: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait_for(self, keys: list[str], now: float) -> float:
        """Seconds the slowest of ``keys`` must still wait (0: may try now)."""
        wait = 0.0
        with self._lock:
            for key in keys:
                times = self._failed.get(key)
                if not times:
                    continue
                while times and now - times[0] > ATTEMPT_WINDOW_SECONDS:
                    times.popleft()
                if len(times) >= FREE_TRIES:
                    delay = min(MAX_WAIT_SECONDS, 2.0 ** (len(times) - FREE_TRIES))
                    wait = max(wait, times[-1] + delay - now)
        return max(0.0, wait)

    def failed(self, keys: list[str], now: float) -> None:
        with self._lock:
            for key in keys:
                self._failed.setdefault(key, deque(maxlen=4 * FREE_TRIES + 16)).append(now)
            if len(self._failed) > 10_000:  # a flood of fresh session ids: forget the stale ones
                for key in [k for k, t in self._failed.items() if not t or now - t[-1] > ATTEMPT_WINDOW_SECONDS]:
                    del self._failed[key]


_BACKOFF = _Backoff()
_RESET: list[str] = []  # this process's current reset code (made on first use, replaced once used)
_RESET_LOCK = threading.Lock()


def reset_code() -> str:
    """This server's one-time teacher reset code, logged when made: it unlocks teacher mode from any
    browser, whatever the back-off, once; then a new one is made and logged."""
    with _RESET_LOCK:
        if not _RESET:
            _RESET.append(secrets.token_urlsafe(12))
            log.warning("teacher reset code (one use, type it in the passcode box): %s", _RESET[0])
        return _RESET[0]


def _use_reset_code(given: str) -> bool:
    with _RESET_LOCK:
        if not _RESET or not hmac.compare_digest(given.encode(), _RESET[0].encode()):
            return False
        _RESET.clear()
    log.warning("the teacher reset code was used; a new one follows")
    reset_code()
    return True


def check_passcode(given: str, expected: str | None, client: Client | None = None) -> bool:
    """Whether ``given`` is the class passcode (constant-time) or the reset code.

    ``client``: who types it (None: a trusted local caller). Raises ClassroomError while this
    client must wait after too many wrong tries, or when no passcode is set."""
    if expected is None:
        raise ClassroomError(f"no class passcode is set: put class_passcode in .streamlit/secrets.toml "
                             f"or set {PASSCODE_ENV}, then restart the app")
    given = given.strip()
    if _use_reset_code(given):
        return True
    keys = client.keys() if client is not None else []
    now = time.monotonic()
    wait = _BACKOFF.wait_for(keys, now)
    if wait:
        raise ClassroomError(f"too many wrong passcodes from this browser; try again in {wait:.0f} s "
                             "(the teacher can use the reset code in the server's log)")
    ok = hmac.compare_digest(given.encode(), expected.encode())
    if not ok:
        _BACKOFF.failed(keys, now)
    return ok


# --------------------------------------------------------------------------- teacher sessions


def _db(home: str | Path | None) -> sqlite3.Connection:
    conn = sqlite3.connect(Path(home or home_dir()) / DB_FILE, timeout=10.0)
    conn.execute("CREATE TABLE IF NOT EXISTS teacher_sessions (token_hash TEXT PRIMARY KEY, "
                 "passcode_mac TEXT NOT NULL, created REAL NOT NULL, expires REAL NOT NULL)")
    return conn


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _mac(passcode: str, token: str) -> str:
    return hmac.new(passcode.encode(), token.encode(), hashlib.sha256).hexdigest()


def new_teacher_session(passcode: str, home: str | Path | None = None, *, now: float | None = None) -> str:
    """Start a teacher session (after the passcode was checked); returns its random id, for the cookie."""
    token = secrets.token_urlsafe(32)
    now = time.time() if now is None else now
    conn = _db(home)
    try:
        with conn:  # one transaction: drop the expired rows, add this one
            conn.execute("DELETE FROM teacher_sessions WHERE expires < ?", (now,))
            conn.execute("INSERT INTO teacher_sessions VALUES (?, ?, ?, ?)",
                         (_hash(token), _mac(passcode, token), now, now + SESSION_SECONDS))
    finally:
        conn.close()
    return token


def check_teacher_session(token: object, passcode: str | None, home: str | Path | None = None, *,
                          now: float | None = None) -> bool:
    """Whether ``token`` (a cookie) is a live teacher session made under the current passcode."""
    if passcode is None or not isinstance(token, str) or not 20 <= len(token) <= 100:
        return False
    now = time.time() if now is None else now
    conn = _db(home)
    try:
        row = conn.execute("SELECT passcode_mac, expires FROM teacher_sessions WHERE token_hash = ?",
                           (_hash(token),)).fetchone()
    finally:
        conn.close()
    return row is not None and row[1] >= now and hmac.compare_digest(row[0], _mac(passcode, token))


def end_teacher_session(token: object, home: str | Path | None = None) -> None:
    """Revoke a teacher session (Lock): its cookie no longer unlocks anything, anywhere."""
    if not isinstance(token, str):
        return
    conn = _db(home)
    try:
        with conn:
            conn.execute("DELETE FROM teacher_sessions WHERE token_hash = ?", (_hash(token),))
    finally:
        conn.close()
