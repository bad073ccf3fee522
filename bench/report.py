#!/usr/bin/env python3
"""Turns the Google Benchmark JSON of bench/run into a markdown report and plots.

    bench/report.py DIR              reads DIR/*.json, writes DIR/report.md,
                                     DIR/setup.svg, DIR/teardown.svg,
                                     DIR/lookup.svg, DIR/start.svg,
                                     DIR/floor_n.svg, DIR/filesystems.svg
    bench/report.py --medians FILE   prints the start medians (bench/start-median)

The plots are drawn with matplotlib (python3-matplotlib); run it with
Debian's /usr/bin/python3.

Every figure is the median over repetitions when the run had repetitions
(the "median" aggregate), else the mean over iterations as Google Benchmark
reports it. Ratios are computed from these figures:
  x floor   (setup + teardown) / the Floor benchmark on the same filesystem
  x copy    (setup + teardown) / CopyRootfs on the same filesystem
  x runc, x crun   start-to-exit time / that runtime's
"""

import glob
import json
import math
import os
import re
import sys

# ---------------------------------------------------------------- loading


def load(paths):
    """name -> {"time_us": float, "counters": {...}, "error": str|None, "reps": int}."""
    per_name = {}
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        for b in data.get("benchmarks", []):
            name = re.sub(r"(/iterations:\d+)?(/manual_time)?$", "",
                          b.get("run_name", b["name"]))
            e = per_name.setdefault(name, {"iterations": [], "median": None, "error": None})
            if b.get("error_occurred"):
                e["error"] = b.get("error_message", "error")
                continue
            if b.get("run_type") == "aggregate":
                if b.get("aggregate_name") == "median":
                    e["median"] = b
            else:
                e["iterations"].append(b)
    out = {}
    for name, e in per_name.items():
        src = e["median"]
        reps = len(e["iterations"])
        if src is None and e["iterations"]:
            # No aggregate: one repetition (or aggregates off): average them.
            its = e["iterations"]
            src = dict(its[0])
            src["real_time"] = sum(i["real_time"] for i in its) / len(its)
        if src is None:
            out[name] = {"time_us": None, "counters": {}, "error": e["error"], "reps": 0}
            continue
        out[name] = {
            "time_us": to_us(src["real_time"], src.get("time_unit", "ns")),
            "counters": {k: v for k, v in src.items() if k not in NON_COUNTERS},
            "error": e["error"],
            "reps": reps,
        }
    return out


NON_COUNTERS = {
    "name", "family_index", "per_family_instance_index", "run_name", "run_type",
    "repetitions", "repetition_index", "threads", "iterations", "real_time", "cpu_time",
    "time_unit", "aggregate_name", "aggregate_unit", "error_occurred", "error_message",
    "label",
}


def to_us(value, unit):
    return value * {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}[unit]


def fmt_us(us):
    if us is None:
        return "-"
    if us >= 1e6:
        return "%.2f s" % (us / 1e6)
    if us >= 1e3:
        return "%.2f ms" % (us / 1e3)
    return "%.1f us" % us


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "-"
    return "%.2fx" % (a / b)


# ---------------------------------------------------------------- plots
# matplotlib (Debian's python3-matplotlib, ci/install-deps); without it the
# report is written and the plots are skipped with a note.

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter
except ImportError:  # pragma: no cover - depends on the host
    plt = None


def _time_axis(ax, log=True):
    if log:
        ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt_us(v)))
    ax.grid(True, which="major", color="#ddd")


def line_chart(title, xlabel, ylabel, series, log_x=True):
    """series: [(label, [(x, y_us), ...])]; y on a log scale, in time units.
    Returns a matplotlib figure or None when there is nothing to draw."""
    series = [(l, sorted((x, y) for x, y in s if y and y > 0)) for l, s in series]
    series = [(l, s) for l, s in series if s]
    if not series or plt is None:
        return None
    fig, ax = plt.subplots(figsize=(9, 5))
    for label, s in series:
        ax.plot([x for x, _ in s], [y for _, y in s], marker="o", label=label)
    if log_x:
        ax.set_xscale("log", base=2)
        xs = sorted({x for _, s in series for x, _ in s})
        ax.set_xticks(xs)
        ax.set_xticklabels([str(x) for x in xs])
    _time_axis(ax)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    return fig


