#!/usr/bin/python3
"""Stand-in images for Argo's examples, built offline under the names the examples use.

No registry is reachable from these machines, so the images Argo's examples name (busybox,
alpine, python:alpine, argoproj/argosay, curlimages/curl, nginx, influxdb) are made here with
buildah from files already on the machine, under the same names (docker.io/library/busybox:latest
for `busybox`, as Kubernetes reads a short name), each with the ENTRYPOINT/CMD/USER/ENV of the
real image's Dockerfile. What each one holds, and how it differs from the real image, is in
STANDINS below and in docs/testing.md.

An image is built once and reused from podman's local store: each carries the label
dev.loom.standin, a hash of its recipe and of the host files it was made from, and is rebuilt only
when that changes.

    scripts/argo_images.py            # build (or reuse) every stand-in whose files are here
    scripts/argo_images.py --list     # what each holds, without building
    scripts/argo_images.py --force    # rebuild all

Exit status: 0 when every stand-in is in the store (those whose host files are missing are listed
and skipped), 1 when a build failed.
"""

import argparse
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile

LABEL = "dev.loom.standin"
BUSYBOX = "/bin/busybox"

# argosay v2 (Argo's test/e2e/images/argosay/v2): a shell program, the image's ENTRYPOINT. The
# commands Argo's examples give it, with its exit statuses.
ARGOSAY = r"""#!/bin/sh
# argosay: a stand-in with the commands of Argo's argosay v2 image.
set -eu
command=${1:-}
case $command in
  '') echo "hello argo" ;;
  echo)
    if [ $# -eq 1 ]; then echo "hello argo"
    elif [ $# -eq 2 ]; then echo "$2"
    elif [ $# -eq 3 ]; then mkdir -p "$(dirname "$3")"; echo "$2" > "$3"
    else exit 1
    fi ;;
  cat) cat "$2" ;;
  assert_contains) grep -F "$3" "$2" ;;
  exit) exit "${2:-0}" ;;
  sleep) sleep "$2" ;;
  sh) sh "${2:-0}" ;;
  *) exit 1 ;;
esac
"""

# cowsay (Debian's cowsay, which argosay v1 runs): the message, from the arguments or standard
# input, in a speech bubble above the cow. Lines are wrapped at 40 columns as cowsay's -W default.
COWSAY = r"""#!/bin/sh
# cowsay: a stand-in printing cowsay's default cow with the message in its bubble.
if [ $# -gt 0 ]; then text="$*"; else text=$(cat); fi
printf '%s\n' "$text" | fold -s -w 40 | awk '
  { sub(/[ \t]+$/, ""); line[NR] = $0; if (length($0) > w) w = length($0) }
  END {
    bar = ""; for (i = 0; i < w + 2; i++) bar = bar "_"; print " " bar
    for (i = 1; i <= NR; i++) {
      if (NR == 1) { l = "<"; r = ">" }
      else if (i == 1) { l = "/"; r = "\\" }
      else if (i == NR) { l = "\\"; r = "/" }
      else { l = "|"; r = "|" }
      printf "%s %-" w "s %s\n", l, line[i], r
    }
    bar = ""; for (i = 0; i < w + 2; i++) bar = bar "-"; print " " bar
    print "        \\   ^__^"
    print "         \\  (oo)\\_______"
    print "            (__)\\       )\\/\\"
    print "                ||----w |"
    print "                ||     ||"
  }'
"""

# The entrypoint of curlimages/curl and of influxdb's images: options alone go to the program.
OPTIONS_ENTRYPOINT = r"""#!/bin/sh
set -e
if [ "${1#-}" != "$1" ]; then set -- %s "$@"; fi
exec "$@"
"""

NGINX_CONF = """user nginx;
worker_processes 1;
error_log /var/log/nginx/error.log warn;
pid /var/run/nginx.pid;
events { worker_connections 1024; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log /var/log/nginx/access.log;
    sendfile on;
    keepalive_timeout 65;
    include /etc/nginx/conf.d/*.conf;
}
"""

NGINX_DEFAULT_SITE = """server {
    listen 80;
    server_name localhost;
    location / {
        root /usr/share/nginx/html;
        index index.html index.htm;
    }
}
"""

NGINX_INDEX = """<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working.</p>
</body>
</html>
"""

PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
GROUP = "root:x:0:\nnobody:x:65534:\n"

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class StandIn:
    """One image: its names, what goes in its root file system, and its config."""

    def __init__(self, names, holds, differs, entrypoint=None, cmd=None, env=None, user="", workdir="",
                 programs=(), trees=(), files=None, users=(), needs=()):
        self.names = names            # as the examples write them; the first is the one built
        self.holds = holds            # what it is made of (for --list and the docs)
        self.differs = differs        # how it differs from the real image
        self.entrypoint = entrypoint  # as the real image's Dockerfile has them
        self.cmd = cmd
        self.env = env or ["PATH=" + PATH]
        self.user = user
        self.workdir = workdir
        self.programs = programs      # host programs copied with their shared libraries
        self.trees = trees            # (host dir, image dir, excluded names): copied whole
        self.files = files or {}      # image path -> (text, mode)
        self.users = users            # extra /etc/passwd lines "name:uid"
        self.needs = needs            # host paths that must exist (else the stand-in is skipped)

    def missing(self):
        return [p for p in (BUSYBOX,) + tuple(self.needs) + tuple(h for h, _ in self.programs) if not os.path.exists(p)]


def python_standin():
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    lib = f"/usr/lib/python{version}"
    skip = ("test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "pydoc_data", "dist-packages",
            "site-packages", "config-" + version + "-x86_64-linux-gnu")
    return StandIn(
        ["python:alpine3.23"],
        f"the host's python{version} (/usr/bin/python{version}, its standard library without tests, idle, tkinter "
        "and ensurepip, the shared libraries of the interpreter and of its extension modules) and a static busybox",
        f"CPython {version} on glibc instead of the tag's CPython on musl; no pip, no apk",
        cmd=["python3"], env=["PATH=" + PATH, "LANG=C.UTF-8"],
        programs=[(f"/usr/bin/python{version}", f"/usr/local/bin/python{version}")],
        trees=[(lib, lib, skip)],
        files={"/usr/local/bin/python3": (f"python{version}", "link"), "/usr/local/bin/python": (f"python{version}", "link")},
        needs=[lib])


def standins():
    busybox_differs = "busybox's applets only (no apk, no musl libc: nothing dynamically linked runs)"
    return [
        StandIn(["busybox"], "a static busybox with every applet linked in /bin",
                "the same program (Debian's busybox-static build)", cmd=["sh"]),
        StandIn(["alpine:3.23", "alpine:latest"], "a static busybox with every applet linked in /bin",
                busybox_differs, cmd=["/bin/sh"]),
        python_standin(),
        StandIn(["argoproj/argosay:v2"],
                "a static busybox, /argosay (a shell program with argosay v2's commands: echo [text [file]], cat, "
                "assert_contains, exit, sleep, sh) and a small cowsay",
                "busybox instead of Ubuntu; cowsay is a small shell program drawing the default cow",
                entrypoint=["/argosay"], env=["PATH=" + PATH + ":/usr/games"],
                files={"/argosay": (ARGOSAY, 0o755), "/usr/games/cowsay": (COWSAY, 0o755)}),
        StandIn(["argoproj/argosay:v1"], "a static busybox and a small cowsay (argosay v1 runs Debian's cowsay)",
                "busybox instead of Ubuntu; cowsay is a small shell program drawing the default cow",
                cmd=["cowsay"], env=["PATH=" + PATH + ":/usr/games"],
                files={"/usr/games/cowsay": (COWSAY, 0o755)}),
        StandIn(["curlimages/curl:latest"],
                "the host's curl with its shared libraries, CA certificates, a static busybox and the image's "
                "/entrypoint.sh (options alone run curl)",
                "Debian's curl build instead of curl's own static one",
                entrypoint=["/entrypoint.sh"], cmd=["curl"], user="curl_user",
                env=["PATH=" + PATH, "CURL_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt"],
                programs=[("/usr/bin/curl", "/usr/bin/curl")],
                files={"/entrypoint.sh": (OPTIONS_ENTRYPOINT % "curl", 0o755),
                       "/etc/ssl/certs/ca-certificates.crt": ("/etc/ssl/certs/ca-certificates.crt", "copy")},
                users=["curl_user:100"]),
        StandIn(["nginx:1.13"],
                "the host's nginx (Debian's nginx-light) with its shared libraries and mime.types, a static busybox, "
                "nginx.conf and conf.d/default.conf serving /usr/share/nginx/html on port 80 as the image's do",
                "nginx 1.22 (Debian's nginx-light modules) instead of 1.13; logs go to files under /var/log/nginx",
                cmd=["nginx", "-g", "daemon off;"],
                programs=[("/usr/sbin/nginx", "/usr/sbin/nginx")],
                files={"/etc/nginx/nginx.conf": (NGINX_CONF, 0o644),
                       "/etc/nginx/conf.d/default.conf": (NGINX_DEFAULT_SITE, 0o644),
                       "/etc/nginx/mime.types": ("/etc/nginx/mime.types", "copy"),
                       "/usr/share/nginx/html/index.html": (NGINX_INDEX, 0o644),
                       "/var/log/nginx/": ("", "dir"), "/var/cache/nginx/": ("", "dir"),
                       "/var/lib/nginx/body/": ("", "dir"), "/var/run/": ("", "dir")},
                users=["nginx:101"], needs=["/etc/nginx/mime.types"]),
        StandIn(["influxdb:1.2"],
                "the host's influxd (Debian's influxdb package) with its shared libraries, a static busybox and the "
                "image's /entrypoint.sh",
                "InfluxDB 1.6 instead of 1.2 (the same HTTP API: /ping, /query, /write)",
                entrypoint=["/entrypoint.sh"], cmd=["influxd"],
                programs=[("/usr/bin/influxd", "/usr/bin/influxd")],
                files={"/entrypoint.sh": (OPTIONS_ENTRYPOINT % "influxd", 0o755),
                       "/var/lib/influxdb/": ("", "dir")}),
    ]


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def shared_libraries(program):
    """What ldd names for a program (and its loader): absolute paths; none for a static one."""
    p = run(["ldd", program])
    if p.returncode != 0:
        return []
    found = []
    for line in p.stdout.splitlines():
        parts = line.split()
        if "=>" in parts:
            at = parts.index("=>")
            if at + 1 < len(parts) and parts[at + 1].startswith("/"):
                found.append(parts[at + 1])
        elif parts and parts[0].startswith("/"):
            found.append(parts[0])
    return found


