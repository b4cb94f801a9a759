#!/usr/bin/env python3
"""The repository speaks of itself alone, and its references resolve.

Checks every file git knows in the source tree (third_party/ excepted: upstream text, verbatim):
  - no words that only make sense outside the repository: issue numbers ("issue 5"), sessions
    of work, engineers or "the seed" for Kubeflow's example, the sibling "../shared" directory;
  - in Markdown files and source comments, every repository path (src/..., docs/..., a relative
    link) names a file or directory that exists.
Prints one line per finding, "file:line: what", and exits 1 if there is any.
Usage: check_tree.py [SOURCE_DIR]
"""
import os
import re
import subprocess
import sys

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", ".."))
SKIP_DIRS = ("third_party/",)
TEXT_SUFFIXES = (".md", ".cc", ".h", ".cpp", ".py", ".sh", ".js", ".mjs", ".html", ".css", ".yaml", ".yml",
                 ".json", ".proto", ".txt", ".cmake", ".lua", ".expected", "Makefile", "Dockerfile")

# Words that point outside the repository. Each is (pattern, what it is); `allowed` lists the
# technical senses of "session" (an ONNX Runtime session, a process session, a token).
FORBIDDEN = [
    (re.compile(r"\bissues?\s*#?\d+", re.I), "an issue number"),
    (re.compile(r"\b(the|open|this|an?) issues?\b(?!\s+(a|an|the)\b)", re.I), "the issue tracker"),
    (re.compile(r"\bsessions?\b", re.I), "a session of work"),
    (re.compile(r"\bthe seed\b(?!\s+corpus)|\bseed's\b", re.I), "\"the seed\" (name Kubeflow's example)"),
    (re.compile(r"\bengineers?'?s?\b", re.I), "people"),
    (re.compile(r"\bthe lead\b", re.I), "people"),
    (re.compile(r"\.\./shared\b"), "a directory outside the repository"),
]
# Tests may use the shared directory beside the checkout (real MNIST, published schemas); the
# docs and the code may not.
OUTSIDE_OK_IN_TESTS = "a directory outside the repository"
ALLOWED_SESSION = re.compile(
    r"session[_ ]?token|SESSION_TOKEN|InferenceSession|session\.run|SessionLog|SessionStatus|"
    r"session_log|Session start|ORT sessions?|(its|their) own session|new session|session \(setsid\)|"
    r"session leader|setsid|batching[ -]session|a session of its own", re.I)

TOP_DIRS = ("src", "tools", "tests", "bench", "examples", "scripts", "docs", "proto", "deploy", "cmake",
            "third_party")
PATH = re.compile(r"(?<![\w./$~-])((?:%s)/[\w.+-]+(?:/[\w.+-]+)*/?)" % "|".join(TOP_DIRS))
MD_LINK = re.compile(r"\]\(([^)\s]+)\)")
COMMENT = re.compile(r"^\s*(//|#|\*|/\*)")


def tracked_files():
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    return sorted({f for f in out.splitlines() if os.path.exists(os.path.join(ROOT, f))})


def exists(path, base_dir):
    path = path.rstrip("/").split("#")[0]
    if not path:
        return True
    for base in (ROOT, base_dir):
        full = os.path.normpath(os.path.join(base, path))
        # A file pair named without its extension (src/train/parameter_server) counts too.
        if os.path.exists(full) or any(os.path.exists(full + ext) for ext in (".h", ".cc", ".proto")):
            return True
    return False


def generated_or_pattern(path):
    # Placeholders and globs (<module>, x.yaml in a pattern, *), and build outputs.
    parts = path.split("/")
    return (any(c in path for c in "<>*{}$") or path.startswith("build") or (len(parts) > 1 and len(parts[1]) < 2) or
            any(p.split(".")[0] in ("X", "N", "NAME") for p in parts))


def check_file(rel, findings):
    full = os.path.join(ROOT, rel)
    try:
        with open(full, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (UnicodeDecodeError, IsADirectoryError):
        return
    is_md = rel.endswith(".md")
    base_dir = os.path.dirname(full)
    for n, line in enumerate(lines, 1):
        for pattern, what in FORBIDDEN:
            for m in pattern.finditer(line):
                if what == "a session of work" and ALLOWED_SESSION.search(line):
                    continue
                if what == OUTSIDE_OK_IN_TESTS and rel.startswith("tests/") and not is_md:
                    continue
                findings.append(f"{rel}:{n}: {what}: \"{m.group(0)}\"")
        if not (is_md or COMMENT.match(line)):
            continue
        candidates = [m.group(1) for m in PATH.finditer(line)]
        if is_md:
            candidates += [t for t in MD_LINK.findall(line) if not re.match(r"[a-z]+:|#", t)]
        for path in candidates:
            path = path.rstrip(".,:;")
            if generated_or_pattern(path) or exists(path, base_dir):
                continue
            findings.append(f"{rel}:{n}: dead reference: {path}")


def main():
    findings = []
    for rel in tracked_files():
        if rel.startswith(SKIP_DIRS) or rel == "tests/repo/check_tree.py":
            continue
        if not rel.endswith(TEXT_SUFFIXES):
            continue
        check_file(rel, findings)
    for f in findings:
        print(f)
    print(f"check_tree: {len(findings)} finding(s) in {ROOT}", file=sys.stderr)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