def bar_chart(title, ylabel, bars, log=False):
    """bars: [(label, value_us)]."""
    bars = [(l, v) for l, v in bars if v]
    if not bars or plt is None:
        return None
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(bars)), 4.5))
    ax.bar(range(len(bars)), [v for _, v in bars],
           color=["C%d" % (i % 10) for i in range(len(bars))])
    ax.set_xticks(range(len(bars)))
    ax.set_xticklabels([l for l, _ in bars], rotation=20, ha="right", fontsize="small")
    for i, (_, v) in enumerate(bars):
        ax.annotate(fmt_us(v), (i, v), ha="center", va="bottom", fontsize="small")
    _time_axis(ax, log)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    fig.tight_layout()
    return fig


def grouped_bars(title, ylabel, groups, members, value):
    """One group of bars per groups entry, one bar per members entry;
    value(group, member) -> us or None. Log scale."""
    if plt is None:
        return None
    vals = {(g, m): value(g, m) for g in groups for m in members}
    if not any(vals.values()):
        return None
    fig, ax = plt.subplots(figsize=(9, 5))
    w = 0.8 / max(len(members), 1)
    for j, m in enumerate(members):
        xs = [i + j * w for i, g in enumerate(groups) if vals[(g, m)]]
        ys = [vals[(g, m)] for g in groups if vals[(g, m)]]
        ax.bar(xs, ys, width=w, label=m)
    ax.set_xticks([i + 0.4 - w / 2 for i in range(len(groups))])
    ax.set_xticklabels(groups)
    _time_axis(ax)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- report

WS_RE = re.compile(r"^Workspace/(legacy|fsopen)/upper:(\w+)/layers:(\d+)/written:(\d+)$")


def counter_us(r, key):
    v = r["counters"].get(key) if r else None
    return float(v) if v is not None else None


def workspace_section(res, lines, charts):
    floors = {fs: res.get("Floor/upper:" + fs) for fs in ("tmpfs", "disk")}
    copies = {fs: res.get("CopyRootfs/upper:" + fs) for fs in ("tmpfs", "disk")}
    ws = []
    for name, r in res.items():
        m = WS_RE.match(name)
        if m:
            ws.append((m.group(2), m.group(1), int(m.group(3)), int(m.group(4)), name, r))
    if not ws and not any(floors.values()):
        return
    ws.sort(key=lambda t: (t[0], t[3], t[1], t[2]))
    lines += ["## Workspace setup and teardown", "",
              "Median per run. `x floor`: (setup + teardown) / the floor on the same "
              "filesystem (mkdir x3, mount(2) overlay with one lower, umount2, rmdir x4). "
              "Layers: image layers; the init layer is one more lower dir (499 + 1 = 500, "
              "the kernel's overlay limit).", "",
              "| case | setup | teardown | setup+teardown | first lookup | x floor | x copy |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for fs, name in (("tmpfs", "Floor/upper:tmpfs"), ("tmpfs", "Floor/upper:tmpfs/init"),
                     ("disk", "Floor/upper:disk"), ("disk", "Floor/upper:disk/init"),
                     ("disk", "Floor/upper:disk/volatile")):
        f = res.get(name)
        if f and f["time_us"]:
            lines.append("| %s | %s | %s | %s | - | %s | %s |" % (
                name, fmt_us(counter_us(f, "setup_us")), fmt_us(counter_us(f, "teardown_us")),
                fmt_us(f["time_us"]), ratio(f["time_us"], (floors.get(fs) or {}).get("time_us")),
                ratio(f["time_us"], (copies.get(fs) or {}).get("time_us"))))
    for fs in ("tmpfs", "disk"):
        for extra in ("Workspace/busybox/upper:" + fs, "CopyRootfs/upper:" + fs):
            r = res.get(extra)
            if not r:
                continue
            if r["time_us"] is None:
                lines.append("| %s | error: %s | | | | | |" % (extra, r["error"]))
                continue
            lines.append("| %s | %s | %s | %s | %s | %s | %s |" % (
                extra, fmt_us(counter_us(r, "setup_us")), fmt_us(counter_us(r, "teardown_us")),
                fmt_us(r["time_us"]), fmt_us(counter_us(r, "lookup_us")),
                ratio(r["time_us"], (floors.get(fs) or {}).get("time_us")),
                ratio(r["time_us"], (copies.get(fs) or {}).get("time_us"))))
    for fs, api, n, written, name, r in ws:
        if r["time_us"] is None:
            lines.append("| %s | error: %s | | | | | |" % (name, r["error"]))
            continue
        lines.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            name, fmt_us(counter_us(r, "setup_us")), fmt_us(counter_us(r, "teardown_us")),
            fmt_us(r["time_us"]), fmt_us(counter_us(r, "lookup_us")),
            ratio(r["time_us"], (floors.get(fs) or {}).get("time_us")),
            ratio(r["time_us"], (copies.get(fs) or {}).get("time_us"))))
    lines.append("")

    # Target: one-layer setup + teardown within 1.3x the floor.
    lines += ["Target: one-layer setup + teardown within 1.3x the floor.", ""]
    for fs, api, n, written, name, r in ws:
        f = floors.get(fs)
        if n == 1 and written == 0 and r["time_us"] and f and f["time_us"]:
            x = r["time_us"] / f["time_us"]
            fi = res.get("Floor/upper:%s/init" % fs)
            xi = (" (%.2fx the floor with the same init layer, `Floor/upper:%s/init`)"
                  % (r["time_us"] / fi["time_us"], fs)) if fi and fi["time_us"] else ""
            lines.append("- %s: %.2fx the floor: %s%s" % (
                name, x, "met" if x <= 1.3 else "missed", xi))
    lines.append("")

    def series(metric, pred):
        out = {}
        for fs, api, n, written, name, r in ws:
            if not pred(fs, api, written):
                continue
            y = r["time_us"] if metric == "total" else counter_us(r, metric)
            label = "%s, upper on %s%s" % (api, fs, ", 1000 files" if written else "")
            out.setdefault(label, []).append((n, y))
        return sorted(out.items())

    charts["setup.svg"] = line_chart(
        "Workspace setup by layer count", "image layers (+ init layer)", "setup time",
        series("setup_us", lambda fs, api, w: w == 0))
    charts["teardown.svg"] = line_chart(
        "Workspace teardown by layer count", "image layers (+ init layer)", "teardown time",
        series("teardown_us", lambda fs, api, w: True))
    charts["lookup.svg"] = line_chart(
        "First lookup of a file in the lowest layer", "image layers (+ init layer)",
        "stat time", series("lookup_us", lambda fs, api, w: w == 0))


