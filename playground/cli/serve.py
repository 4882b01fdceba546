"""``python -m playground serve [STREAMLIT OPTIONS...]``: start the app with its server side up first.

``streamlit run app.py`` runs nothing of the app until the first browser connects, so queued jobs
waited for a page view after a restart. This command takes the data folder's lock, raises the
open-file limit and starts the job manager (:func:`playground.serverstart.start_server`) in this
process, then hands the same process to Streamlit: the app's pages find that manager already running.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from playground.errors import PlaygroundError

__all__ = ["HELP", "add_arguments", "run", "APP"]

HELP = "Start the web app (queued jobs start at once; options after it go to `streamlit run`)."
APP = Path(__file__).resolve().parents[2] / "app.py"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``serve``: everything after it is passed to ``streamlit run`` as it is."""
    parser.add_argument("streamlit_args", nargs=argparse.REMAINDER, metavar="STREAMLIT OPTIONS",
                        help="e.g. --server.address 0.0.0.0 --server.port 8501")


def run(args: argparse.Namespace) -> int:
    """Start the server side, then Streamlit (which runs until stopped)."""
    from streamlit.web import cli as streamlit_cli

    from playground.serverstart import start_server

    if not APP.is_file():
        raise PlaygroundError(f"app.py is not beside the playground package ({APP}); run `streamlit run app.py` "
                              "from a checkout instead")
    from playground.classroom import note_secrets_passcode

    in_class = _class_mode()
    note_secrets_passcode(in_class)  # a passcode only in secrets.toml: class defaults and time limit from now
    refused = start_server(class_mode=in_class)
    if refused:
        raise PlaygroundError(refused)
    streamlit_cli.main.main(args=["run", str(APP), *args.streamlit_args], prog_name="streamlit")
    return 0


def _class_mode() -> bool:
    """Whether a class passcode is set: the environment, or ``class_passcode`` in a secrets.toml Streamlit
    will read (read here with tomllib: touching ``st.secrets`` before Streamlit starts makes it warn)."""
    import tomllib

    from playground.classroom import PASSCODE_SECRET, class_mode

    if class_mode():
        return True
    for path in (Path.cwd() / ".streamlit" / "secrets.toml", Path.home() / ".streamlit" / "secrets.toml"):
        try:
            value = tomllib.loads(path.read_text()).get(PASSCODE_SECRET)
        except (OSError, ValueError):
            continue
        if isinstance(value, str | int) and str(value).strip():
            return True
    return False
