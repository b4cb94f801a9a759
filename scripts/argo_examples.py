#!/usr/bin/python3
"""Run Argo's own examples through Loom, as Argo's examples test does on a cluster.

Given a checkout of argo-workflows (or its git directory, read with `git archive`), this does what
its test/e2e/examples_test.go does, on this machine:

  1. applies every ConfigMap, WorkflowTemplate and ClusterWorkflowTemplate found under examples/
     (subfolders included) with `loom apply -f -`; the kinds Loom does not keep are listed as
     skipped;
  2. submits every Workflow there that lacks the `workflows.argoproj.io/no-test` label with
     `loom workflow submit --wait`, all in one fresh $LOOM_HOME, a few at a time, each with a
     timeout;
  3. prints `N of M Succeeded` and each failure's one-line reason, grouped by cause.

Pods run as processes by default (--pod-runtime process); `python` is on their PATH (a temporary
directory holding a `python` link to python3), as the examples' images would have it. With
--pod-runtime auto, the images the examples name are first built as local stand-ins
(scripts/argo_images.py, reused once built), and each pod whose image is there runs in a container.

    scripts/argo_examples.py ~/src/argo-workflows
    scripts/argo_examples.py --git-dir /path/to/argo-workflows.git --ref v4.1.2 --jobs 2

Exit status: 0 when every example Succeeded, 1 otherwise, 2 on bad usage.
"""

import argparse
import collections
import concurrent.futures
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import yaml

NO_TEST = "workflows.argoproj.io/no-test"
# What examples_test.go applies before it submits anything.
APPLIED_KINDS = ("ConfigMap", "PersistentVolumeClaim", "WorkflowTemplate", "ClusterWorkflowTemplate")
MANIFEST_EXTENSIONS = (".yaml", ".yml", ".json")


class Example:
    def __init__(self, path, index, doc, single):
        self.path = path          # relative to the checkout
        self.index = index        # the document's place in its file
        self.doc = doc
        self.single = single      # the file holds this document alone
        self.name = ""            # the workflow's name, once submitted
        self.phase = ""
        self.reason = ""
        self.seconds = 0.0


def walk_manifests(root):
    """Every manifest file under root/examples, in a stable order (as fileutil.WalkManifests)."""
    found = []
    for folder, dirs, files in os.walk(os.path.join(root, "examples")):
        dirs.sort()
        for f in sorted(files):
            if f.endswith(MANIFEST_EXTENSIONS):
                found.append(os.path.join(folder, f))
    return found


