#!/usr/bin/env python3
"""bench/compare.py: imgc side by side with BuildKit (and buildah) on this machine.

Every workload is built by every engine from its own private copy of the
context, in interleaved rounds: round 1 times engine A, B, C in turn, round 2
starts with B, and so on, so that a change in the machine's load falls on
every engine alike. The table gives medians and imgc/BuildKit ratios, with the
load average seen before the timed runs.

Engines:
  imgc      imgc's local engine (runc over overlayfs), `imgc build`
  imgc-bk   `imgc build --builder` on the same buildkitd BuildKit uses
  buildkit  `buildctl build --frontend dockerfile.v0` (what `docker build` runs)
  buildah   `buildah build --layers` (samples only)

Phases: cold (empty caches, --no-cache; BuildKit is pruned and left to
finish deleting its snapshots before the run), import (empty local cache, a
shared cache exported by that engine's own earlier build given with
--cache-from / --import-cache), warm (nothing changed), touch (a copied file
gets a new mtime), edit (a line appended to a copied file), registry (as
import, with the cache exported to and imported from a loopback registry).

Called by bench/run.sh, which installs the engines and makes the bases first.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLES = os.path.join(ROOT, "bench", "refenv", "samples")


class Failed(Exception):
    """A command of the benchmark failed; the message is its output's last line."""


BUILD_LOG = ""


def sh(cmd, **kw):
    """Runs cmd (a list), raising Failed with its output's tail."""
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
    if r.returncode != 0:
        sys.stderr.write(f"command failed ({r.returncode}): {' '.join(cmd)}\n{r.stdout[-3000:]}\n")
        lines = [l for l in r.stdout.splitlines() if l.strip()]
        raise Failed(lines[-1] if lines else f"exit status {r.returncode}")
    return r.stdout


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def layout_digest(layout):
    with open(os.path.join(layout, "index.json")) as f:
        return json.load(f)["manifests"][0]["digest"]


# ---- workloads -------------------------------------------------------------


class Workload:
    """A build context, the base it starts from, and the phases to time."""

    def __init__(self, name, base, phases, engines, change=None, make=None, sample=None,
                 compression="gzip", platforms=None, title=None, sizes=False):
        self.name, self.base, self.phases, self.engines = name, base, phases, engines
        self.sizes = sizes  # report the size of each engine's last layer after the run
        self.change, self.make, self.sample = change, make, sample
        self.compression, self.platforms = compression, platforms
        self.title = title or name

    def write(self, ctx):
        if self.sample:
            shutil.copytree(os.path.join(SAMPLES, self.sample), ctx, symlinks=True)
        else:
            os.makedirs(ctx)
            self.make(ctx)


def steps_context(n):
    def make(ctx):
        lines = ["ARG BASE", "FROM ${BASE}"] + [f"RUN echo {i} > /step-{i}" for i in range(n)]
        with open(os.path.join(ctx, "Dockerfile"), "w") as f:
            f.write("\n".join(lines) + "\n")
    return make


def files_context(k):
    def make(ctx):
        with open(os.path.join(ctx, "Dockerfile"), "w") as f:
            f.write("ARG BASE\nFROM ${BASE}\nCOPY files/ /files/\n")
        for i in range(k):
            d = os.path.join(ctx, "files", f"d{i // 100:04d}")
            if i % 100 == 0:
                os.makedirs(d)
            with open(os.path.join(d, f"f{i % 100:02d}.txt"), "w") as f:
                f.write(f"file {i}\n" * 20)
    return make


