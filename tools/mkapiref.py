#!/usr/bin/env python3
"""Writes doc/api.md from the public headers (include/yamux.h, then
include/yamux-tls.h): the headers are the one source of the API reference,
as nghttp2's mkapiref.py makes its reference from nghttp2.h.

    tools/mkapiref.py            rewrite doc/api.md
    tools/mkapiref.py --check    exit 1 if doc/api.md is out of date

Each documented declaration (a comment block followed by a declaration,
a type or a macro) becomes an entry: the declaration as code, the comment as
text, under the header's own section banners."""
import re
import sys

HEADERS = ["include/yamux.h", "include/yamux-tls.h"]
OUT = "doc/api.md"


def comment_text(block):
    lines = block.strip()[2:-2].splitlines()
    out = []
    for ln in lines:
        ln = re.sub(r"^\s*\*? ?", "", ln).rstrip()
        out.append(ln)
    while out and not out[0]:
        out.pop(0)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)


def tokens(src):
    """Yields ('comment', text) and ('code', text) pieces, in order."""
    pos = 0
    for m in re.finditer(r"/\*.*?\*/", src, re.S):
        if m.start() > pos:
            yield "code", src[pos:m.start()]
        yield "comment", m.group(0)
        pos = m.end()
    yield "code", src[pos:]


def declaration(code):
    """The first declaration in a code piece (up to ';' at brace depth 0, or
    a #define with its continuation lines), or None."""
    code = code.lstrip("\n")
    if not code.strip():
        return None
    first = code.lstrip()
    if first.startswith("#define"):
        lines = []
        for ln in first.splitlines():
            lines.append(ln)
            if not ln.endswith("\\"):
                break
        return "\n".join(lines)
    if first.startswith("#"):
        return None
    depth = 0
    for i, ch in enumerate(first):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == ";" and depth == 0:
            return first[:i + 1]
    return None


def render(path):
    src = open(path).read()
    out = []
    pieces = list(tokens(src))
    title_done = False
    after_banner = False
    i = 0
    while i < len(pieces):
        kind, text = pieces[i]
        if kind == "comment":
            body = comment_text(text)
            banner = re.match(r"^/\* -{20,} \*/$", text.strip())
            if banner:
                after_banner = True
                i += 1
                continue
            nxt = pieces[i + 1][1] if i + 1 < len(pieces) else ""
            # A section title is the comment right under a banner line.
            is_section = after_banner and pieces[i - 1][1].strip() == ""
            after_banner = False
            if not title_done:
                out.append("## `%s`\n\n%s\n" % (path.split("/")[-1], body))
                title_done = True
            elif is_section:
                out.append("### %s\n" % body.strip())
            elif body.startswith("----"):
                out.append("#### %s\n" % body.strip("- ").strip())
            else:
                decl = declaration(nxt) if i + 1 < len(pieces) else None
                # Comments inside a struct belong to it; only top-level ones
                # that precede a declaration are entries.
                if decl is not None and not text.startswith("/* private"):
                    out.append("```c\n%s\n```\n\n%s\n" % (decl.strip(), body))
        elif text.strip():
            after_banner = False
        i += 1
    return "\n".join(out)


def main():
    doc = ["# libyamux API reference\n",
           "Generated from the public headers by `tools/mkapiref.py`"
           " (`make docs`); the headers are the source. Each entry is a"
           " declaration and the comment that documents it.\n"]
    for h in HEADERS:
        try:
            doc.append(render(h))
        except FileNotFoundError:
            pass
    text = "\n".join(doc).rstrip() + "\n"
    if len(sys.argv) > 1 and sys.argv[1] == "--check":
        try:
            old = open(OUT).read()
        except FileNotFoundError:
            old = ""
        if old != text:
            print("doc/api.md is out of date: run make docs", file=sys.stderr)
            return 1
        return 0
    open(OUT, "w").write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
