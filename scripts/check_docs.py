#!/usr/bin/env python3
"""Checks the relative links of the project's Markdown files.

Every link [text](target) in README.md, docs/*.md and the other Markdown files
of the tree must name a file or folder that exists, and a #fragment must name a
heading of the target file, with GitHub's anchors (lowercase; punctuation
dropped; spaces become hyphens; a repeated heading gets -1, -2, ...). Links
with a scheme (https:, mailto:) are not followed. Each docs/*.md must also link
back to the README. Prints one line per broken link and exits 1 if there is
any; reads only the files, so it is deterministic and takes milliseconds.

  /usr/bin/python3 scripts/check_docs.py      # from anywhere in the tree
"""
import os
import re
import sys
import unicodedata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SKIP_DIRS = {"node_modules", "_proto"}  # anywhere, with .* and build*
SKIP_TOP = {"data", "optd-data"}  # data directories (.gitignore)
FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
LINK = re.compile(r"(?<!!)\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")


def markdown_files():
    found = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = sorted(
            d for d in dirnames
            if d not in SKIP_DIRS and not d.startswith((".", "build"))
            and not (dirpath == ROOT and d in SKIP_TOP))
        for name in sorted(filenames):
            if name.endswith(".md"):
                found.append(os.path.join(dirpath, name))
    return found


def prose_lines(path):
    """(line number, text) of the lines outside fenced code blocks."""
    in_fence = False
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if FENCE.match(line):
                in_fence = not in_fence
                continue
            if not in_fence:
                yield number, line.rstrip("\n")


def slug(heading):
    """GitHub's anchor for a heading's text."""
    text = CODE_SPAN.sub(lambda m: m.group(2), heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links: their text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    kept = []
    for ch in text.lower():
        category = unicodedata.category(ch)
        if ch in " -" or category[0] in "LMN" or category == "Pc":
            kept.append(ch)
    return "".join(kept).replace(" ", "-")


_anchors = {}


def anchors(path):
    if path not in _anchors:
        seen = {}
        result = set()
        for _, line in prose_lines(path):
            match = HEADING.match(line)
            if not match:
                continue
            base = slug(match.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            result.add(base if count == 0 else f"{base}-{count}")
        _anchors[path] = result
    return _anchors[path]


def check(path):
    errors = []
    targets = []
    for number, line in prose_lines(path):
        for match in LINK.finditer(CODE_SPAN.sub("", line)):
            target = match.group(1)
            targets.append(target)
            if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target):
                continue  # https:, mailto:, ...
            file_part, _, fragment = target.partition("#")
            resolved = (os.path.normpath(
                os.path.join(os.path.dirname(path), file_part))
                        if file_part else path)
            where = f"{os.path.relpath(path, ROOT)}:{number}"
            if not os.path.exists(resolved):
                errors.append(f"{where}: {target}: no such file")
                continue
            if fragment:
                if not resolved.endswith(".md"):
                    errors.append(f"{where}: {target}: anchor into a non-Markdown file")
                elif fragment not in anchors(resolved):
                    errors.append(
                        f"{where}: {target}: no heading with anchor #{fragment} "
                        f"in {os.path.relpath(resolved, ROOT)}")
    rel = os.path.relpath(path, ROOT)
    if os.path.dirname(rel) == "docs" and not any(
            t.split("#")[0] == "../README.md" for t in targets):
        errors.append(f"{rel}: no link back to ../README.md")
    return errors


def main():
    errors = []
    files = markdown_files()
    for path in files:
        errors.extend(check(path))
    for error in errors:
        print(error)
    if errors:
        print(f"check_docs: {len(errors)} broken link(s)", file=sys.stderr)
        return 1
    print(f"check_docs: {len(files)} Markdown files, every relative link resolves")
    return 0


if __name__ == "__main__":
    sys.exit(main())
