"""The class submits an assignment in the same second: the Assignment page's Submit, over the websocket.

Before the app server starts, :func:`prepare` stores one open assignment in the bench's fresh
PLAYGROUND_HOME with the CLI (``python -m playground assignment import - --open``), as a teacher would.
Each student (:class:`SubmitSession`) opens ``/assignment?id=...`` (its own browser, so its own owner
secret), and when every tab has the page, all of them click Submit at once (an asyncio barrier): a
``rerun_script`` whose widget states hold the button's ``trigger_value``, under the id the server sent in
the button's delta, as the frontend sends a click. The measured run is that click's: from the click to
the page showing the server's check. :func:`verify` then reads the database: one submission per click,
each from a different owner, none lost.
"""
from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import classroom_client as cc
from streamlit.proto.Alert_pb2 import Alert
from streamlit.proto.ClientState_pb2 import ClientState
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

PAGE = "Assignment-submit"
SUBMIT_LABEL = "Submit this design"  # playground/ui/assignments/student_view.py render_submit
SUCCESS_PREFIX = "Submitted:"
_STATE: dict[str, Any] = {"id": "", "home": None, "barrier": None, "clicks": 0}


def prepare(env: dict[str, str], repo: Path) -> str:
    """Store an open assignment (the first ready-made one) in ``env``'s PLAYGROUND_HOME; returns its id."""
    make = ("from playground.assignments.presets import PRESETS, preset; "
            "print(preset(next(iter(PRESETS))).to_json())")
    text = subprocess.run([sys.executable, "-c", make], capture_output=True, text=True, check=True, cwd=repo,
                          env=env).stdout
    made = subprocess.run([sys.executable, "-m", "playground", "assignment", "import", "-", "--open"], input=text,
                          capture_output=True, text=True, check=True, cwd=repo, env=env)
    _STATE.update(id=made.stdout.strip(), home=Path(env["PLAYGROUND_HOME"]), clicks=0)
    return _STATE["id"]


def query(_index: int) -> str:
    """Every student opens the same assignment."""
    return f"id={_STATE['id']}"


def expect(parties: int) -> None:
    """The next ``parties`` students click together (1 for the warm-up view)."""
    _STATE["barrier"] = asyncio.Barrier(parties)


@dataclass
class SubmitRun(cc.RunResult):
    """The run a Submit click starts, with what it showed."""

    shown: str = ""  # the success (or error) text: the server's check
    setup_runs: int = 1  # the page view before the click


class SubmitSession(cc.BrowserSession):
    """A browser tab that can click the Submit button."""

    def __init__(self, port: int, page_name: str, query_string: str = "") -> None:
        super().__init__(port, page_name, query_string)
        self.button_id = ""
        self.click = False
        self.shown: list[str] = []

    def _client_state(self) -> ClientState:
        state = super()._client_state()
        if self.click and self.button_id:
            state.widget_states.widgets.append(WidgetState(id=self.button_id, trigger_value=True))
        return state

    def _absorb(self, fwd: ForwardMsg, result: cc.RunResult) -> bool:
        if fwd.WhichOneof("type") == "delta" and fwd.delta.WhichOneof("type") == "new_element":
            element = fwd.delta.new_element
            kind = element.WhichOneof("type")
            if kind == "button" and element.button.label == SUBMIT_LABEL:
                self.button_id = element.button.id
            elif kind == "alert" and element.alert.format in (Alert.ERROR, Alert.SUCCESS):
                self.shown.append(element.alert.body)
        return super()._absorb(fwd, result)


async def first_submit(session: SubmitSession, timeout: Callable[[], float]) -> SubmitRun:
    """Open the page, wait for the whole class, click Submit: the click's run (unfinished if no check shown)."""
    view = await session.run_page(timeout())
    barrier = _STATE["barrier"]
    try:
        if not view.finished or not session.button_id:
            return SubmitRun(view.wall_s, False, status=view.status or "no Submit button on the page")
    finally:
        await barrier.wait()  # a tab that failed still lets the others go
    session.click, session.shown = True, []
    _STATE["clicks"] += 1
    run = await session.run_page(timeout())
    session.click = False  # a trigger is one-shot, as in the browser
    shown = " | ".join(session.shown)
    ok = run.finished and shown.startswith(SUCCESS_PREFIX)
    return SubmitRun(run.wall_s, ok, status=run.status if ok else f"{run.status}: {shown or 'no check shown'}"[:200],
                     messages=run.messages, exceptions=run.exceptions, shown=shown)


def verify(row: dict[str, Any]) -> None:
    """Add what the database holds to the page's row: every click stored once, each from its own owner."""
    path = _STATE["home"] / "assignments.sqlite3"
    with sqlite3.connect(path) as conn:
        stored, owners = conn.execute("SELECT COUNT(*), COUNT(DISTINCT owner) FROM submissions").fetchone()
    row["submissions"] = {"clicks": _STATE["clicks"], "stored": stored, "distinct_owners": owners}
    if stored != _STATE["clicks"] or owners != stored:
        row["problems"].append(f"submissions lost or merged: {json.dumps(row['submissions'])}")