def load_documents(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        return [d for d in yaml.safe_load_all(text)], None
    except yaml.YAMLError as e:
        return [], str(e).splitlines()[0]


def extract_checkout(git_dir, ref, into):
    """examples/ of `ref` in the git directory `git_dir`, unpacked under `into`."""
    archive = subprocess.Popen(["git", "-C", git_dir, "archive", ref, "examples"], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", into], stdin=archive.stdout, check=True)
    archive.stdout.close()
    if archive.wait() != 0:
        sys.exit(f"argo_examples: git archive {ref} examples in {git_dir} failed")
    return into


def run(cmd, env, input_text=None, timeout=60):
    p = subprocess.run(cmd, env=env, input=input_text, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def one_line(text, limit=240):
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def last_error_line(stderr):
    lines = [l for l in stderr.splitlines() if l.strip()]
    return lines[-1] if lines else ""


class Runner:
    def __init__(self, loom, env, timeout, workdir):
        self.loom = loom
        self.env = env
        self.timeout = timeout
        self.workdir = workdir
        self.print_lock = threading.Lock()
        self.has_apply = run([loom, "apply", "--help"], env)[0] == 0

    def document_file(self, ex):
        """The file to hand to loom: the example itself when it holds one document."""
        if ex.single:
            return os.path.join(self.env["ARGO_EXAMPLES_ROOT"], ex.path)
        path = os.path.join(self.workdir, "docs", f"{ex.path.replace('/', '_')}.{ex.index}.yaml")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            yaml.safe_dump(ex.doc, f, sort_keys=False)
        return path

    def apply(self, path, doc):
        """`loom apply -f -` of one document; returns an error line or ''."""
        if not self.has_apply:  # a loom from before `loom apply`: templates only
            if doc.get("kind") not in ("WorkflowTemplate", "ClusterWorkflowTemplate"):
                return f'no matches for kind "{doc.get("kind")}" (this loom has no apply)'
            with tempfile.NamedTemporaryFile("w", suffix=".yaml", dir=self.workdir, delete=False) as f:
                yaml.safe_dump(doc, f, sort_keys=False)
            code, out, err = run([self.loom, "template", "create", f.name], self.env)
        else:
            code, out, err = run([self.loom, "apply", "-f", "-"], self.env, yaml.safe_dump(doc, sort_keys=False))
        return "" if code == 0 else one_line(last_error_line(err) or out)

    def reclaim(self, name):
        """Kills what is left of a timed-out workflow's pods (their environment names it)."""
        if not name:
            return
        marker = f"ARGO_WORKFLOW_NAME={name}".encode() + b"\0"
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    if marker in f.read() + b"\0":
                        os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass

    def reason_for(self, ex, stderr):
        """One line saying why the example did not Succeed."""
        if not ex.name:
            return one_line(last_error_line(stderr) or "loom workflow submit failed before naming a workflow")
        code, out, err = run([self.loom, "workflow", "get", ex.name, "-o", "json"], self.env)
        if code != 0:
            return one_line(last_error_line(err))
        wf = json.loads(out)
        status = wf.get("status", {})
        nodes = status.get("nodes", {}) or {}
        failed = [n for n in nodes.values() if n.get("phase") in ("Failed", "Error")]
        # The failure that says why: a node whose own message is not "child ... failed", a pod
        # before the rest, the earliest first.
        def rank(n):
            message = n.get("message", "")
            return (not message or message.startswith("child '"), n.get("type") != "Pod", n.get("startedAt", ""))
        leaves = sorted(failed, key=rank)[:1]
        if leaves:
            leaf = leaves[0]
            text = f"{leaf.get('type', 'node')} {leaf.get('displayName', leaf.get('name', ''))}: {leaf.get('message', '')}"
            if leaf.get("type") == "Pod":
                code, log, _ = run([self.loom, "workflow", "logs", ex.name, leaf.get("id", "")], self.env)
                tail = [l for l in log.splitlines() if l.strip()]
                if code == 0 and tail:
                    text += " | log: " + tail[-1]
            return one_line(text)
        if ex.phase in ("Running", "Pending", ""):
            running = [n.get("displayName", "") for n in nodes.values()
                       if n.get("phase") in ("Running", "Pending") and n.get("type") in ("Pod", "Suspend")]
            return one_line(f"timed out after {self.timeout}s; still running: {', '.join(sorted(running)) or '-'}")
        return one_line(status.get("message", "") or last_error_line(stderr) or f"phase {ex.phase}")

    def submit(self, ex):
        start = time.monotonic()
        cmd = [self.loom, "workflow", "submit", self.document_file(ex), "--wait", "-o", "name"]
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            p = subprocess.Popen(cmd, env=self.env, stdout=out, stderr=err, text=True, start_new_session=True)
            timed_out = False
            try:
                p.wait(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                p.send_signal(signal.SIGTERM)  # the engine stops its pods and exits
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()
            out.seek(0)
            err.seek(0)
            lines, stderr = out.read().splitlines(), err.read()
        ex.seconds = time.monotonic() - start
        ex.name = lines[0].strip() if lines else ""
        if timed_out:
            self.reclaim(ex.name)
        if ex.name:
            code, out, _ = run([self.loom, "workflow", "get", ex.name, "-o", "json"], self.env)
            ex.phase = json.loads(out).get("status", {}).get("phase", "") if code == 0 else ""
        if timed_out and ex.phase in ("", "Running", "Pending"):
            ex.phase = "Running"
        if ex.phase != "Succeeded":
            ex.reason = self.reason_for(ex, stderr)
            if timed_out and not ex.reason.startswith("timed out"):
                ex.reason = f"timed out after {self.timeout}s: " + ex.reason
        with self.print_lock:
            shown = ex.phase or "NotSubmitted"
            print(f"  {shown:<12} {ex.seconds:6.1f}s  {ex.path}" + (f"#{ex.index}" if not ex.single else ""),
                  flush=True)
        return ex


def cause_of(reason):
    """The part of a reason that is the same across examples failing the same way."""
    text = re.sub(r"^loom [a-z]+ [a-z]+: ", "", reason)                  # the command
    text = re.sub(r"^\S+\.(ya?ml|json)(:\d+)*: ", "", text)               # file:line:
    text = re.sub(r"^(Pod|Steps|DAG|Retry|StepGroup|TaskGroup|Suspend|Skipped|node) \S+: ", r"\1: ", text)
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", text)
    text = re.sub(r"\b[0-9a-f]{6,}\b|\d+", "#", text)
    return text[:120]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkout", nargs="?", help="a checkout of argo-workflows (holds examples/)")
    ap.add_argument("--git-dir", help="instead of a checkout: a git directory of argo-workflows, read with git archive")
    ap.add_argument("--ref", default="HEAD", help="with --git-dir: the commit or tag (default HEAD)")
    ap.add_argument("--loom", default="", help="the loom binary (default: build/loom beside this script, else loom on PATH)")
    ap.add_argument("--pod-runtime", choices=("process", "auto"), default="process",
                    help="how pods run (loom workflow submit --pod-runtime)")
    ap.add_argument("--jobs", type=int, default=2, help="workflows run at once (default 2)")
    ap.add_argument("--timeout", type=int, default=180, help="seconds one workflow may take (default 180)")
    ap.add_argument("--only", default="", help="a regular expression: run only the examples whose path matches")
    ap.add_argument("--keep", action="store_true", help="keep the temporary $LOOM_HOME and print where it is")
    args = ap.parse_args()
    if bool(args.checkout) == bool(args.git_dir):
        ap.error("give either a checkout or --git-dir")

    here = os.path.dirname(os.path.abspath(__file__))
    loom = args.loom or os.path.join(here, "..", "build", "loom")
    if not os.path.exists(loom):
        loom = shutil.which("loom") or ""
    if not loom:
        ap.error("no loom binary: build it (cmake --build build --target loom) or give --loom")
    loom = os.path.abspath(loom)

    workdir = tempfile.mkdtemp(prefix="argo-examples-")
    root = args.checkout
    if args.git_dir:
        os.makedirs(os.path.join(workdir, "checkout"))
        root = extract_checkout(args.git_dir, args.ref, os.path.join(workdir, "checkout"))
    root = os.path.abspath(root)
    if not os.path.isdir(os.path.join(root, "examples")):
        ap.error(f"{root}: no examples/ folder")

    bin_dir = os.path.join(workdir, "bin")
    os.makedirs(bin_dir)
    os.symlink(shutil.which("python3") or "/usr/bin/python3", os.path.join(bin_dir, "python"))
    env = dict(os.environ)
    env["LOOM_HOME"] = os.path.join(workdir, "home")
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env["LOOM_POD_RUNTIME"] = args.pod_runtime
    env["ARGO_EXAMPLES_ROOT"] = root
    runner = Runner(loom, env, args.timeout, workdir)
    if args.pod_runtime == "auto":
        sys.path.insert(0, here)
        import argo_images
        ready, skipped, errors = argo_images.build_all(progress=lambda line: print("image " + line, flush=True))
        for line in skipped + errors:
            print("image " + line, flush=True)
        if errors:
            sys.exit("argo_examples: a stand-in image failed to build")

    only = re.compile(args.only) if args.only else None
    examples, applied, skipped_kinds, apply_errors, unreadable = [], collections.Counter(), collections.Counter(), [], []
    no_test = 0
    for path in walk_manifests(root):
        rel = os.path.relpath(path, root)
        docs, error = load_documents(path)
        if error:
            unreadable.append(f"{rel}: {error}")
            continue
        docs = [d for d in docs if isinstance(d, dict)]
        for i, doc in enumerate(docs):
            kind = doc.get("kind", "")
            if kind in APPLIED_KINDS:
                error = runner.apply(rel, doc)
                if "no matches for kind" in error:
                    skipped_kinds[kind] += 1
                elif error:
                    apply_errors.append(f"{rel}: {kind} {doc.get('metadata', {}).get('name', '')}: {error}")
                else:
                    applied[kind] += 1
            elif kind == "Workflow":
                labels = (doc.get("metadata") or {}).get("labels") or {}
                if NO_TEST in labels:
                    no_test += 1
                    continue
                if only and not only.search(rel):
                    continue
                examples.append(Example(rel, i, doc, len(docs) == 1))

    print(f"loom: {loom}   pod runtime: {args.pod_runtime}   LOOM_HOME: {env['LOOM_HOME']}")
    print("applied: " + (", ".join(f"{n} {k}" for k, n in sorted(applied.items())) or "nothing"))
    if skipped_kinds:
        print("skipped (kinds loom does not keep): " + ", ".join(f"{n} {k}" for k, n in sorted(skipped_kinds.items())))
    for e in apply_errors:
        print("apply failed: " + e)
    for e in unreadable:
        print("unreadable: " + e)
    print(f"submitting {len(examples)} workflows ({no_test} labelled {NO_TEST} left out), "
          f"{args.jobs} at a time, {args.timeout}s each")
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        done = list(pool.map(runner.submit, examples))
    elapsed = time.monotonic() - started

    ok = [e for e in done if e.phase == "Succeeded"]
    print(f"\n{len(ok)} of {len(done)} Succeeded ({elapsed:.0f}s, pod runtime {args.pod_runtime})")
    groups = collections.defaultdict(list)
    for e in done:
        if e.phase != "Succeeded":
            groups[cause_of(e.reason)].append(e)
    for cause, members in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        print(f"\n[{len(members)}] {cause}")
        for e in sorted(members, key=lambda e: e.path):
            print(f"    {e.path}: {e.phase or 'not submitted'}: {e.reason}")
    if args.keep:
        print(f"\nkept: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if len(ok) == len(done) else 1


if __name__ == "__main__":
    sys.exit(main())
