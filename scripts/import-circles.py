#!/usr/bin/env python3
"""Fails when a crate's source files import each other in a circle.

An edge goes from a file to the file of every module it names through `crate::` or
`super::` (in `use` declarations and in paths in code), so `a.rs -> b.rs -> a.rs` is
reported even when the two imports are far apart. Doc comments count too: a doc link
is also a dependency a reader has to follow. Tests modules are left out.

    scripts/import-circles.py app/src server/src loadtest/src
"""
import os
import re
import sys


def modules(root):
    """Module path ('' for the crate root) -> file."""
    found = {}
    for directory, _, names in os.walk(root):
        for name in names:
            if not name.endswith(".rs"):
                continue
            path = os.path.join(directory, name)
            module = os.path.relpath(path, root)[:-3].replace(os.sep, "::")
            if module.endswith("::mod"):
                module = module[: -len("::mod")]
            if module in ("lib", "main", "mod"):
                module = ""
            found[module] = path
    return found


def resolve(known, current, path):
    """The longest known module that `path`, written in `current`, names."""
    parts = path.split("::")
    if parts[0] == "crate":
        base, parts = [], parts[1:]
    elif parts[0] in ("super", "self"):
        base = current.split("::") if current else []
        while parts and parts[0] in ("super", "self"):
            if parts[0] == "super":
                base = base[:-1]
            parts = parts[1:]
    else:
        return None
    best = None
    for i in range(len(parts) + 1):
        module = "::".join(p for p in base + parts[:i] if p)
        if module in known:
            best = module
    return best


def expand(prefix, tree):
    """`a::{b, c::{d}}` -> ['a::b', 'a::c::d']."""
    if "{" not in tree:
        return [prefix + tree]
    head, rest = tree.split("{", 1)
    inner = rest[: rest.rfind("}")]
    items, depth, item = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            items.append(item)
            item = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        item += ch
    if item:
        items.append(item)
    return [path for item in items for path in expand(prefix + head, item)]


def edges(known):
    graph = {module: set() for module in known}
    for module, path in known.items():
        with open(path, encoding="utf-8") as source:
            text = source.read()
        text = re.sub(r"#\[cfg\(test\)\]\s*mod tests \{.*", "", text, flags=re.S)
        paths = []
        for tree in re.findall(r"\buse\s+([^;]+);", text):
            paths += [p.split(" as ")[0] for p in expand("", re.sub(r"\s+", "", tree))]
        paths += re.findall(r"\b((?:crate|super)(?:::\w+)+)", text)
        for named in paths:
            target = resolve(known, module, named)
            if target is not None and target != module:
                graph[module].add(target)
    return graph


def circles(graph):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in graph:
        if v not in index:
            visit(v)
    return found


def main(roots):
    failed = False
    for root in roots:
        known = modules(root)
        for component in circles(edges(known)):
            failed = True
            files = ", ".join(known[m] for m in component)
            print(f"import circle in {root}: {files}")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
