#!/usr/bin/env python3
"""Lists import cycles between the files of a crate and files over a line limit.

A file depends on another when it names a path into it (`crate::a::b::Item`, `super::x`, `self::y`).
Usage: cycles.py CRATE_SRC_DIR [MAX_LINES]. Exit status 1 when a cycle or an oversized file exists.
"""
import os, re, sys

src = sys.argv[1]
max_lines = int(sys.argv[2]) if len(sys.argv) > 2 else 600
files = {}  # module path tuple -> file
for root, _, names in os.walk(src):
    for n in names:
        if not n.endswith('.rs'):
            continue
        p = os.path.join(root, n)
        rel = os.path.relpath(p, src)[:-3].split(os.sep)
        if rel[0] == 'bin':
            continue
        if rel[-1] in ('mod', 'lib'):
            rel = rel[:-1]
        files[tuple(rel)] = p

def resolve(path):
    """The longest module prefix of `path` that is a file."""
    for i in range(len(path), -1, -1):
        if tuple(path[:i]) in files:
            return tuple(path[:i])
    return None

def strip(text):
    text = re.sub(r'//[^\n]*', '', text)
    text = re.sub(r'/\*.*?\*/', '', text, flags=re.S)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    return text

def expand_use(tree):
    """Expands `a::{b, c::{d}}` into paths."""
    tree = tree.strip()
    m = re.match(r'^(.*?)::\{(.*)\}$', tree, re.S)
    if not m:
        return [tree]
    prefix, inner = m.group(1), m.group(2)
    parts, depth, cur = [], 0, ''
    for ch in inner:
        if ch == ',' and depth == 0:
            parts.append(cur); cur = ''
            continue
        depth += ch == '{'
        depth -= ch == '}'
        cur += ch
    parts.append(cur)
    out = []
    for part in parts:
        if part.strip():
            for e in expand_use(part):
                out.append(prefix + '::' + e)
    return out

edges = {m: set() for m in files}
for mod, path in files.items():
    text = strip(open(path).read())
    is_dir = os.path.basename(path) in ('mod.rs', 'lib.rs')
    here = list(mod) if is_dir else list(mod)
    parent_of_self = list(mod[:-1])
    refs = []
    for u in re.findall(r'\buse\s+([^;]+);', text):
        refs.extend(expand_use(u))
    refs.extend(re.findall(r'\b((?:crate|super|self)(?:::\w+)+)', text))
    for r in refs:
        r = re.sub(r'\s+as\s+\w+$', '', r.strip())
        segs = [s for s in r.split('::') if s]
        if not segs:
            continue
        if segs[0] == 'crate':
            target = segs[1:]
        elif segs[0] == 'super':
            base = list(mod[:-1])
            segs = segs[1:]
            while segs and segs[0] == 'super':
                base = base[:-1]; segs = segs[1:]
            target = base + segs
        elif segs[0] == 'self':
            target = list(mod) + segs[1:]
        else:
            continue
        t = resolve(target)
        if t is not None and t != mod and t != ():
            # a parent module file (mod.rs) is not a dependency when only re-exports pass through it
            edges[mod].add(t)

# Tarjan SCC
index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]
sys.setrecursionlimit(10000)
def strong(v):
    index[v] = low[v] = counter[0]; counter[0] += 1
    stack.append(v); on.add(v)
    for w in edges[v]:
        if w not in index:
            strong(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v:
                break
        if len(comp) > 1:
            sccs.append(comp)
for v in files:
    if v not in index:
        strong(v)

bad = False
for comp in sccs:
    bad = True
    names = sorted('/'.join(c) or 'lib' for c in comp)
    print('cycle:', ' <-> '.join(names))
    for c in sorted(comp):
        for d in sorted(edges[c] & set(comp)):
            print('   ', '/'.join(c) or 'lib', '->', '/'.join(d) or 'lib')
for root, _, names in os.walk(src):
    for n in names:
        if n.endswith(('.rs', '.js')):
            p = os.path.join(root, n)
            lines = sum(1 for _ in open(p))
            if lines > max_lines:
                bad = True
                print(f'oversized: {p} ({lines} lines)')
sys.exit(1 if bad else 0)
