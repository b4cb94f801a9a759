#!/usr/bin/env python3
"""Runs the code blocks marked `sh runnable` in one Markdown file, so the docs' commands keep working.

The blocks of a file run in order as one bash script (set -euo pipefail), so a later block may use
what an earlier one made. The script runs in a scratch directory holding `build` (the build tree),
`examples` (the repository's) and `data/mnist` ($LOOM_MNIST_DIR), with its own $LOOM_HOME and $HOME,
inside new network, mount and PID namespaces: its servers' ports cannot meet other tests', /tmp is
a private tmpfs, and every process it started ends with it. Needs root (as the workflow engine's
pods do) and $LOOM_MNIST_DIR.

Usage: run_doc_examples.py --source SRC --build BUILD FILE.md
Exit 0 when every block ran without error; else the output and which block failed.
"""
import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

FENCE_OPEN = re.compile(r"^```sh runnable\s*$")
# The commands a new user's machine has; not this one's own additions (a pyenv shim's python3
# is not Debian's, and the workflow engine's pods run what PATH finds).
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def blocks(path):
    """(line number, text) of each runnable block."""
    out, current, start = [], None, 0
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if current is None:
                if FENCE_OPEN.match(line):
                    current, start = [], n
            elif line.startswith("```"):
                out.append((start, "".join(current)))
                current = None
            else:
                current.append(line)
    if current is not None:
        sys.exit(f"{path}:{start}: runnable block without its closing ```")
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--source", required=True)
    parser.add_argument("--build", required=True)
    parser.add_argument("--timeout", type=int, default=600)
    parser.add_argument("file")
    args = parser.parse_args()
    source, build = os.path.abspath(args.source), os.path.abspath(args.build)
    doc = os.path.relpath(os.path.abspath(args.file), source)
    found = blocks(args.file)
    if not found:
        sys.exit(f"{doc}: no `sh runnable` block")
    if os.geteuid() != 0:
        sys.exit("run_doc_examples: must run as root (network, mount and PID namespaces, as the engine's pods)")
    mnist = os.environ.get("LOOM_MNIST_DIR", "")
    if not os.path.isdir(mnist):
        sys.exit(f"run_doc_examples: LOOM_MNIST_DIR={mnist!r} is not a directory")

    # Under the build tree, not /tmp: the script gets a tmpfs of its own at /tmp.
    scratch = tempfile.mkdtemp(prefix="doc-" + re.sub(r"\W", "_", doc) + "-", dir=build)
    try:
        os.symlink(build, os.path.join(scratch, "build"))
        os.symlink(os.path.join(source, "examples"), os.path.join(scratch, "examples"))
        os.makedirs(os.path.join(scratch, "data"))
        os.symlink(mnist, os.path.join(scratch, "data", "mnist"))
        for d in ("home", "user"):
            os.makedirs(os.path.join(scratch, d))
        script = ["set -euo pipefail"]
        for line, text in found:
            script.append(f"echo '### {doc}:{line}' >&2")
            script.append(text)
        script_path = os.path.join(scratch, "examples.sh")
        with open(script_path, "w", encoding="utf-8") as f:
            f.write("\n".join(script) + "\n")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("AWS_", "S3_", "LOOM_")) and k not in ("TF_CONFIG", "CDPATH")}
        env.update(LOOM_HOME=os.path.join(scratch, "home"), HOME=os.path.join(scratch, "user"),
                   LOOM_MNIST_DIR=mnist, PATH=build + ":" + SYSTEM_PATH)
        # /tmp becomes a tmpfs of the script's own; what it needs from the old /tmp (the source,
        # build or MNIST directory may live there) is held open first and bound back at its path.
        keep = [p for p in (source, build, mnist) if os.path.realpath(p).startswith("/tmp/")]
        hold = " ".join(f"{3 + i}<{shlex.quote(p)}" for i, p in enumerate(keep))
        # --no-canonicalize: the kernel follows /proc/self/fd/N to the directory held open, where
        # mount(8) would resolve the path it names, now in the new tmpfs.
        rebind = "".join(f" && mkdir -p {shlex.quote(p)} && "
                         f"mount --no-canonicalize --bind /proc/self/fd/{3 + i} {shlex.quote(p)}"
                         for i, p in enumerate(keep))
        sandbox = (f"exec {hold} && ip link set lo up && mount -t tmpfs -o mode=1777 tmpfs /tmp{rebind} && "
                   f"cd {shlex.quote(scratch)} && exec bash {shlex.quote(script_path)}")
        command = ["unshare", "--net", "--mount", "--pid", "--fork", "--mount-proc", "sh", "-c", sandbox]
        try:
            result = subprocess.run(command, env=env, cwd=scratch, timeout=args.timeout,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        except subprocess.TimeoutExpired as e:
            sys.stdout.write((e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or ""))
            sys.exit(f"{doc}: the runnable blocks took more than {args.timeout} s")
        sys.stdout.write(result.stdout)
        if result.returncode != 0:
            last = [l for l in result.stdout.splitlines() if l.startswith("### ")]
            where = last[-1][4:] if last else doc
            sys.exit(f"{doc}: the block at {where} failed (exit {result.returncode})")
        print(f"{doc}: {len(found)} runnable block(s) ran")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
