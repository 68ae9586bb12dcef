"""One turn through every stage (guard, mask, understand, decide, act, guard output; no I/O):
p50/p99 CPU µs per turn and the turns per second one core sustains, then the same for the
pipeline's glue around the stages (remember, turn_result, transcript_entry).

    python ops/bench/bench_turn.py [--ruleset rulesets/shop-zh] [--turns 3000]

Runs the sample ruleset as shipped, then the same ruleset with 200 extra rules
(equalities, memberships, numeric comparisons, regular expressions, windows)
to show how the decide stage scales, and the shipped ruleset once more with the core
idle --idle-ms before each turn: what a turn costs a server at one connection, which
waits between requests while its caches go cold. Pin it to one core with `taskset -c 0`.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from frontdesk.bootstrap import build_engine
from frontdesk.pipeline import remember, transcript_entry, turn_result
from frontdesk.types import ConversationState, Message, Turn

MESSAGES = {
    "zh": ["我的订单到哪了", "快递怎么还没到", "你们真行,发错货还拖三天!", "我要退款", "转人工", "开发票", "你好"],
    "en": ["where is my card", "I lost my card", "how do I transfer money", "this is ridiculous", "hello"],
}


def extra_rules(ruleset_dir: Path, count: int) -> str:
    """`count` rules of mixed kinds, written as a second file of the ruleset."""
    lines = ["rules:"]
    for i in range(count):
        kind = i % 5
        when = [
            f"{{customer.segment: seg{i}}}",
            f"{{customer.level: {{in: [L{i}, M{i}, N{i}]}}}}",
            f"{{customer.orders: {{gt: {i}}}, emotion: negative}}",
            f"{{text: {{matches: 'kw{i}|词{i}'}}}}",
            f"{{channel: ch{i}, intent.confidence: {{gte: 0.{i % 9 + 1}}}}}",
        ][kind]
        window = "\n    window: {count: 3, within: 10m}" if i % 20 == 0 else ""
        lines.append(f"  - id: bench-{i}\n    when: {when}{window}\n    then: [{{tag: t{i}}}]")
    return "\n".join(lines) + "\n"


STAGE_TOTALS: dict[str, float] = {}
CORE_STAGES = ("understand", "decide", "act")  # the engine core, without guards and masking
CORE_SAMPLES: list[float] = []
GLUE_SAMPLES: list[float] = []  # what Engine.handle does with a turn once its stages ran


async def measure(engine, turns: int, idle_s: float = 0.0) -> list[float]:
    ruleset = engine.ruleset(None)
    texts = MESSAGES.get(ruleset.spec.language, MESSAGES["en"])
    samples = []
    for i in range(turns):
        message = Message(texts[i % len(texts)], conversation_id=f"b{i % 50}", customer={"orders": i % 40})
        turn = Turn(message=message, state=ConversationState(message.conversation_id), ruleset=ruleset)
        if idle_s:
            time.sleep(idle_s)
        start = time.thread_time_ns()  # CPU time of this thread: steady even on a busy machine
        await engine.run_stages(turn)
        samples.append((time.thread_time_ns() - start) / 1e3)
        start = time.thread_time_ns()
        remember(turn)
        turn_result(turn)
        transcript_entry(turn)
        GLUE_SAMPLES.append((time.thread_time_ns() - start) / 1e3)
        for stage, micros in turn.explain.timings_us.items():
            STAGE_TOTALS[stage] = STAGE_TOTALS.get(stage, 0.0) + micros / turns
        CORE_SAMPLES.append(sum(turn.explain.timings_us[s] for s in CORE_STAGES))
    return samples


def report(label: str, samples: list[float]) -> None:
    samples = samples[len(samples) // 10 :]  # drop warm-up
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[int(len(ordered) * 0.99) - 1]
    per_second = 1e6 / statistics.fmean(ordered)
    print(f"{label:<34} p50 {p50:7.1f} µs   p99 {p99:7.1f} µs   {per_second:8.0f} turns/s")
    print("    mean µs by stage: " + "  ".join(f"{k} {v:.0f}" for k, v in STAGE_TOTALS.items()))
    core = sorted(CORE_SAMPLES[len(CORE_SAMPLES) // 10 :])
    print(
        f"    understand+decide+act: p50 {statistics.median(core):.1f} µs  p99 {core[int(len(core) * 0.99) - 1]:.1f} µs"
    )
    glue = sorted(GLUE_SAMPLES[len(GLUE_SAMPLES) // 10 :])
    print(f"    glue: p50 {statistics.median(glue):.1f} µs  p99 {glue[int(len(glue) * 0.99) - 1]:.1f} µs")
    STAGE_TOTALS.clear()
    CORE_SAMPLES.clear()
    GLUE_SAMPLES.clear()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ruleset", type=Path, default=Path("rulesets/shop-zh"))
    parser.add_argument("--turns", type=int, default=3000)
    parser.add_argument("--extra-rules", type=int, default=200)
    parser.add_argument("--idle-ms", type=float, default=2.0, help="idle time before each turn of the cold run")
    args = parser.parse_args()
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {args.turns} turns each")
    engine = build_engine([args.ruleset])
    report(
        f"{engine.ruleset(None).name} ({len(engine.ruleset(None).rules())} rules)",
        asyncio.run(measure(engine, args.turns)),
    )
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "bench"
        shutil.copytree(args.ruleset, copy)
        (copy / "bench-extra.yaml").write_text(extra_rules(copy, args.extra_rules), encoding="utf-8")
        big = build_engine([copy])
        total = len(big.ruleset(None).rules())
        report(f"+{args.extra_rules} rules ({total} rules)", asyncio.run(measure(big, args.turns)))
    cold_turns = max(100, args.turns // 3)
    report(
        f"{engine.ruleset(None).name}, {args.idle_ms:g} ms idle before each",
        asyncio.run(measure(engine, cold_turns, args.idle_ms / 1000)),
    )


if __name__ == "__main__":
    main()
