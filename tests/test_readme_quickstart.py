"""The README's quick start: sharing with a class means a passcode and a reachable address; the
single-user command stays on the machine; the install's size is said."""
from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _quick_start() -> str:
    text = README.read_text(encoding="utf-8")
    return text.split("## Two commands", 1)[1].split("\n## ", 1)[0]


def test_the_class_command_sets_a_passcode_and_an_address() -> None:
    (class_run,) = [line for line in _quick_start().splitlines() if "playground serve --server.address 0.0.0.0"
                    in line]
    assert "PLAYGROUND_CLASS_PASSCODE=" in class_run
    assert "share it with the class" not in _quick_start()  # the old advice: a passcode-less server to share


def test_the_laptop_command_listens_on_this_machine_only() -> None:
    assert "streamlit run app.py --server.address localhost" in _quick_start()


def test_the_install_size_is_said() -> None:
    assert re.search(r"about \d+ GB", _quick_start()) and "du -sh" in _quick_start()
