"""`frontdesk plugins`: what is loaded and which hooks each plugin implements."""

from __future__ import annotations

import argparse
import json

from frontdesk.plugin_manager import build_plugin_manager, describe_plugins


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("plugins", help="list loaded plugins and their hooks")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    plugins = describe_plugins(build_plugin_manager())
    if args.json:
        print(json.dumps(plugins, indent=2))
        return 0
    for plugin in plugins:
        version = f" {plugin['version']}" if plugin["version"] else ""
        print(f"{plugin['name']}{version}")
        print(f"    hooks: {', '.join(plugin['hooks']) or '-'}")
    return 0
