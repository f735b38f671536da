#!/usr/bin/env python3
"""Where a wasm's code weight goes: the size of every function body, by the crate its
name says it belongs to (and the largest functions), from the module's name section.
Run it on the wasm as linked, before wasm-bindgen and wasm-opt strip the names:

    scripts/wasm-weight.py target/front/wasm32-unknown-unknown/wasm-release/frontend.wasm

No dependencies; docs/benchmarks.md ("The first load") records its output."""

import re
import sys
from collections import Counter


def leb(data, at):
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def name_of(data, at):
    length, at = leb(data, at)
    return data[at : at + length].decode("utf-8", "replace"), at + length


def sections(data):
    at = 8
    while at < len(data):
        kind = data[at]
        size, start = leb(data, at + 1)
        yield kind, start, start + size
        at = start + size


def crate(symbol):
    # Legacy Rust mangling: _ZN<len><ident>...; v0 and plain names fall back to a prefix.
    match = re.match(r"_ZN(\d+)", symbol)
    if match:
        length = int(match.group(1))
        start = match.end()
        ident = symbol[start : start + length]
        if ident.startswith("_$LT$"):
            # `<a::B as c::D>`: the implementing type's crate.
            inner = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\.\.", ident)
            return inner.group(1) if inner else "(impl)"
        return ident
    if "::" in symbol:
        return symbol.split("::")[0].lstrip("<")
    return "(other: " + symbol[:24] + ")" if symbol else "(unnamed)"


def main(path):
    data = open(path, "rb").read()
    imported = 0
    bodies = []
    names = {}
    for kind, start, end in sections(data):
        if kind == 2:  # imports: functions among them take the first indices
            count, at = leb(data, start)
            for _ in range(count):
                _, at = name_of(data, at)
                _, at = name_of(data, at)
                desc = data[at]
                at += 1
                if desc == 0:
                    _, at = leb(data, at)
                    imported += 1
                elif desc == 1:
                    at += 1
                    flags, at = leb(data, at)
                    _, at = leb(data, at)
                    if flags & 1:
                        _, at = leb(data, at)
                elif desc == 2:
                    flags, at = leb(data, at)
                    _, at = leb(data, at)
                    if flags & 1:
                        _, at = leb(data, at)
                elif desc == 3:
                    at += 2
        elif kind == 10:  # code
            count, at = leb(data, start)
            for _ in range(count):
                size, body = leb(data, at)
                bodies.append(size + (body - at))
                at = body + size
        elif kind == 0:
            section, at = name_of(data, start)
            if section != "name":
                continue
            while at < end:
                sub = data[at]
                size, sub_start = leb(data, at + 1)
                if sub == 1:
                    count, p = leb(data, sub_start)
                    for _ in range(count):
                        index, p = leb(data, p)
                        names[index], p = name_of(data, p)
                at = sub_start + size
    total = sum(bodies)
    if not names:
        print("no name section: run this on the wasm before wasm-bindgen/wasm-opt", file=sys.stderr)
    by_crate = Counter()
    functions = []
    for i, size in enumerate(bodies):
        symbol = names.get(imported + i, "")
        by_crate[crate(symbol)] += size
        functions.append((size, symbol))
    print(f"{path}: {len(data)} B, code {total} B in {len(bodies)} functions")
    print("| crate | code bytes | share |")
    print("| --- | --- | --- |")
    for name, size in by_crate.most_common(20):
        print(f"| {name} | {size} | {size * 100 / total:.1f} % |")


if __name__ == "__main__":
    main(sys.argv[1])
