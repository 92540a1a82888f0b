#!/usr/bin/env python3
"""Checks the crate's shape: layers one way only, no cycles between files, no file too long.

Every `crate::...`, `super::...` and `self::...` path in a file (use trees included) is an
edge from that file to the file of the deepest module the path names. Then:

* a file may not import from a layer above its own (layers bottom-up: sys, runtime, hooks;
  settings.rs sits beside sys, lib.rs and bin/ are the top);
* the graph between files must be acyclic (a file importing its own parent module, or a
  `pub use` re-export, is an edge like any other);
* no source file is longer than MAX_FILE_LINES (functions are held to 60 lines by clippy's
  too_many_lines, scripts/clippy.toml).

Prints each violation and exits 1 if there is any; `--graph` prints the edges.
Usage: python3 scripts/check_structure.py [--graph] [SRC_DIR]
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

# Bottom-up. A file may import from its own layer and the ones below it.
LAYERS = {"sys": 0, "settings": 0, "runtime": 1, "hooks": 2, "": 3}

MAX_FILE_LINES = 450

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
PATH_RE = re.compile(rf"\b(\$?crate|super|self)((?:::{IDENT})+)")


def strip_comments_and_strings(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    text = re.sub(r'b?r#*"(?:.|\n)*?"#*', '""', text)
    text = re.sub(r'b?"(?:\\.|[^"\\])*"', '""', text)
    return text


def module_of(path: Path, src: Path) -> tuple[str, ...]:
    rel = path.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts == ["lib"]:
        return ()
    if parts[-1] == "mod":
        parts.pop()
    return tuple(parts)


def expand_use_tree(tree: str) -> list[str]:
    """`a::{b, c::{d, self}}` -> ["a::b", "a::c::d", "a::c"]."""
    tree = re.sub(r"\s+", "", tree)
    out: list[str] = []

    def walk(prefix: str, s: str) -> None:
        depth, start, items = 0, 0, []
        for i, ch in enumerate(s):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == "," and depth == 0:
                items.append(s[start:i])
                start = i + 1
        items.append(s[start:])
        for item in filter(None, items):
            brace = item.find("{")
            if brace >= 0 and item.endswith("}"):
                walk(prefix + item[:brace], item[brace + 1:-1])
            else:
                item = re.sub(r"as\w+$", "", item.split(" as ")[0])
                if item == "self":
                    out.append(prefix.rstrip(":"))
                elif item != "*":
                    out.append(prefix + item)
                else:
                    out.append(prefix.rstrip(":"))

    walk("", tree)
    return out


def referenced_paths(code: str) -> list[str]:
    paths = []
    for m in re.finditer(r"\buse\s+([^;]+);", code):
        tree = m.group(1)
        if re.match(r"\s*(\$?crate|super|self)\b", tree):
            paths.extend(expand_use_tree(tree))
    code_without_uses = re.sub(r"\buse\s+[^;]+;", " ", code)
    paths.extend(m.group(0) for m in PATH_RE.finditer(code_without_uses))
    return paths


def resolve(path: str, here: tuple[str, ...], is_mod_file: bool, modules: set) -> tuple[str, ...] | None:
    parts = path.replace("$crate", "crate").split("::")
    # A file's own module is `here`; `super` in a mod.rs/lib.rs is the parent of `here`.
    if parts[0] == "crate":
        base: list[str] = []
    elif parts[0] == "self":
        base = list(here)
    else:
        base = list(here)
        while parts and parts[0] == "super":
            if not base:
                return None
            base.pop()
            parts = parts[1:]
        parts = ["super"] + parts
    segs = base + parts[1:]
    for n in range(len(segs), -1, -1):
        if tuple(segs[:n]) in modules:
            return tuple(segs[:n])
    return None


def layer(module: tuple[str, ...]) -> int:
    return LAYERS.get(module[0] if module else "", 3) if module else 3


def find_cycles(edges: dict) -> list[list]:
    index, low, stack, on_stack, sccs = {}, {}, [], set(), []
    counter = [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in list(edges):
        if v not in index:
            strong(v)
    return sccs


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    src = Path(args[0] if args else Path(__file__).resolve().parent.parent / "src")
    files = {p: module_of(p, src) for p in sorted(src.rglob("*.rs")) if "bin" not in p.relative_to(src).parts}
    modules = set(files.values())
    name = {m: str(p.relative_to(src)) for p, m in files.items()}
    edges: dict = {m: set() for m in modules}
    problems = []
    for path, here in files.items():
        code = strip_comments_and_strings(path.read_text())
        is_mod_file = path.name in ("mod.rs", "lib.rs")
        refs = referenced_paths(code)
        if is_mod_file:
            # A mod.rs or lib.rs names its own children without a prefix (`green::park`).
            children = re.findall(rf"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+({IDENT})\s*;", code, re.M)
            for child in children:
                if re.search(rf"(?<![:\w]){child}::", code):
                    refs.append(f"self::{child}")
        for ref in refs:
            target = resolve(ref, here, is_mod_file, modules)
            if target is None or target == here:
                continue
            # lib.rs and mod.rs declare their children (`mod x;`): not an import. Reaching the
            # crate root itself is only for #[macro_use] macros, resolved by name.
            if target == ():
                continue
            edges[here].add(target)
            if layer(target) > layer(here):
                problems.append(f"upward import: {name[here]} -> {name[target]} ({ref})")
    for path in files:
        lines = path.read_text().count("\n")
        if lines > MAX_FILE_LINES:
            problems.append(f"too long: {path.relative_to(src)} has {lines} lines (at most {MAX_FILE_LINES})")
    for cycle in find_cycles(edges):
        problems.append("cycle: " + ", ".join(name[m] for m in cycle))
    if "--graph" in sys.argv:
        for m in sorted(edges, key=lambda m: name[m]):
            print(f"{name[m]} -> {', '.join(sorted(name[t] for t in edges[m]))}")
    for p in sorted(set(problems)):
        print(p)
    print(f"check_structure: {len(files)} files, {sum(map(len, edges.values()))} edges, "
          f"{len(set(problems))} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
