#!/usr/bin/env python3
"""Runs clang-tidy over source files, skipping those already found clean.

Usage: clang_tidy_cached.py --build BUILD --tidy CLANG_TIDY [--jobs N]
                            [--extra-arg ARG ...] [--no-cache] REGEX

Every file of compile_commands.json in BUILD whose absolute path matches
REGEX (a Python regular expression, searched) is checked by its own
clang-tidy process (N at a time, as BUILD compiles it), with every warning
an error (.clang-tidy). A file found clean is remembered by a key over everything
its result depends on:

  - the file's compile command, with the source and build paths replaced
    by placeholders wherever they occur (-I..., -D...="..."), so every clone
    of the tree, wherever it is, shares the cache;
  - the path and contents of the file and of every header it includes,
    system headers too (from the build's own dependency list, ninja -t
    deps: the file must have been compiled in BUILD, else it is checked);
  - clang-tidy's version, the .clang-tidy files, the extra arguments, and
    the versions of every installed Debian package (a changed compiler or
    library header set invalidates everything).

A file whose key was found clean before is not checked again. Findings are
never cached. The cache lives in $CRMSYNC_TIDY_CACHE, else
$XDG_CACHE_HOME/crmsync/clang-tidy, else ~/.cache/crmsync/clang-tidy;
entries unused for 30 days are removed. --no-cache (or
CRMSYNC_TIDY_CACHE=off) checks every file and remembers nothing.

Prints the findings; exit status 0 when every file is clean, 1 on findings,
2 on bad usage.
"""

import argparse
import concurrent.futures
import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
import time

CACHE_FORMAT = "2"  # bump when the key's makeup changes
MAX_AGE_DAYS = 30


def cache_dir():
    explicit = os.environ.get("CRMSYNC_TIDY_CACHE")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "crmsync", "clang-tidy")


def ninja_deps(build):
    """Object file (relative to BUILD) -> the files it was compiled from."""
    try:
        out = subprocess.run(["ninja", "-C", build, "-t", "deps"], check=True,
                             capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {}
    deps, current = {}, None
    for line in out.splitlines():
        if not line.strip():
            current = None
        elif not line.startswith(" "):
            target, _, rest = line.partition(":")
            # "(STALE)": the object is older than a dependency; not to be trusted.
            current = None if "VALID" not in rest else target
            if current is not None:
                deps[current] = []
        elif current is not None:
            deps[current].append(line.strip())
    return deps


class Hasher:
    def __init__(self, root, build):
        self.root, self.build = root, build
        self.memo = {}

    def relative(self, path):
        """PATH, or any text, with the build and source trees' paths replaced
        wherever they occur (the build tree first: it is usually inside the
        source tree)."""
        for base, name in ((self.build, "@BUILD@"), (self.root, "@ROOT@")):
            path = re.sub(re.escape(base) + r"(?=$|[/\"'\s])", name, path)
        return path

    def file(self, path):
        if path not in self.memo:
            h = hashlib.sha256()
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            self.memo[path] = h.hexdigest()
        return self.memo[path]


def global_key(root, tidy, extra_args):
    h = hashlib.sha256()
    h.update(CACHE_FORMAT.encode())
    h.update(subprocess.run([tidy, "--version"], capture_output=True, text=True).stdout.encode())
    for arg in extra_args:
        h.update(b"\0arg:" + arg.encode())
    for dirpath, dirnames, names in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames
                             if not d.startswith(".") and not d.startswith("build"))
        if ".clang-tidy" in names:
            path = os.path.join(dirpath, ".clang-tidy")
            h.update(b"\0config:" + path[len(root):].encode())
            with open(path, "rb") as f:
                h.update(f.read())
    try:
        packages = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Version}\\n"],
                                  capture_output=True, text=True).stdout
    except OSError:
        packages = "no dpkg"
    h.update(b"\0packages:" + packages.encode())
    return h.hexdigest()


