"""playground._fileio: the one atomic JSON writer of the on-disk stores."""
from __future__ import annotations

import json
import threading
from pathlib import Path

from playground._fileio import write_json_atomic


def test_write_replaces_whole_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    write_json_atomic(path, {"a": 1, "long": "x" * 10_000})
    write_json_atomic(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_concurrent_writers_never_leave_half_a_file(tmp_path: Path) -> None:
    path = tmp_path / "state.json"

    def write(n: int) -> None:
        for i in range(50):
            write_json_atomic(path, {"writer": n, "i": i, "pad": "y" * 5_000})

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    data = json.loads(path.read_text())
    assert data["i"] == 49 and data["writer"] in range(4)
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]
