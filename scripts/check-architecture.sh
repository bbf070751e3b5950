#!/bin/bash
# check-architecture.sh - fail when docs/architecture.md and Package.swift disagree.
#
# Package.swift's targets (any kind: .target, .systemLibrary, .executableTarget,
# .testTarget, …) and their dependencies are read with `swift package
# dump-package`, or, without swift, by a small reader of Package.swift's text.
# docs/architecture.md must then have:
#   - in its mermaid block marked `%% imports:`, exactly one `A --> B` arrow per
#     dependency of every non-test target (targets and package products), and
#     no other arrow;
#   - in its tables whose header starts `| module | kind | imports | packages |`,
#     exactly one row per target, with its kind, its target dependencies and its
#     product dependencies.
# Prints one line; exit status 0 when they agree, 1 when not (each disagreement
# on a line of its own before the summary), 2 when a file cannot be read.
#   scripts/check-architecture.sh [--text]   (--text: read Package.swift without swift)
set -uo pipefail
cd "$(dirname "$0")/.."

dump=$(mktemp /tmp/scmi-dt-arch.XXXXXX)
trap 'rm -f "$dump"' EXIT
if [ "${1:-}" != "--text" ] && command -v swift >/dev/null 2>&1; then
	if ! swift package dump-package >"$dump" 2>/dev/null; then
		echo "architecture: swift package dump-package failed; reading Package.swift's text instead" >&2
		: >"$dump"
	fi
fi

python3 - "$dump" <<'PY'
import json
import re
import sys

DOC = "docs/architecture.md"
KIND_OF_TYPE = {"regular": "library", "system": "system library", "executable": "executable",
                "test": "test", "binary": "binary", "plugin": "plugin", "macro": "macro"}
KIND_OF_CALL = {"target": "library", "systemLibrary": "system library", "executableTarget": "executable",
                "testTarget": "test", "binaryTarget": "binary", "plugin": "plugin", "macro": "macro"}


def from_dump(text):
    """{name: (kind, {target deps}, {product deps})} from dump-package's JSON."""
    manifest = json.loads(text)
    names = {t["name"] for t in manifest["targets"]}
    targets = {}
    for t in manifest["targets"]:
        deps, products = set(), set()
        for d in t.get("dependencies", []):
            if "target" in d:
                deps.add(d["target"][0])
            elif "product" in d:
                products.add(d["product"][0])
            elif "byName" in d:
                (deps if d["byName"][0] in names else products).add(d["byName"][0])
        targets[t["name"]] = (KIND_OF_TYPE.get(t["type"], t["type"]), deps, products)
    return targets