def file_key(entry, deps, hasher, base):
    """The key of one compile_commands entry, or None when it cannot be known."""
    args = shlex.split(entry["command"])
    if "-o" not in args:
        return None
    obj = args[args.index("-o") + 1]
    obj_rel = os.path.relpath(os.path.join(entry["directory"], obj), hasher.build)
    files = deps.get(obj_rel)
    if not files:
        return None
    try:
        # A file changed since the object was built: its dependency list
        # may be out of date (an #include added), so no key.
        built = os.stat(os.path.join(hasher.build, obj_rel)).st_mtime_ns
    except OSError:
        return None
    h = hashlib.sha256()
    h.update(base.encode())
    h.update(b"\0cmd:" + " ".join(hasher.relative(a) for a in args).encode())
    h.update(b"\0src:" + hasher.relative(entry["file"]).encode())
    paths = {}  # the name in the key -> the file
    for path in set(files) | {entry["file"]}:
        full = os.path.normpath(path if os.path.isabs(path) else os.path.join(hasher.build, path))
        paths[hasher.relative(full)] = full
    try:
        # In the order of the names in the key, which is the same in every
        # clone (absolute paths would sort the tree's own files before or
        # after /usr depending on where the clone is).
        for name in sorted(paths):
            full = paths[name]
            if os.stat(full).st_mtime_ns > built:
                return None
            h.update(b"\0" + name.encode() + b"=" + hasher.file(full).encode())
    except OSError:
        return None
    return h.hexdigest()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", required=True)
    parser.add_argument("--tidy", required=True)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--extra-arg", action="append", default=[])
    parser.add_argument("--no-cache", action="store_true")
    parser.add_argument("regex")
    args = parser.parse_args()
    if os.environ.get("CRMSYNC_TIDY_CACHE") == "off":
        args.no_cache = True

    build = os.path.realpath(args.build)
    root = os.path.realpath(os.path.join(os.path.dirname(__file__), ".."))
    try:
        with open(os.path.join(build, "compile_commands.json")) as f:
            entries = {os.path.normpath(e["file"]): e for e in json.load(f)}
    except (OSError, ValueError) as e:
        print(f"clang_tidy_cached: cannot read {build}/compile_commands.json: {e}", file=sys.stderr)
        return 2
    try:
        pattern = re.compile(args.regex)
    except re.error as e:
        print(f"clang_tidy_cached: bad regular expression {args.regex!r}: {e}", file=sys.stderr)
        return 2
    files = sorted(p for p in entries if pattern.search(p))
    if not files:
        print(f"clang_tidy_cached: no file of compile_commands.json matches {args.regex}")
        return 0

    keys = {}
    cache = cache_dir()
    if not args.no_cache:
        os.makedirs(cache, exist_ok=True)
        base = global_key(root, args.tidy, args.extra_arg)
        deps = ninja_deps(build)
        hasher = Hasher(root, build)
        for path in files:
            keys[path] = file_key(entries[path], deps, hasher, base)
    cached = {p for p in files if keys.get(p) and os.path.exists(os.path.join(cache, keys[p]))}
    todo = [p for p in files if p not in cached]

    def check(path):
        cmd = [args.tidy, "-p", build, "-quiet"]
        cmd += ["--extra-arg=" + a for a in args.extra_arg]
        proc = subprocess.run(cmd + [path], capture_output=True, text=True)
        return path, proc.returncode, proc.stdout + proc.stderr

    failed = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for path, code, output in pool.map(check, todo):
            if code == 0:
                if keys.get(path):
                    with open(os.path.join(cache, keys[path]), "w"):
                        pass
                continue
            failed += 1
            lines = [l for l in output.splitlines()
                     if l.strip() and not l.endswith(" warnings generated.")
                     and not l.endswith(" warning generated.")
                     and not l.startswith("Suppressed ")
                     and not l.startswith("Use -header-filter")]
            print("\n".join(lines) if lines else f"{path}: clang-tidy exited {code}")

    now = time.time()
    for path in cached:
        os.utime(os.path.join(cache, keys[path]), (now, now))
    if not args.no_cache:
        for name in os.listdir(cache):
            entry = os.path.join(cache, name)
            if now - os.path.getmtime(entry) > MAX_AGE_DAYS * 86400:
                os.remove(entry)
    print(f"clang_tidy_cached: {len(files)} files, {len(cached)} clean before with the same "
          f"inputs, {len(todo)} checked, {failed} with findings")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