def start_section(res, lines, charts):
    names = [("core (in-process)", "Start/core"),
             ("mydocker (image on disk, --state on tmpfs)", "Start/mydocker"),
             ("mydocker, all on the disk (no --state)", "Start/mydocker-disk-state"),
             ("mydocker, --root on tmpfs", "Start/mydocker-tmpfs-root"),
             ("runc", "Start/runc"), ("crun", "Start/crun")]
    rows = [(label, res.get(n)) for label, n in names if res.get(n)]
    if not rows:
        return
    t = {label: (r["time_us"] if r else None) for label, r in rows}
    lines += ["## Container start to exit (`/bin/true` in busybox)", "",
              "Median per run, runtimes alternated in one run (random interleaving).", "",
              "| runtime | start to exit | x runc | x crun | runs |", "|---|---:|---:|---:|---:|"]
    for label, r in rows:
        if r["time_us"] is None:
            lines.append("| %s | skipped: %s | | | |" % (label, r["error"]))
            continue
        lines.append("| %s | %s | %s | %s | %s |" % (
            label, fmt_us(r["time_us"]), ratio(r["time_us"], t.get("runc")),
            ratio(r["time_us"], t.get("crun")), r["reps"] or "-"))
    w = res.get("Start/workspace")
    if w and w["time_us"]:
        lines.append("| (workspace alone: setup + teardown) | %s | | | %s |"
                     % (fmt_us(w["time_us"]), w["reps"] or "-"))
    lines.append("")
    md = t.get("mydocker (image on disk, --state on tmpfs)")
    if md and t.get("crun"):
        lines += ["Target: mydocker faster than crun: %s (%.2fx crun)." % (
            "met" if md < t["crun"] else "missed", md / t["crun"]), ""]
    if rows and any(r and r["time_us"] for _, r in rows):
        lines += ["runc and crun keep their state on a tmpfs (as /run/runc, /run/crun) and "
                  "reuse one bundle; mydocker keeps its image on the disk and, with --state, its "
                  "containers' state and workspaces on a tmpfs (the same split), and makes and "
                  "removes its workspace in every run.", ""]
    charts["start.svg"] = bar_chart("Container start to exit (/bin/true)", "median wall time",
                                    [(label, t[label]) for label, _ in rows])


