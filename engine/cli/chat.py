"""`frontdesk chat`: talk to a ruleset in the terminal, or script it through stdin.

Interactive commands: /explain (why the last reply), /state (slots, status),
/reset (new conversation), /help, /quit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from pathlib import Path
from typing import Any

from frontdesk.bootstrap import build_engine
from frontdesk.errors import FrontdeskError
from frontdesk.llm_service import close_services
from frontdesk.pipeline import Engine
from frontdesk.types import Message

HELP = "commands: /explain  /state  /reset  /help  /quit"


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("chat", help="hold a conversation with a ruleset")
    parser.add_argument("--ruleset", type=Path, required=True, help="ruleset folder")
    parser.add_argument("--json", action="store_true", help="print one JSON object per turn")
    parser.add_argument("--customer", action="append", default=[], metavar="KEY=VALUE", help="customer facts")
    parser.add_argument("--user", default="cli-user", help="user id")
    parser.add_argument("--channel", default="cli")
    parser.set_defaults(func=run)


def _customer(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise FrontdeskError(f"--customer {pair!r}", code="bad_argument", hint="write KEY=VALUE, e.g. level=VIP")
        out[key.strip()] = value.strip()
    return out


def summary(result: dict[str, Any]) -> dict[str, Any]:
    """The scripted view of a turn: what a test or a pipe needs."""
    return {
        "reply": result["reply"]["text"] if result["reply"] else None,
        "template": result["reply"]["template"] if result["reply"] else None,
        "intent": result["intent"]["name"],
        "confidence": result["intent"]["confidence"],
        "entities": {e["type"]: e["value"] for e in reversed(result["entities"])},
        "slots": result["slots"],
        "emotion": result["emotion"],
        "actions": result["actions"],
        "handoff": result["handoff"],
        "rules": [r["id"] for r in result["explain"]["rules"]],
        "status": result["status"],
    }


def format_explain(result: dict[str, Any]) -> str:
    ex = result["explain"]
    intent = ex["intent"]
    lines = [f"intent     {intent['name']} ({intent['confidence']:.2f}, {intent['source']})"]
    for cand in intent["candidates"][1:]:
        lines.append(f"           runner-up {cand['name']} ({cand['confidence']:.2f})")
    entities = ", ".join(f"{e['type']}={e['value']}" for e in result["entities"]) or "-"
    lines.append(f"entities   {entities}")
    lines.append(f"slots      {json.dumps(result['slots'], ensure_ascii=False)}")
    emotion = result["emotion"]
    lines.append(
        f"emotion    {emotion['label']} ({emotion['score']:+.2f})"
        + (" anger" if emotion["anger"] else "")
        + (" urgency" if emotion["urgency"] else "")
        + (f"  cues: {', '.join(ex['emotion_cues'])}" if ex["emotion_cues"] else "")
    )
    if not ex["rules"]:
        lines.append("rules      none matched")
    for rule in ex["rules"]:
        matched = ", ".join(f"{k}={v!r}" for k, v in rule["matched"].items()) or "always"
        lines.append(f"rule       {rule['id']} (priority {rule['priority']}) on {matched}")
    for item in ex["suppressed"]:
        lines.append(f"suppressed {item['rule']}: {item['reason']}")
    actions = ", ".join(a["type"] for a in result["actions"]) or "-"
    lines.append(f"actions    {actions}")
    timings = "  ".join(f"{k} {v:.0f}µs" for k, v in ex["timings_us"].items())
    lines.append(f"timings    {timings}")
    return "\n".join(lines)


class ChatSession:
    def __init__(self, engine: Engine, args: argparse.Namespace) -> None:
        self.engine = engine
        self.args = args
        self.customer = _customer(args.customer)
        self.conversation = uuid.uuid4().hex[:12]
        self.last: dict[str, Any] | None = None

    async def say(self, text: str) -> dict[str, Any]:
        message = Message(
            text,
            conversation_id=self.conversation,
            user_id=self.args.user,
            channel=self.args.channel,
            customer=dict(self.customer),
        )
        self.last = await self.engine.handle(message)
        return self.last

    async def command(self, line: str) -> bool:
        """Handle a /command; False means quit."""
        word = line.split()[0].lower()
        if word in ("/quit", "/exit"):
            return False
        if word == "/explain":
            print(format_explain(self.last) if self.last else "nothing to explain yet")
        elif word == "/state":
            state = await self.engine.store.load(self.conversation)
            print(json.dumps(state.to_dict() if state else {}, ensure_ascii=False, indent=2))
        elif word == "/reset":
            self.conversation, self.last = uuid.uuid4().hex[:12], None
            print("(new conversation)")
        else:
            print(HELP)
        return True


async def _interactive(session: ChatSession) -> int:
    ruleset = session.engine.ruleset(None)
    print(f"frontdesk chat — {ruleset.name} {ruleset.version}. {HELP}")
    loop = asyncio.get_running_loop()
    while True:
        try:
            line = await loop.run_in_executor(None, input, "you> ")
        except EOFError:
            print()
            return 0
        if not line.strip():
            continue
        if line.startswith("/"):
            if not await session.command(line):
                return 0
            continue
        try:
            result = await session.say(line)
        except FrontdeskError as exc:
            print(f"error: {exc}")
            continue
        print(f"bot> {result['reply']['text'] if result['reply'] else '(no reply)'}")
        if result["handoff"]:
            print(f"     [handed off to {result['handoff']['queue']}, priority {result['handoff']['priority']}]")


async def _scripted(session: ChatSession) -> int:
    status = 0
    for raw in sys.stdin:
        line = raw.rstrip("\n")
        if line.startswith("/"):
            if not await session.command(line):
                break
            continue
        try:
            result = await session.say(line)
        except FrontdeskError as exc:
            status = 1
            if session.args.json:
                print(json.dumps(exc.to_dict(), ensure_ascii=False))
            else:
                print(f"error: {exc}")
            continue
        if session.args.json:
            print(json.dumps(summary(result), ensure_ascii=False), flush=True)
        else:
            print(result["reply"]["text"] if result["reply"] else "", flush=True)
    return status


async def _session(session: ChatSession, interactive: bool) -> int:
    try:
        return await (_interactive(session) if interactive else _scripted(session))
    finally:
        await close_services(session.engine.services)  # the model vendors' connection pools


def run(args: argparse.Namespace) -> int:
    engine = build_engine([args.ruleset])
    session = ChatSession(engine, args)
    return asyncio.run(_session(session, sys.stdin.isatty() and not args.json))
