"""Every `trellis <command>` the README and docs/ tell a user to run exists in the CLI."""

from __future__ import annotations

import re
from pathlib import Path

import click

from builder.cli import main

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Code spans and fenced blocks: where a page shows a command to type.
CODE = re.compile(r"```.*?```|`[^`\n]+`", re.DOTALL)
COMMAND = re.compile(r"(?<![\w/.-])trellis((?: [a-z][a-z-]*)+)")


def commands_in_docs() -> set[tuple[str, tuple[str, ...]]]:
    found = set()
    for page in PAGES:
        for block in CODE.findall(page.read_text(encoding="utf-8")):
            for words in COMMAND.findall(block):
                found.add((page.name, tuple(words.split())))
    return found


def resolves(words: tuple[str, ...]) -> bool:
    command: click.Command = main
    for word in words:
        if not isinstance(command, click.Group):
            return True  # the rest are arguments (`trellis validate PATH`)
        sub = command.commands.get(word)
        if sub is None:
            return False
        command = sub
    return not isinstance(command, click.Group) or command.invoke_without_command


def test_the_docs_mention_trellis_commands_at_all():
    mentioned = {words[0] for _page, words in commands_in_docs()}
    assert {"validate", "demo", "init"} <= mentioned


def test_every_trellis_command_in_the_docs_exists():
    missing = sorted(
        f"{page}: trellis {' '.join(words)}"
        for page, words in commands_in_docs()
        if not resolves(words)
    )
    assert missing == [], f"the docs name commands the CLI does not have: {missing}"