PAIRED_RE = re.compile(r"^Paired/(legacy|fsopen)/upper:(\w+)/layers:(\d+)$")
FS_RE = re.compile(r"^Fs/(\w+)/([\w-]+)/layers:(\d+)/cache:(warm|cold)$")


def layers_section(res, lines, charts):
    rows = sorted((m.group(1), int(m.group(3)), r) for n, r in res.items()
                  for m in [PAIRED_RE.match(n)] if m)
    if rows:
        lines += ["## The N-layer floor (layers_bench, paired in one run)", "",
                  "| api | layers | workspace | floor | x_floor_n | x_floor_n_median |",
                  "|---|---:|---:|---:|---:|---:|"]
        for api, n, r in rows:
            c = r["counters"]
            if r["time_us"] is None:
                lines.append("| %s | %d | error: %s | | | |" % (api, n, r["error"]))
                continue
            lines.append("| %s | %d | %s | %s | %.3f | %.3f |" % (
                api, n, fmt_us(counter_us(r, "ws_us")), fmt_us(counter_us(r, "floor_us")),
                c.get("x_floor_n", float("nan")), c.get("x_floor_n_median", float("nan"))))
        lines += ["", "Target: at most 1.2x at every layer count.", ""]
        series = {}
        for api, n, r in rows:
            if r["time_us"] is None:
                continue
            series.setdefault("workspace, " + api, []).append((n, counter_us(r, "ws_us")))
            series.setdefault("floor, " + api, []).append((n, counter_us(r, "floor_us")))
        charts["floor_n.svg"] = line_chart("Workspace and its N-layer floor (paired)",
                                           "image layers (+ init layer)", "setup + teardown",
                                           sorted(series.items()))
    fs_rows = sorted((m.group(1), m.group(2), int(m.group(3)), m.group(4), r)
                     for n, r in res.items() for m in [FS_RE.match(n)] if m)
    if fs_rows:
        lines += ["## Filesystems and layer stores (fs_bench)", "",
                  "| fs | store | layers | cache | setup | first lookup | readdir | teardown |",
                  "|---|---|---:|---|---:|---:|---:|---:|"]
        for fs, store, n, cache, r in fs_rows:
            if r["time_us"] is None:
                lines.append("| %s | %s | %d | %s | %s | | | |" % (fs, store, n, cache, r["error"]))
                continue
            lines.append("| %s | %s | %d | %s | %s | %s | %s | %s |" % (
                fs, store, n, cache, fmt_us(counter_us(r, "setup_us")),
                fmt_us(counter_us(r, "lookup_us")), fmt_us(counter_us(r, "readdir_us")),
                fmt_us(counter_us(r, "teardown_us"))))
        lines.append("")
        by = {(fs, store, n, cache): r for fs, store, n, cache, r in fs_rows}
        fss = [f for f in ("tmpfs", "ext4", "xfs", "btrfs") if any(k[0] == f for k in by)]
        stores = sorted({k[1] for k in by})

        def total(fs, store):
            r = by.get((fs, store, 1, "warm"))
            return r["time_us"] if r else None
        charts["filesystems.svg"] = grouped_bars(
            "One layer, warm cache: setup + teardown by filesystem and store",
            "setup + teardown", fss, stores, total)


def cgroup_section(res, lines):
    rows = [(n, r) for n, r in sorted(res.items()) if n.startswith(("Cgroup/", "CgroupFloor/"))]
    if not rows:
        return
    lines += ["## Cgroups: create (with limits) and remove", "",
              "| case | create | remove | total | x floor |", "|---|---:|---:|---:|---:|"]
    for n, r in rows:
        if r["time_us"] is None:
            lines.append("| %s | skipped: %s | | | |" % (n, r["error"]))
            continue
        v = n.split("/")[1]
        f = res.get("CgroupFloor/" + v)
        lines.append("| %s | %s | %s | %s | %s |" % (
            n, fmt_us(counter_us(r, "create_us")), fmt_us(counter_us(r, "remove_us")),
            fmt_us(r["time_us"]), ratio(r["time_us"], f["time_us"] if f else None)))
    lines.append("")


