"""bench_classroom.py's results as the table it prints: a line per page, notes, then the targets."""
from __future__ import annotations

from typing import Any

import classroom_targets as ct

__all__ = ["format_table"]


def _pct(stats: dict[str, Any]) -> str:
    if "p50_s" not in stats:
        return f"{'-':>6} {'-':>6} {'-':>6}"
    return f"{stats['p50_s']:6.2f} {stats['p95_s']:6.2f} {stats['max_s']:6.2f}"


def format_table(results: dict[str, Any]) -> str:
    """The results as a fixed-width table, one line per page, problems listed below it."""
    head = (f"{'page':<15} {'ok 1st':>7} {'ok re':>7} | {'first view p50/p95/max s':>20} | "
            f"{'rerun p50/p95/max s':>20} | {'CPU/run s':>9} {'x blank':>7} {'x twin':>6} | "
            f"{'RSS MiB before->after':>21}")
    lines = [head, "-" * len(head)]
    notes = []
    for row in ([results["blank"]] if results["blank"] else []) + results["pages"]:
        ratio = row.get("cpu_x_blank")
        twin = f"{row['cpu_x_twin']:.1f}" if "cpu_x_twin" in row else "-"
        f, r = row["first"], row["rerun"]
        lines.append(
            f"{row['page']:<15} {f['finished']:>3}/{f['runs']:<3} {r['finished']:>3}/{r['runs']:<3} | "
            f"{_pct(f):>20} | {_pct(r):>20} | {row['cpu_per_run_s']:9.3f} "
            f"{(f'{ratio:.1f}' if ratio is not None else '1.0' if row is results['blank'] else '-'):>7} "
            f"{twin:>6} | "
            f"{row['rss_before_mib']:9.0f} -> {row['rss_after_mib']:<8.0f}")
        if "twin" in row:
            notes.append(f"{row['page']}: static twin ({row['twin']['elements']} elements per run) "
                         f"{row['twin']['cpu_per_run_s']:.4f} s CPU/run")
        if "warmup_s" in row:
            notes.append(f"{row['page']}: warm-up view (first student on a fresh server) {row['warmup_s']:.2f} s")
        notes += [f"{row['page']}: EXCEPTION {e}" for e in row["exceptions"]]
        notes += [f"{row['page']}: {p}" for p in row["problems"]]
        if "upload" in row:
            notes.append(f"{row['page']}: upload (file URLs + PUT) p50/p95/max s {_pct(row['upload']).strip()}; "
                         f"{row['distinct_photos']} distinct photos, first prediction = the run after it")
    if "startup_s" in results:
        notes.insert(0, f"app server healthy after {results['startup_s']:.1f} s; "
                        f"idle RSS {results['rss_idle_mib']:.0f} MiB")
    if results["leak"]:
        leak = results["leak"]
        rss = ", ".join(f"after {k} runs {v:.0f} MiB" for k, v in leak["rss_mib"].items())
        ratio = f"{leak['ratio']:.3f}" if leak["ratio"] is not None else "-"
        notes.append(f"leak check ({leak['page']}, {leak['sessions']} tabs, {leak['seconds']:.0f} s): {rss}; "
                     f"ratio {ratio}" + (f"; STOPPED at {leak['problem']}" if leak["problem"] else ""))
    if results.get("app_log_tail"):
        notes += ["", "--- end of the app server's log (a page raised) ---", results["app_log_tail"]]
    if results.get("timed_out"):
        notes.append(f"PARTIAL: {results['timed_out']}; pages after the last row were not measured")
    targets = ct.check(results)
    return "\n".join(lines + [""] + notes + (["", "Targets (the classroom issue's):", *targets] if targets else []))
