"""Benchmark: how long the schedule part of ``gridedge check`` takes on large schedule files.

Run: .venv/bin/python bench/check.py [--sizes 1000 5000 20000] [--repeat 1] [--baseline REF]

A schedule of N text announcements is written the way staff write them (a title, one or two
speakers, a weekday, a time, a 20-character text, some with ``every``/``window``), each on its own
slot so that the schedule is valid and the whole check runs (no early exit on an error). The
daemon loads the same files on every edit, so this is also the reload time.

Reported per size: seconds to load and check (the best of ``--repeat`` runs), microseconds per
announcement, and that per-announcement cost relative to the smallest size (1.0 = linear; the
quadratic check this replaced took 4–11 s at 1,000 and 72–145 s at 4,000, i.e. a ratio of about
4 from 1,000 to 4,000). The goal of issue 15: 20,000 announcements in under 10 s.

``--baseline REF`` also times the ``edge`` package of git commit REF (e.g. the commit before the
check was made near-linear) on the same files in the same run, for ``--baseline-sizes`` (default
1,000 only: the old check needs minutes above that), and prints the speed-up.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.config import load_config
from edge.schedule.load import load_schedules

REPO = Path(__file__).resolve().parents[1]
SPEAKERS = ("东门", "南门", "西门", "北门")
WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
GOAL_S = 10.0
TODAY = date(2026, 12, 4)


def schedule_text(count: int) -> str:
    """``count`` valid announcements, each on its own speaker, weekday and minute."""
    lines = ["announcements:"]
    # Daytime minutes outside the site's quiet hours (21:30–07:00): 07:00 … 21:29.
    minutes = list(range(7 * 60, 21 * 60 + 30))
    slots = [(s, d, m) for m in minutes for d in range(7) for s in range(4)]
    if count > len(slots):
        msg = f"at most {len(slots)} announcements fit one per slot"
        raise ValueError(msg)
    for i in range(count):
        speaker, day, minute = slots[i]
        lines += [f"  公告{i:05d}:",
                  f"    title: 第{i}条政策宣传",
                  f"    text: 第{i}条：请居民按时参加医保缴费，谢谢配合",
                  f"    speakers: {SPEAKERS[speaker]}",
                  f"    days: {WEEKDAYS[day]}",
                  f'    at: "{minute // 60:02d}:{minute % 60:02d}"']
    return "\n".join(lines) + "\n"


def _site(folder: Path, count: int) -> Path:
    shutil.copy(REPO / "config.yaml", folder / "config.yaml")
    (folder / "schedules").mkdir()
    shutil.copy(REPO / "schedules" / "holidays.yaml", folder / "schedules" / "holidays.yaml")
    (folder / "schedules" / "announcements.yaml").write_text(schedule_text(count), "utf-8")
    return folder / "config.yaml"


def measure(count: int, repeat: int) -> float:
    """Best wall time of loading and checking a schedule of ``count`` announcements."""
    best = float("inf")
    with tempfile.TemporaryDirectory(prefix="gridedge-bench-check-") as tmp:
        config = load_config(_site(Path(tmp), count))
        for _ in range(repeat):
            started = time.perf_counter()
            schedule = load_schedules(config, today=TODAY)
            best = min(best, time.perf_counter() - started)
            assert len(schedule.announcements) == count
    return best


def measure_at(ref: str, count: int, repeat: int) -> float:
    """``measure`` with the ``edge`` package as it was at git commit ``ref``."""
    with tempfile.TemporaryDirectory(prefix="gridedge-bench-base-") as tmp:
        archive = subprocess.run(["git", "archive", ref, "edge", "device_profiles"], cwd=REPO, check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        shutil.copy(Path(__file__), Path(tmp) / "bench_check.py")
        code = (f"import pathlib, bench_check; bench_check.REPO = pathlib.Path({str(REPO)!r}); "
                f"print(bench_check.measure({count}, {repeat}))")
        env = {**os.environ, "PYTHONPATH": tmp}
        done = subprocess.run([sys.executable, "-c", code], cwd=tmp, env=env, check=True,
                              capture_output=True, text=True)
        return float(done.stdout.strip().splitlines()[-1])


def main() -> int:
    """Print the figures; exit 1 when the largest size misses the goal."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20000])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--baseline", help="git commit whose edge package is the baseline")
    parser.add_argument("--baseline-sizes", type=int, nargs="+", default=[1000])
    args = parser.parse_args()
    print(f"{'announcements':>14}{'seconds':>10}{'µs each':>10}{'vs first':>10}")
    base = None
    seconds = 0.0
    measure(100, 1)  # imports and first-use caches are not what is measured
    for count in args.sizes:
        seconds = measure(count, args.repeat)
        each = seconds / count
        base = base or each
        print(f"{count:>14}{seconds:>10.2f}{each * 1e6:>10.0f}{each / base:>10.2f}", flush=True)
    if args.baseline:
        print(f"\nbaseline {args.baseline}, same files:")
        print(f"{'announcements':>14}{'baseline s':>12}{'now s':>10}{'speed-up':>10}")
        for count in args.baseline_sizes:
            before = measure_at(args.baseline, count, args.repeat)
            now = measure(count, args.repeat)
            print(f"{count:>14}{before:>12.2f}{now:>10.2f}{before / now:>9.1f}x", flush=True)
    largest = max(args.sizes)
    verdict = "meets" if seconds < GOAL_S else "MISSES"
    print(f"\n{largest} announcements: {seconds:.2f} s, {verdict} the goal of {GOAL_S:.0f} s")
    return 0 if seconds < GOAL_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
