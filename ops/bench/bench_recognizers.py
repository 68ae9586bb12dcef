"""Microbenchmark of the built-in entity recognizers and the lexicon emotion detector.

Prints µs per message (p50 / p99) for all five recognizers together (as a
ruleset runs them) and for emotion, on typical 60-character messages and on
1 KB, 10 KB and 100 KB texts; the µs-per-KB column shows the cost is linear.

    .venv/bin/python ops/bench/bench_recognizers.py          # wall clock
    .venv/bin/python ops/bench/bench_recognizers.py --cpu    # this thread's CPU time (shared machines)
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from frontdesk.plugins import entity_recognizers
from frontdesk.plugins.emotion_lexicon import lexicon_detector
from frontdesk.plugins.entity_recognizers import RECOGNIZERS

NOW = datetime(2026, 11, 18, 10, 0, tzinfo=timezone(timedelta(hours=8)))
ZH = "你们真行,发错货还拖三天!订单2024112212345678明天下午3点前不到就退我128元,电话13812345678"
EN = "My order SO20241122001 from Nov 22 never arrived, refund $12.99 by 3pm tomorrow or I call my lawyer"
MIXED = [
    ZH,
    EN,
    "帮我查下物流，顺丰单号SF1234567890123",
    "好的谢谢，没问题",
    "I'm not very happy, the item is broken. Call me on +86 139 1234 5678",
    "下周一上午10点前能送到吗？很着急！",
    "能开发票吗 公司报销要用",
    "thanks, that was really helpful",
]


def text_of(size: int) -> str:
    """`size` characters of realistic messages, one after another."""
    out, total, i = [], 0, 0
    while total < size:
        message = MIXED[i % len(MIXED)] + "\n"
        out.append(message)
        total += len(message)
        i += 1
    return "".join(out)[:size]


def measure(run: Callable[[str], object], text: str, rounds: int, clock: Callable[[], int]) -> list[float]:
    """µs per call, one sample per call, after a warm-up."""
    for _ in range(min(rounds, 20)):
        run(text)
    samples = []
    for _ in range(rounds):
        start = clock()
        run(text)
        samples.append((clock() - start) / 1000)
    return samples


def p(samples: list[float], q: float) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[int(q) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", action="store_true", help="time with this thread's CPU clock")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the number of rounds")
    args = parser.parse_args()
    clock = time.thread_time_ns if args.cpu else time.perf_counter_ns
    emotion = lexicon_detector({})

    def entities(text: str) -> object:
        # each message prepares its text once, as in a turn (the recognizers share it)
        entity_recognizers._prepared.cache_clear()
        return [recognize(text, NOW) for recognize in RECOGNIZERS.values()]

    def feeling(text: str) -> object:
        return emotion(text, "zh")

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"clock: {'thread CPU time' if args.cpu else 'wall'}; load average {load}; {os.cpu_count()} cores")
    # a yardstick for busy machines: every figure below scales with it
    digits = re.compile("[0-9]+")
    yardstick = statistics.median(measure(lambda t: list(digits.finditer(t)), ZH, 5000, clock))
    print(f"yardstick: one trivial regex scan of the zh message takes {yardstick:.2f} µs")
    cases = [
        ("zh message", ZH, 5000),
        ("en message", EN, 5000),
        ("1 KB", text_of(1_000), 1000),
        ("10 KB", text_of(10_000), 100),
        ("100 KB", text_of(100_000), 12),
    ]
    print(f"{'text':<12}{'chars':>8}  {'what':<22}{'p50 µs':>10}{'p99 µs':>10}{'p50 µs/KB':>11}")
    for label, text, rounds in cases:
        rounds = max(3, int(rounds * args.scale))
        for what, run in (("all 5 recognizers", entities), ("emotion (lexicon)", feeling)):
            samples = measure(run, text, rounds, clock)
            median = statistics.median(samples)
            per_kb = median / len(text) * 1000
            print(f"{label:<12}{len(text):>8}  {what:<22}{median:>10.1f}{p(samples, 99):>10.1f}{per_kb:>11.1f}")
    print("\nper recognizer on the zh / en message (p50 µs):")
    for name, recognize in RECOGNIZERS.items():
        zh, en = (statistics.median(measure(lambda t, r=recognize: r(t, NOW), text, 3000, clock)) for text in (ZH, EN))
        print(f"  {name:<14}{zh:>8.1f}{en:>8.1f}")


if __name__ == "__main__":
    main()
