"""Readers for the deploy files: Dockerfile instructions, .dockerignore rules, fly.toml, gunicorn.conf.py.

Small on purpose: enough of Docker's rules to check what this repository's files use
(stages, COPY with --from/--chown, exec-form CMD/HEALTHCHECK, ENV, line continuations).
"""

from __future__ import annotations

import json
import os
import re
import runpy
import shlex
import shutil
import tomllib
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int

    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form CMD/ENTRYPOINT/RUN, else None."""
        text = self.args.strip()
        if not text.startswith("["):
            return None
        value = json.loads(text)
        assert isinstance(value, list) and all(isinstance(v, str) for v in value), self
        return value


@dataclass
class Stage:
    base: str
    name: str | None
    index: int
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            for token in shlex.split(instruction.args):
                name, sep, value = token.partition("=")
                assert sep, f"line {instruction.line}: use ENV NAME=value"
                values[name] = value
        return values


@dataclass
class Copy:
    sources: list[str]
    dest: str
    from_stage: str | None
    chown: str | None
    line: int


@dataclass
class Dockerfile:
    global_args: dict[str, str]
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def stage(self, name: str) -> Stage | None:
        for stage in self.stages:
            if stage.name == name or str(stage.index) == name:
                return stage
        return None

    def resolved_base(self, stage: Stage) -> str:
        return re.sub(r"\$\{?(\w+)\}?", lambda m: self.global_args.get(m.group(1), m.group(0)), stage.base)


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Join backslash continuations; drop comments and blank lines (parser directives included)."""
    lines: list[tuple[int, str]] = []
    buffer, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not buffer and (not stripped or stripped.startswith("#")):
            continue
        if buffer and stripped.startswith("#"):
            continue  # comment lines inside a continuation are skipped by Docker too
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer += stripped[:-1] + " "
            continue
        buffer += stripped
        lines.append((start, buffer))
        buffer = ""
    assert not buffer, "Dockerfile ends inside a line continuation"
    return lines


def parse_dockerfile(path: Path = ROOT / "Dockerfile") -> Dockerfile:
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for number, line in _logical_lines(path.read_text()):
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        args = args.strip()
        if keyword == "FROM":
            parts = args.split()
            parts = [p for p in parts if not p.startswith("--platform")]
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            assert len(parts) in (1, 3), f"line {number}: FROM <image> [AS <name>]"
            stages.append(Stage(base=parts[0], name=name, index=len(stages)))
            continue
        if not stages:
            assert keyword == "ARG", f"line {number}: only ARG may precede the first FROM"
            name, _, default = args.partition("=")
            global_args[name] = default
            continue
        stages[-1].instructions.append(Instruction(keyword, args, number))
    assert stages, "Dockerfile has no FROM"
    return Dockerfile(global_args, stages)


def copies(stage: Stage) -> list[Copy]:
    found = []
    for instruction in stage.all("COPY") + stage.all("ADD"):
        tokens = shlex.split(instruction.args)
        flags = {}
        while tokens and tokens[0].startswith("--"):
            name, _, value = tokens.pop(0)[2:].partition("=")
            flags[name] = value
        assert len(tokens) >= 2, f"line {instruction.line}: COPY needs a source and a destination"
        found.append(Copy(tokens[:-1], tokens[-1], flags.get("from"), flags.get("chown"), instruction.line))
    return found


def workdir_at(stage: Stage, line: int) -> str:
    """The WORKDIR in effect at a line of a stage ("/" if none was set)."""
    current = "/"
    for instruction in stage.all("WORKDIR"):
        if instruction.line < line:
            current = os.path.normpath(os.path.join(current, instruction.args.strip()))
    return current


# ---- .dockerignore (Docker's rules: last matching pattern wins; a match on a parent counts) ----


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out, i = "", 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            if pattern.startswith("**/", i):
                out += "(?:.*/)?"
                i += 3
            else:
                out += ".*"
                i += 2
            continue
        if char == "*":
            out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif char == "[":
            end = pattern.index("]", i)
            out += pattern[i : end + 1]
            i = end
        else:
            out += re.escape(char)
        i += 1
    return re.compile(out + r"\Z")


def read_dockerignore(path: Path = ROOT / ".dockerignore") -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        line = line[1:].strip() if negated else line
        cleaned = os.path.normpath(line.lstrip("/"))
        rules.append((negated, _pattern_regex(cleaned)))
    return rules


def is_ignored(relpath: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Whether a path (relative to the build context, with "/") is left out of the context."""
    parts = relpath.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for negated, regex in rules:
        if any(regex.match(candidate) for candidate in candidates):
            ignored = not negated
    return ignored


def context_files(source: str, rules) -> list[str]:
    """Files of a COPY source (file or directory) that reach the build context."""
    path = ROOT / source
    if path.is_file():
        return [] if is_ignored(source, rules) else [source]
    found = []
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            rel = os.path.relpath(os.path.join(dirpath, name), ROOT).replace(os.sep, "/")
            if not is_ignored(rel, rules):
                found.append(rel)
    return sorted(found)


def materialize_build_context(stage: Stage, rules, image_root: Path) -> None:
    """Copy what the stage's context COPYs into image_root, at the paths the image would have."""
    for copy in copies(stage):
        if copy.from_stage is not None:
            continue
        dest = os.path.normpath(os.path.join(workdir_at(stage, copy.line), copy.dest))
        multi = len(copy.sources) > 1 or copy.dest.endswith("/")
        for source in copy.sources:
            src = ROOT / source
            if src.is_dir():
                for rel in context_files(source, rules):
                    inner = os.path.relpath(rel, source)
                    target = image_root / dest.lstrip("/") / inner
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(ROOT / rel, target)
            else:
                assert not is_ignored(source, rules), f"{source} is excluded by .dockerignore"
                target_path = os.path.join(dest, os.path.basename(source)) if multi else dest
                target = image_root / target_path.lstrip("/")
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, target)


# ---- fly.toml, gunicorn.conf.py --------------------------------------------------------------


def read_toml(name: str) -> dict[str, Any]:
    with open(ROOT / name, "rb") as fh:
        return tomllib.load(fh)


def load_gunicorn_conf(env: dict[str, str] | None = None) -> dict[str, Any]:
    """Execute gunicorn.conf.py under a given environment; return its public settings."""
    saved = dict(os.environ)
    try:
        tunables = [k for k in os.environ if k.startswith("GUNICORN_")]
        for name in ["PORT", "HOST", "WEB_CONCURRENCY", *tunables]:
            os.environ.pop(name, None)
        os.environ.update(env or {})
        namespace = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return {
        k: v
        for k, v in namespace.items()
        if k.islower()
        and not k.startswith("_")
        and k != "annotations"  # the __future__ import
        and not isinstance(v, types.ModuleType)
        and not callable(v)
    }
