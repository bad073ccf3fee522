#!/usr/bin/env python3
"""Turns the Google Benchmark JSON of bench/run into a markdown report and SVG plots.

    bench/report.py DIR              reads DIR/*.json, writes DIR/report.md,
                                     DIR/setup.svg, DIR/teardown.svg,
                                     DIR/lookup.svg, DIR/start.svg
    bench/report.py --medians FILE   prints the start medians (bench/start-median)

Only the standard library: the SVG is written by hand.

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


# ---------------------------------------------------------------- SVG

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
          "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def nice_log_ticks(lo, hi):
    ticks = []
    e = math.floor(math.log10(lo))
    while 10 ** e <= hi * 1.0001:
        for m in (1, 2, 5):
            v = m * 10 ** e
            if lo / 1.0001 <= v <= hi * 1.0001:
                ticks.append(v)
        e += 1
    return ticks or [lo, hi]


def line_chart(title, xlabel, ylabel, series, log_x=True):
    """series: [(label, [(x, y_us), ...])]; y on a log scale, in time units."""
    W, H, L, R, T, B = 760, 440, 80, 230, 40, 50
    pts = [(x, y) for _, s in series for x, y in s if y and y > 0]
    if not pts:
        return None
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys) / 1.3, max(ys) * 1.3
    fx = (lambda v: math.log2(v)) if log_x else (lambda v: v)
    fy = math.log10

    def px(v):
        span = (fx(x1) - fx(x0)) or 1
        return L + (fx(v) - fx(x0)) / span * (W - L - R)

    def py(v):
        return T + (1 - (fy(v) - fy(y0)) / ((fy(y1) - fy(y0)) or 1)) * (H - T - B)

    o = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
         'font-family="sans-serif" font-size="12">' % (W, H),
         '<rect width="100%" height="100%" fill="white"/>',
         '<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>' % (L, esc(title))]
    for v in nice_log_ticks(y0, y1):
        y = py(v)
        o.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>' % (L, W - R, y, y))
        o.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>' % (L - 6, y + 4, esc(fmt_us(v))))
    for v in sorted(set(xs)):
        x = px(v)
        o.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#eee"/>' % (x, x, T, H - B))
        o.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (x, H - B + 16, v))
    o.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#333"/>'
             % (L, T, W - L - R, H - T - B))
    o.append('<text x="%d" y="%d" text-anchor="middle">%s</text>'
             % ((L + W - R) // 2, H - 12, esc(xlabel)))
    o.append('<text transform="translate(16,%d) rotate(-90)" text-anchor="middle">%s</text>'
             % ((T + H - B) // 2, esc(ylabel)))
    for i, (label, s) in enumerate(series):
        c = COLORS[i % len(COLORS)]
        s = sorted((x, y) for x, y in s if y and y > 0)
        if not s:
            continue
        path = " ".join("%s%.1f,%.1f" % ("M" if j == 0 else "L", px(x), py(y))
                        for j, (x, y) in enumerate(s))
        o.append('<path d="%s" fill="none" stroke="%s" stroke-width="2"/>' % (path, c))
        for x, y in s:
            o.append('<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s: %s layers, %s</title>'
                     '</circle>' % (px(x), py(y), c, esc(label), x, esc(fmt_us(y))))
        ly = T + 14 + i * 18
        o.append('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="2"/>'
                 % (W - R + 12, W - R + 32, ly - 4, ly - 4, c))
        o.append('<text x="%d" y="%d">%s</text>' % (W - R + 38, ly, esc(label)))
    o.append("</svg>")
    return "\n".join(o) + "\n"


def bar_chart(title, ylabel, bars):
    """bars: [(label, value_us)] drawn on a linear scale."""
    bars = [(l, v) for l, v in bars if v]
    if not bars:
        return None
    W, H, L, T, B = 640, 380, 80, 40, 60
    bw = (W - L - 20) / len(bars)
    vmax = max(v for _, v in bars) * 1.15
    o = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
         'font-family="sans-serif" font-size="12">' % (W, H),
         '<rect width="100%" height="100%" fill="white"/>',
         '<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>' % (L, esc(title))]
    for k in range(6):
        v = vmax * k / 5
        y = H - B - (H - T - B) * k / 5
        o.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>' % (L, W - 20, y, y))
        o.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>' % (L - 6, y + 4, esc(fmt_us(v))))
    for i, (label, v) in enumerate(bars):
        h = (H - T - B) * v / vmax
        x = L + i * bw + bw * 0.15
        o.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>'
                 % (x, H - B - h, bw * 0.7, h, COLORS[i % len(COLORS)]))
        o.append('<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>'
                 % (x + bw * 0.35, H - B - h - 5, esc(fmt_us(v))))
        o.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>'
                 % (x + bw * 0.35, H - B + 18, esc(label)))
    o.append('<text transform="translate(16,%d) rotate(-90)" text-anchor="middle">%s</text>'
             % ((T + H - B) // 2, esc(ylabel)))
    o.append("</svg>")
    return "\n".join(o) + "\n"


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
    known = re.compile(r"^(Floor|Workspace|CopyRootfs|Start|Cgroup|CgroupFloor)/")
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
    cgroup_section(res, lines)
    other_section(res, lines)
    charts = {k: v for k, v in charts.items() if v}
    if charts:
        lines += ["## Plots", ""] + ["![%s](%s)" % (k[:-4], k) for k in sorted(charts)] + [""]
    lines += ["## Context", ""] + context_lines(paths) + [""]
    for name, svg in charts.items():
        with open(os.path.join(d, name), "w") as f:
            f.write(svg)
    with open(os.path.join(d, "report.md"), "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


def print_medians(path):
    res = load([path])
    rows = [("mydocker run busybox true (binary)", "Start/mydocker"),
            ("  the same, no --state (all on the disk)", "Start/mydocker-disk-state"),
            ("  the same, --root on a tmpfs", "Start/mydocker-tmpfs-root"),
            ("in-process core Runtime::Run", "Start/core"),
            ("runc run", "Start/runc"),
            ("crun run", "Start/crun"),
            ("workspace setup+teardown (busybox)", "Start/workspace")]
    for label, n in rows:
        r = res.get(n)
        if not r:
            continue
        if r["time_us"] is None:
            print("%-38s skipped: %s" % (label, r["error"]))
        else:
            print("%-38s median %10s  (%d runs)" % (label, fmt_us(r["time_us"]), r["reps"]))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--medians":
        print_medians(sys.argv[2])
    elif len(sys.argv) == 2:
        write_report(sys.argv[1])
    else:
        sys.exit(__doc__)