def copy_file(host, root, image_path):
    dest = os.path.join(root, image_path.lstrip("/"))
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    shutil.copy2(os.path.realpath(host), dest)


def put_root(s, root):
    """Lays out the stand-in's root file system in `root`; returns the host files it read."""
    read = [BUSYBOX]
    copy_file(BUSYBOX, root, "/bin/busybox")
    applets = run([BUSYBOX, "--list"]).stdout.split()
    for a in applets:
        link = os.path.join(root, "bin", a)
        if a != "busybox" and not os.path.lexists(link):
            os.symlink("busybox", link)
    # The folders of an Alpine or Debian root that programs expect to find (/mnt for outputs).
    for d in ("tmp", "root", "etc", "home", "mnt", "media", "opt", "srv", "run", "usr/local/bin", "var/tmp"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    os.chmod(os.path.join(root, "tmp"), 0o1777)
    os.chmod(os.path.join(root, "var/tmp"), 0o1777)
    passwd, group = PASSWD, GROUP
    for u in s.users:
        name, uid = u.split(":")
        passwd += f"{name}:x:{uid}:{uid}:{name}:/home/{name}:/bin/sh\n"
        group += f"{name}:x:{uid}:\n"
        os.makedirs(os.path.join(root, "home", name), exist_ok=True)
        os.chown(os.path.join(root, "home", name), int(uid), int(uid))
    with open(os.path.join(root, "etc/passwd"), "w") as f:
        f.write(passwd)
    with open(os.path.join(root, "etc/group"), "w") as f:
        f.write(group)
    libraries = set()
    for host, image_path in s.programs:
        copy_file(host, root, image_path)
        read.append(os.path.realpath(host))
        libraries.update(shared_libraries(host))
    for host, image_dir, skip in s.trees:
        dest = os.path.join(root, image_dir.lstrip("/"))
        shutil.copytree(host, dest, symlinks=True, ignore=shutil.ignore_patterns(*skip))
        read.append(host)
        for folder, _, files in os.walk(dest):
            for f in files:
                if f.endswith(".so"):
                    libraries.update(shared_libraries(os.path.join(folder, f)))
    for lib in sorted(libraries):
        copy_file(lib, root, lib)
        read.append(lib)
    for image_path, (content, mode) in s.files.items():
        dest = os.path.join(root, image_path.lstrip("/"))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        if mode == "dir":
            os.makedirs(dest, exist_ok=True)
        elif mode == "link":
            os.symlink(content, dest)
        elif mode == "copy":
            copy_file(content, root, image_path)
            read.append(content)
        else:
            with open(dest, "w") as f:
                f.write(content)
            os.chmod(dest, mode)
    return read


def recipe_hash(s, host_files):
    """What the image is made of: its recipe and the identity of each host file it read."""
    h = hashlib.sha256()
    h.update(json.dumps([s.names, s.entrypoint, s.cmd, s.env, s.user, s.workdir, s.files, s.users,
                         [list(t[:2]) + list(t[2]) for t in s.trees]], sort_keys=True).encode())
    for p in sorted(set(host_files)):
        st = os.stat(p)
        h.update(f"{p} {st.st_size} {int(st.st_mtime)}\n".encode())
    return h.hexdigest()[:16]


def qualified(name):
    """The name as Kubernetes and podman read a short one: docker.io/library/busybox:latest."""
    first = name.split("/")[0]
    if "/" not in name or ("." not in first and ":" not in first and first != "localhost"):
        name = ("docker.io/library/" if "/" not in name else "docker.io/") + name
    return name if ":" in name.rsplit("/", 1)[-1] else name + ":latest"


def stored_label(name):
    p = run(["podman", "image", "inspect", "--format", "{{index .Labels \"" + LABEL + "\"}}", qualified(name)])
    return p.stdout.strip() if p.returncode == 0 else None


def build(s, force, progress):
    """Builds the stand-in (or finds it already built); returns an error line or ''."""
    with tempfile.TemporaryDirectory(prefix="loom-standin-") as root:
        host_files = put_root(s, root)
        digest = recipe_hash(s, host_files)
        if not force and all(stored_label(n) == digest for n in s.names):
            progress(f"{s.names[0]}: up to date")
            return ""
        c = run(["buildah", "from", "scratch"])
        if c.returncode != 0:
            return f"buildah from scratch: {c.stderr.strip()}"
        container = c.stdout.strip()
        try:
            steps = [["buildah", "copy", "--quiet", container, root + "/", "/"]]
            config = ["buildah", "config", "--label", f"{LABEL}={digest}", "--workingdir", s.workdir or "/"]
            for e in s.env:
                config += ["--env", e]
            config += ["--entrypoint", json.dumps(s.entrypoint) if s.entrypoint else "[]"]
            config += ["--cmd", json.dumps(s.cmd) if s.cmd else "[]"]
            if s.user:
                config += ["--user", s.user]
            steps.append(config + [container])
            steps.append(["buildah", "commit", "--quiet", container, qualified(s.names[0])])
            for step in steps:
                p = run(step)
                if p.returncode != 0:
                    return f"{' '.join(step[:2])}: {p.stderr.strip()}"
            for other in s.names[1:]:
                p = run(["podman", "tag", qualified(s.names[0]), qualified(other)])
                if p.returncode != 0:
                    return f"podman tag {other}: {p.stderr.strip()}"
        finally:
            run(["buildah", "rm", container])
        progress(f"{s.names[0]}: built ({', '.join(qualified(n) for n in s.names)})")
        return ""


def build_all(force=False, progress=print):
    """Builds or reuses every stand-in whose host files exist; returns (built names, skipped, errors)."""
    ready, skipped, errors = [], [], []
    for s in standins():
        missing = s.missing()
        if missing:
            skipped.append(f"{s.names[0]}: not built, {', '.join(missing)} missing here")
            continue
        error = build(s, force, progress)
        if error:
            errors.append(f"{s.names[0]}: {error}")
        else:
            ready.extend(s.names)
    return ready, skipped, errors


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--list", action="store_true", help="print what each stand-in holds, build nothing")
    ap.add_argument("--force", action="store_true", help="rebuild even the stand-ins already in the store")
    args = ap.parse_args()
    if args.list:
        for s in standins():
            print(f"{', '.join(s.names)}\n    holds: {s.holds}\n    differs: {s.differs}\n"
                  f"    entrypoint: {s.entrypoint or '-'}  cmd: {s.cmd or '-'}  user: {s.user or 'root'}")
        return 0
    if shutil.which("buildah") is None or shutil.which("podman") is None:
        sys.exit("argo_images: needs buildah and podman (scripts/install_deps.sh installs them)")
    _, skipped, errors = build_all(args.force)
    for line in skipped + errors:
        print(line, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
