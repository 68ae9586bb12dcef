"""Latency of masking + the injection guard on the hot path, one caller.

    .venv/bin/python ops/bench/bench_privacy.py [--n 3000]

Prints p50/p99 in microseconds for mask, guard and both together on typical
60-character messages (Chinese and English, with a phone number or a card) and
on 1 KB, 10 KB and 100 KB texts, plus µs per KB so linear growth is visible.
The message is built, not read from a data set.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from frontdesk.masking import Masker
from frontdesk.plugins.injection_guard import scan
from frontdesk.plugins.pii_recognizers import default_recognizers

MESSAGES = {
    "zh-60": "您好，我的手机号是13812345678，上周买的蓝牙耳机一直没有发货，麻烦帮我查一下物流现在到哪里了，谢谢您！",
    "zh-60-no-pii": "您好，上周买的蓝牙耳机一直没有发货，麻烦帮我查一下物流现在到哪里了，急着用，能不能快一点，谢谢！",
    "en-60": "Hi, card 4111 1111 1111 1111 was charged twice, call me back",
}
# one kilobyte of customer-like text with some personal data in it, repeated for longer texts
_BLOCK = (
    "我的订单20240315001还没到，收货人张伟，手机13812345678，地址北京市朝阳区建国路100号。"
    "Please refund card 4111 1111 1111 1111 or email me at wei.zhang@example.com. "
)


def sized(n_bytes: int) -> str:
    text = ""
    while len(text.encode()) < n_bytes:
        text += _BLOCK
    return text


def samples(op: Callable[[], object], n: int) -> list[int]:
    for _ in range(min(n, 200)):
        op()
    out = []
    for _ in range(n):
        start = time.perf_counter_ns()
        op()
        out.append(time.perf_counter_ns() - start)
    return out


def line(name: str, ns: list[int], size: int) -> str:
    q = statistics.quantiles(ns, n=100)
    per_kb = q[49] / 1000 / max(size / 1024, 1e-9)
    return f"{name:<26} p50 {q[49] / 1000:9.1f}  p99 {q[98] / 1000:9.1f} µs   ({per_kb:8.1f} µs/KB)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000, help="samples for short messages (long texts use fewer)")
    args = parser.parse_args()
    masker = Masker(default_recognizers())
    texts = dict(MESSAGES) | {"1KB": sized(1024), "10KB": sized(10 * 1024), "100KB": sized(100 * 1024)}
    for name, text in texts.items():
        size = len(text.encode())
        n = max(20, min(args.n, args.n * 60 // max(len(text), 60)))
        print(f"{name}: {len(text)} characters, {size} bytes, {n} samples")
        for label, op in (
            ("mask", lambda t=text: masker.mask(t)),
            ("guard", lambda t=text: scan(t)),
            ("mask+guard", lambda t=text: (masker.mask(t), scan(t))),
        ):
            print("  " + line(label, samples(op, n), size))


if __name__ == "__main__":
    main()