def other_section(res, lines):
    known = re.compile(r"^(Floor|Workspace|CopyRootfs|Start|Cgroup|CgroupFloor|Paired|Fs)/")
    rows = [(n, r) for n, r in sorted(res.items()) if not known.match(n)]
    if not rows:
        return
    lines += ["## Other benchmarks", "", "| benchmark | time |", "|---|---:|"]
    for n, r in rows:
        lines.append("| %s | %s |" % (n, fmt_us(r["time_us"]) if r["time_us"] else
                                      "error: %s" % r["error"]))
    lines.append("")


def context_lines(paths):
    out = []
    for p in paths:
        with open(p) as f:
            ctx = json.load(f).get("context", {})
        keep = {k: v for k, v in ctx.items()
                if k in ("date", "host_name", "num_cpus", "load_avg", "library_build_type")
                or k.startswith(("floor_ns", "crun_", "v2_", "smoke", "max_lower"))}
        out.append("- %s: %s" % (os.path.basename(p), ", ".join(
            "%s=%s" % (k, v) for k, v in sorted(keep.items()))))
    return out


def write_report(d):
    paths = sorted(glob.glob(os.path.join(d, "*.json")))
    if not paths:
        sys.exit("report.py: no *.json in %s" % d)
    res = load(paths)
    lines = ["# faultline benchmarks", ""]
    charts = {}
    workspace_section(res, lines, charts)
    start_section(res, lines, charts)
    layers_section(res, lines, charts)
    cgroup_section(res, lines)
    other_section(res, lines)
    charts = {k: v for k, v in charts.items() if v}
    if plt is None:
        lines += ["(No plots: matplotlib is missing; install python3-matplotlib and run "
                  "bench/report.py with /usr/bin/python3.)", ""]
        print("report.py: matplotlib missing, plots skipped", file=sys.stderr)
    if charts:
        lines += ["## Plots", ""] + ["![%s](%s)" % (k[:-4], k) for k in sorted(charts)] + [""]
    lines += ["## Context", ""] + context_lines(paths) + [""]
    for name, fig in charts.items():
        fig.savefig(os.path.join(d, name))
        plt.close(fig)
    with open(os.path.join(d, "report.md"), "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


def print_medians(path):
    res = load([path])
    rows = [("mydocker run busybox true (binary)", "Start/mydocker"),
            ("  the same, no --state (all on the disk)", "Start/mydocker-disk-state"),
            ("  the same, --root on a tmpfs", "Start/mydocker-tmpfs-root"),
            ("  the same, seccomp=unconfined", "Start/mydocker-unconfined"),
            ("  the same, FAULTLINE_BENCH_BASELINE", "Start/mydocker-baseline"),
            ("in-process core Runtime::Run", "Start/core"),
            ("runc run", "Start/runc"),
            ("  with docker's seccomp profile", "Start/runc-seccomp"),
            ("crun run", "Start/crun"),
            ("  with docker's seccomp profile", "Start/crun-seccomp"),
            ("workspace setup+teardown (busybox)", "Start/workspace")]
    for label, n in rows:
        r = res.get(n)
        if not r:
            continue
        if r["time_us"] is None:
            print("%-38s skipped: %s" % (label, r["error"]))
        else:
            print("%-38s median %10s  (%d runs)" % (label, fmt_us(r["time_us"]), r["reps"]))
    # mydocker against crun: each as shipped, and both with docker's profile.
    def median(n):
        r = res.get(n)
        return r["time_us"] if r and r["time_us"] else None
    for label, a, b in [("mydocker / crun (as run above)", "Start/mydocker", "Start/crun"),
                        ("mydocker / crun (both docker's seccomp)", "Start/mydocker",
                         "Start/crun-seccomp"),
                        ("mydocker unconfined / crun", "Start/mydocker-unconfined", "Start/crun"),
                        ("mydocker / the baseline binary", "Start/mydocker",
                         "Start/mydocker-baseline")]:
        if median(a) and median(b):
            print("%-38s %.2fx" % (label, median(a) / median(b)))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--medians":
        print_medians(sys.argv[2])
    elif len(sys.argv) == 2:
        write_report(sys.argv[1])
    else:
        sys.exit(__doc__)