def tokens(source):
    """Swift tokens, comments dropped: strings, words, numbers, punctuation."""
    pattern = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:[^"\\\n]|\\.)*"|[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d+)*|\S', re.S)
    return [t for t in pattern.findall(source) if not t.startswith("//") and not t.startswith("/*")]


def parse_expression(toks, i):
    """One expression of the manifest's subset: a string, a number, a name or
    `.member`, optionally called with (label: value, …), or an array [..].
    Returns (value, next index); a call is ("call", name, [(label, value)])."""
    t = toks[i]
    if t == "[":
        items, i = [], i + 1
        while toks[i] != "]":
            item, i = parse_expression(toks, i)
            items.append(item)
            if toks[i] == ",":
                i += 1
        return items, i + 1
    if t.startswith('"'):
        return t[1:-1], i + 1
    name = ""
    if t == ".":
        name, i = ".", i + 1
    name += toks[i]
    i += 1
    while i + 1 < len(toks) and toks[i] == "." and re.match(r"[A-Za-z_]", toks[i + 1]):
        name += "." + toks[i + 1]
        i += 2
    if i < len(toks) and toks[i] == "(":
        arguments, i = [], i + 1
        while toks[i] != ")":
            label = None
            if re.match(r"[A-Za-z_]", toks[i]) and toks[i + 1] == ":":
                label, i = toks[i], i + 2
            value, i = parse_expression(toks, i)
            arguments.append((label, value))
            if toks[i] == ",":
                i += 1
        return ("call", name, arguments), i + 1
    return name, i


def from_text(path):
    """The same map, read from Package.swift without running swift."""
    toks = tokens(open(path, encoding="utf-8").read())
    start = next(i for i, t in enumerate(toks) if t == "Package" and toks[i + 1] == "(")
    package, _ = parse_expression(toks, start)
    arguments = dict(package[2])
    declared = [t for t in arguments.get("targets", []) if isinstance(t, tuple) and t[0] == "call"]
    names = {dict(t[2]).get("name") for t in declared}
    targets = {}
    for _, call, args in declared:
        fields = dict(args)
        deps, products = set(), set()
        for d in fields.get("dependencies", []):
            if isinstance(d, str):
                (deps if d in names else products).add(d)
            elif d[1] in (".target", ".byName"):
                name = dict(d[2])["name"]
                (deps if d[1] == ".target" or name in names else products).add(name)
            elif d[1] == ".product":
                products.add(dict(d[2])["name"])
        kind = call.lstrip(".")
        targets[fields["name"]] = (KIND_OF_CALL.get(kind, kind), deps, products)
    return targets


def names_in(cell):
    return {n.strip() for n in re.findall(r"`([^`]+)`", cell)}


def read_doc(path):
    """(edges, nodes, rows, problems) from docs/architecture.md."""
    lines = open(path, encoding="utf-8").read().splitlines()
    edges, labels, problems, rows = set(), {}, [], {}
    i = 0
    graphs = 0
    while i < len(lines):
        if lines[i].strip() == "```mermaid":
            j = i + 1
            while j < len(lines) and lines[j].strip() != "```":
                j += 1
            block = lines[i + 1:j]
            if any(l.strip().startswith("%% imports:") for l in block):
                graphs += 1
                node = r'([A-Za-z_][A-Za-z0-9_]*)(?:\s*[\[\(\{]+\s*"([^"]*)"\s*[\]\)\}]+)?'
                for raw in block:
                    line = raw.strip()
                    if not line or line.startswith("%%") or re.match(r"(flowchart|graph|classDef|class|style|subgraph|end)\b", line):
                        continue
                    m = re.fullmatch(node + r"\s*-->\s*" + node, line)
                    if m:
                        for ident, label in ((m.group(1), m.group(2)), (m.group(3), m.group(4))):
                            if label is not None:
                                labels[ident] = label
                        edges.add((m.group(1), m.group(3)))
                        continue
                    m = re.fullmatch(node, line)
                    if m:
                        if m.group(2) is not None:
                            labels[m.group(1)] = m.group(2)
                        continue
                    problems.append(f"{path}: the imports graph may hold only `A --> B` arrows and node labels, not: {line}")
            i = j
        elif lines[i].startswith("|"):
            header = [c.strip().lower() for c in lines[i].strip().strip("|").split("|")]
            i += 1
            if header[:4] != ["module", "kind", "imports", "packages"]:
                continue
            i += 1  # the |---| row
            while i < len(lines) and lines[i].startswith("|"):
                cells = [c.strip() for c in lines[i].strip().strip("|").split("|")]
                module = cells[0].strip("`")
                if module in rows:
                    problems.append(f"{path}: {module} has two rows")
                rows[module] = (cells[1], names_in(cells[2]), names_in(cells[3]))
                i += 1
            continue
        i += 1
    if graphs != 1:
        problems.append(f"{path}: expected one mermaid block marked `%% imports:`, found {graphs}")
    name = lambda ident: re.sub(r"\s*\(.*\)$", "", labels.get(ident, ident)).strip()
    return {(name(a), name(b)) for a, b in edges}, rows, problems


dump_path = sys.argv[1]
try:
    dumped = open(dump_path, encoding="utf-8").read()
    targets = from_dump(dumped) if dumped.strip() else from_text("Package.swift")
    source = "dump-package" if dumped.strip() else "Package.swift text"
    edges, rows, problems = read_doc(DOC)
except (OSError, ValueError, KeyError, IndexError, StopIteration) as error:
    print(f"architecture: cannot compare {DOC} with Package.swift: {error!r}")
    sys.exit(2)

expected = set()
for target, (kind, deps, products) in targets.items():
    if kind != "test":
        expected |= {(target, d) for d in deps | products}
for a, b in sorted(expected - edges):
    problems.append(f"{DOC}: graph lacks {a} --> {b} (Package.swift has it)")
for a, b in sorted(edges - expected):
    problems.append(f"{DOC}: graph has {a} --> {b}, which Package.swift does not declare")

for target in sorted(targets):
    kind, deps, products = targets[target]
    if target not in rows:
        problems.append(f"{DOC}: no table row for {target} ({kind})")
        continue
    row_kind, row_deps, row_products = rows[target]
    if row_kind != kind:
        problems.append(f"{DOC}: {target} is a {kind} in Package.swift, the table says {row_kind}")
    if row_deps != deps:
        problems.append(f"{DOC}: {target} imports {', '.join(sorted(deps)) or 'nothing'} in Package.swift, "
                        f"the table says {', '.join(sorted(row_deps)) or 'nothing'}")
    if row_products != products:
        problems.append(f"{DOC}: {target} uses packages {', '.join(sorted(products)) or 'none'} in Package.swift, "
                        f"the table says {', '.join(sorted(row_products)) or 'none'}")
for module in sorted(set(rows) - set(targets)):
    problems.append(f"{DOC}: table row for {module}, which Package.swift does not have")

for problem in problems:
    print("architecture: " + problem)
if problems:
    print(f"architecture: {DOC} disagrees with Package.swift ({len(problems)} problems; read with {source})")
    sys.exit(1)
print(f"architecture: {DOC} matches Package.swift ({len(targets)} targets, {len(expected)} dependencies of non-test targets; read with {source})")
PY