def big_context(mb):
    # Copies of Debian's /usr (112 MB of binaries, libraries and text each):
    # a layer of real files that every gzip and zstd encoder compresses as
    # it would a package install. (Base64 of random bytes, used before, has
    # no matches at all: klauspost's deflate stores such blocks at the
    # levels below 7 while Go's compress/gzip, BuildKit's, still Huffman-codes
    # them to 3/4, so the two engines wrote layers of different sizes.)
    # The step makes the files itself, so no context is transferred.
    def make(ctx):
        if mb < 112:
            cmd = "cp -a /usr/bin /big0"
        else:
            n = -(-mb // 112)
            cmd = f"for i in $(seq 1 {n}); do cp -a /usr /big$i; done"
        with open(os.path.join(ctx, "Dockerfile"), "w") as f:
            f.write(f"ARG BASE\nFROM ${{BASE}}\nRUN {cmd}\n")
    return make


def big_title(mb, comp):
    what = "Debian's /usr/bin" if mb < 112 else f"{-(-mb // 112)} copies of Debian's /usr ({-(-mb // 112) * 112} MB)"
    return f"one large layer, {comp}: {what}"


def last_layer(archive):
    """The size of the last layer of the image in an OCI layout tar (the
    layer a large-layer workload's step wrote), or None."""
    try:
        with tarfile.open(archive) as t:
            def blob(desc):
                algo, hexd = desc["digest"].split(":", 1)
                for name in (f"blobs/{algo}/{hexd}", f"./blobs/{algo}/{hexd}"):
                    try:
                        return json.load(t.extractfile(name))
                    except KeyError:
                        continue
                raise KeyError(desc["digest"])
            try:
                doc = json.load(t.extractfile("index.json"))
            except KeyError:
                doc = json.load(t.extractfile("./index.json"))
            while "manifests" in doc:
                doc = blob(doc["manifests"][0])
            return doc["layers"][-1]["size"]
    except (OSError, KeyError, IndexError, ValueError, tarfile.TarError):
        return None


def platform_context(ctx):
    with open(os.path.join(ctx, "Dockerfile"), "w") as f:
        f.write("ARG BASE\nFROM ${BASE}\nCOPY a.txt /a.txt\n"
                "RUN sha256sum /bin/busybox > /sum && wc -l /a.txt > /lines\n")
    with open(os.path.join(ctx, "a.txt"), "w") as f:
        f.write("line\n" * 1000)


def workloads(quick):
    n_steps = [5, 20] if quick else [10, 50, 200]
    n_files = [200] if quick else [1000, 50000]
    big_mb = 20 if quick else 500
    core = ["imgc", "imgc-bk", "buildkit"]
    ws = [
        Workload("busybox-app", "busybox", ["cold", "warm", "touch", "edit", "import", "registry"],
                 core + ["buildah"], change="src/a.sh", sample="busybox-app"),
        Workload("debian-app", "debian", ["cold", "warm", "touch", "edit", "import", "registry"],
                 core + ["buildah"], change="src/lib.sh", sample="debian-app"),
    ]
    for n in n_steps:
        ws.append(Workload(f"steps-{n}", "busybox", ["cold"], ["imgc", "buildkit"],
                           make=steps_context(n), title=f"{n} trivial RUN steps"))
    for k in n_files:
        ws.append(Workload(f"files-{k}", "busybox", ["cold", "warm", "edit"], ["imgc", "buildkit"],
                           change="files/d0000/f00.txt", make=files_context(k),
                           title=f"COPY of {k} files"))
    for comp in ("gzip", "zstd"):
        ws.append(Workload(f"layer-{big_mb}mb-{comp}", "debian", ["cold"], ["imgc", "buildkit"],
                           make=big_context(big_mb), compression=comp,
                           title=big_title(big_mb, comp), sizes=True))
    ws.append(Workload("busybox-app-2p", "multi", ["cold", "warm"], ["imgc", "imgc-bk", "buildkit"],
                       sample="busybox-app", platforms="linux/amd64,linux/arm64",
                       title="busybox-app for linux/amd64 + linux/arm64 (arm64 under QEMU)"))
    ws.append(Workload("two-platforms", "multi", ["cold", "warm"], ["imgc", "imgc-bk", "buildkit"],
                       make=platform_context, platforms="linux/amd64,linux/arm64",
                       title="linux/amd64 + linux/arm64 (arm64 under QEMU)"))
    return ws


# ---- engines ---------------------------------------------------------------


class Env:
    def __init__(self, args):
        self.imgc = os.path.join(ROOT, "bin", "imgc")
        self.buildctl = os.path.join(args.buildkit_dir, "buildctl")
        self.bkhost = args.buildkit_host
        self.bkroot = args.buildkit_root
        self.bases = {"busybox": args.busybox, "debian": args.debian, "multi": args.multiarch}
        self.registry = args.registry


class Run:
    """One engine's build of one workload: its private context, caches and output."""

    def __init__(self, env, w, engine, work):
        self.env, self.w, self.engine = env, w, engine
        self.dir = os.path.join(work, f"{w.name}-{engine}")
        self.ctx = os.path.join(self.dir, "ctx")
        self.cache = os.path.join(self.dir, "cache")
        self.shared = os.path.join(self.dir, "shared-cache")
        self.ref = f"{env.registry}/bench-cache/{w.name}-{engine}:latest" if env.registry else ""
        self.out = os.path.join(self.dir, "out.tar")
        self.base = env.bases[w.base]
        w.write(self.ctx)

    def command(self, phase, export=False):
        e, w = self.env, self.w
        if self.engine in ("imgc", "imgc-bk"):
            cmd = [e.imgc, "build", "Dockerfile", "--progress", "plain", "--var", f"BASE=oci:{self.base}",
                   "--cache-dir", self.cache, "--output", f"type=oci-archive,dest={self.out}"]
            if self.engine == "imgc-bk":
                cmd += ["--builder", e.bkhost]
            if w.compression != "gzip":
                cmd += ["--compression", w.compression]
            if w.platforms:
                cmd += ["--platform", w.platforms]
            if phase == "cold":
                cmd.append("--no-cache")
            if phase == "import":
                cmd += ["--cache-from", f"type=local,src={self.shared}"]
            if phase == "registry":
                cmd += ["--cache-from", f"type=registry,ref={self.ref}", "--insecure-registry", e.registry]
            if export == "registry":
                cmd += ["--cache-to", f"type=registry,ref={self.ref},mode=max", "--insecure-registry", e.registry]
            elif export:
                cmd += ["--cache-to", f"type=local,dest={self.shared},mode=max"]
            return cmd
        if self.engine == "buildkit":
            out = f"type=oci,dest={self.out}"
            if w.compression != "gzip":
                out += f",compression={w.compression}"
            cmd = [e.buildctl, "--addr", e.bkhost, "build", "--progress", "plain",
                   "--frontend", "dockerfile.v0", "--local", f"context={self.ctx}",
                   "--local", f"dockerfile={self.ctx}", "--oci-layout", f"base={self.base}",
                   "--opt", "build-arg:BASE=base",
                   "--opt", f"context:base=oci-layout://base@{layout_digest(self.base)}",
                   "--output", out]
            if w.platforms:
                cmd += ["--opt", f"platform={w.platforms}"]
            if phase == "cold":
                cmd.append("--no-cache")
            if phase == "import":
                cmd += ["--import-cache", f"type=local,src={self.shared}"]
            if phase == "registry":
                cmd += ["--import-cache", f"type=registry,ref={self.ref}"]
            if export == "registry":
                cmd += ["--export-cache", f"type=registry,ref={self.ref},mode=max"]
            elif export:
                cmd += ["--export-cache", f"type=local,dest={self.shared},mode=max"]
            return cmd
        if self.engine == "buildah":
            cmd = ["buildah", "build", "--storage-driver", "overlay", "--layers", "-q",
                   "-t", f"localhost/bench-{w.name}:latest",
                   "--build-arg", f"BASE=localhost/bench-base-{w.base}:latest", "."]
            if phase == "cold":
                cmd.insert(2, "--no-cache")
            return cmd
        raise ValueError(self.engine)

    def reset(self):
        """Empties this engine's caches (the base stays where it was given)."""
        shutil.rmtree(self.cache, ignore_errors=True)
        if self.engine in ("buildkit", "imgc-bk"):
            sh([self.env.buildctl, "--addr", self.env.bkhost, "prune", "--all"])
            wait_settled(self.env.bkroot)
        if self.engine == "buildah":
            subprocess.run(["buildah", "rmi", "-f", f"localhost/bench-{self.w.name}:latest"],
                           capture_output=True)
            subprocess.run(["buildah", "rmi", "--prune"], capture_output=True)

    def prepare(self, phase):
        if phase in ("cold", "import", "registry"):
            self.reset()
        elif phase == "touch":
            os.utime(os.path.join(self.ctx, self.w.change))
        elif phase == "edit":
            with open(os.path.join(self.ctx, self.w.change), "a") as f:
                f.write(f"# edit {time.time_ns()}\n")
        # What the engine before wrote (a 500 MB layer writes 1.5 GB) is on
        # disk before this one starts: an overlay unmount that syncs its file
        # system (BuildKit's; imgc's overlays are volatile) would otherwise
        # wait for the previous run's writes.
        os.sync()

    def build(self, phase, export=False):
        cwd = self.ctx
        t0 = time.monotonic()
        try:
            out = sh(self.command(phase, export), cwd=cwd)
        except Failed as e:
            if BUILD_LOG:
                with open(BUILD_LOG, "a") as f:
                    f.write(f"==== {self.w.name} {phase} {self.engine}: failed: {e}\n")
            raise
        t = time.monotonic() - t0
        if BUILD_LOG:
            with open(BUILD_LOG, "a") as f:
                f.write(f"==== {self.w.name} {phase} {self.engine}: {t:.3f} s\n{out}\n")
        return t


def tree_size(path):
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_blocks
            except OSError:
                pass
    return total


def wait_settled(root, limit=30):
    """Waits until buildkitd has finished deleting pruned snapshots (it does
    so in the background after `prune --all` returns)."""
    if not root:
        time.sleep(1)
        return
    last, deadline = -1, time.monotonic() + limit
    while time.monotonic() < deadline:
        size = tree_size(root)
        if size == last:
            return
        last = size
        time.sleep(0.5)


# ---- the run ---------------------------------------------------------------


def measure(env, w, rounds, work, log):
    """Times every phase of w; an engine that fails is left out of the rest
    of the workload, its error kept for the table."""
    runs = [Run(env, w, e, work) for e in w.engines]
    results = {"failed": {}}

    def attempt(r, fn):
        if r.engine in results["failed"]:
            return None
        try:
            return fn()
        except Failed as e:
            log(f"{w.name} {r.engine} failed: {e}")
            results["failed"][r.engine] = str(e)
            return None

    for phase in w.phases:
        for r in runs:
            if phase in ("import", "registry") and r.engine != "buildah":
                # export this engine's own shared cache from a cold build
                exp = "registry" if phase == "registry" else True
                attempt(r, lambda: (r.reset(), r.build("warm", export=exp)))
            elif phase != "cold":
                attempt(r, lambda: r.build("warm"))  # untimed: the cache later phases start from
        engines = [r for r in runs if not (phase in ("import", "registry") and r.engine == "buildah")]
        times = {r.engine: [] for r in engines}
        loads = []
        for i in range(rounds):
            order = engines[i % len(engines):] + engines[:i % len(engines)]
            for r in order:
                attempt(r, lambda: r.prepare(phase))
                loads.append(loadavg())
                t = attempt(r, lambda: r.build(phase))
                if t is not None:
                    times[r.engine].append(t)
                    log(f"{w.name} {phase} {r.engine} round {i + 1}: {t:.3f} s (load {loads[-1]:.2f})")
        results[phase] = {"times": times, "load": [min(loads), max(loads)]}
    if w.sizes:
        results["sizes"] = {r.engine: last_layer(r.out) for r in runs}
    return results


def ratio(a, b):
    return f"**{a / b:.2f}x**" if a and b else "-"


def summary(ws, results, rounds):
    out = [f"Interleaved rounds: {rounds}. Cells: median seconds (min-max). Load: the 1-minute load",
           "average before the timed runs of that row (lowest-highest).", ""]
    for w in ws:
        res = results.get(w.name)
        if not res:
            continue
        out += [f"### {w.title}", "", "| phase | " + " | ".join(w.engines) +
                " | imgc / BuildKit |" + (" imgc-bk / BuildKit |" if "imgc-bk" in w.engines else "") +
                " load |",
                "| --- " * (len(w.engines) + 3 + ("imgc-bk" in w.engines)) + "|"]
        for phase in w.phases:
            r = res[phase]
            med = {e: statistics.median(t) for e, t in r["times"].items() if t}
            cells = []
            for e in w.engines:
                t = r["times"].get(e)
                cells.append("failed" if not t and e in res.get("failed", {}) else
                             "-" if not t else f"{med[e]:.3f} ({min(t):.3f}-{max(t):.3f})")
            row = f"| {phase} | " + " | ".join(cells) + f" | {ratio(med.get('imgc'), med.get('buildkit'))} |"
            if "imgc-bk" in w.engines:
                row += f" {ratio(med.get('imgc-bk'), med.get('buildkit'))} |"
            row += f" {r['load'][0]:.1f}-{r['load'][1]:.1f} |"
            out.append(row)
        out.append("")
        sizes = res.get("sizes")
        if sizes:
            out += ["Layer the step wrote (compressed): " + ", ".join(
                f"{e} {v / 1e6:.1f} MB" if v else f"{e} -" for e, v in sizes.items()) + ".", ""]
        for e, msg in res.get("failed", {}).items():
            out += [f"{e} failed: `{msg}`", ""]
    return "\n".join(out)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--only", action="append", default=[], help="workload name (repeatable)")
    p.add_argument("--phase", action="append", default=[], help="only this phase (repeatable)")
    p.add_argument("--quick", action="store_true", help="small sizes, to check the script")
    p.add_argument("--out", default=os.path.join(ROOT, ".cache", "bench-out"))
    p.add_argument("--buildkit-dir", required=True)
    p.add_argument("--buildkit-host", required=True)
    p.add_argument("--buildkit-root", default="")
    p.add_argument("--busybox", required=True)
    p.add_argument("--debian", required=True)
    p.add_argument("--multiarch", required=True)
    p.add_argument("--registry", default="", help="HOST:PORT of a plain-HTTP loopback registry (registry phase)")
    p.add_argument("--skip-engine", action="append", default=[])
    args = p.parse_args()
    env = Env(args)
    ws = [w for w in workloads(args.quick) if not args.only or w.name in args.only]
    if args.phase:
        for w in ws:
            w.phases = [p for p in w.phases if p in args.phase]
    for w in ws:
        w.engines = [e for e in w.engines if e not in args.skip_engine]
    os.makedirs(args.out, exist_ok=True)
    logf = open(os.path.join(args.out, "log.txt"), "a")
    global BUILD_LOG
    BUILD_LOG = os.path.join(args.out, "builds.log")  # every timed build's own output

    def log(msg):
        line = f"{time.strftime('%H:%M:%S')} {msg}"
        print(line, flush=True)
        logf.write(line + "\n")
        logf.flush()

    results = {}
    work = tempfile.mkdtemp(prefix="imgc-bench-")
    try:
        for w in ws:
            log(f"== {w.name}: {', '.join(w.engines)}")
            results[w.name] = measure(env, w, args.rounds, work, log)
            with open(os.path.join(args.out, "results.json"), "w") as f:
                json.dump(results, f, indent=1)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = summary(ws, results, args.rounds)
    with open(os.path.join(args.out, "summary.md"), "w") as f:
        f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
