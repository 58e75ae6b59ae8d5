#!/usr/bin/env python3
"""The results tables of scripts/bench.sh (Markdown on stdout).

    bench_report.py --instructions RESULTS.json WASM_SIZE CPU STAMP COMMAND
        the instruction-count table from bench/sidecar.py's results
    bench_report.py OUT ROUNDS DURATION CONNECTIONS WASM_SIZE MEM... CPU STAMP [MEM_START]
        the wall-clock mode's tables from the raw wrk outputs in OUT/raw
"""
import re
import statistics
import sys
from pathlib import Path



def instructions_report(results_path, wasm_size, cpu, stamp, command):
    """The instruction-count table (bench/sidecar.py's results.json) as Markdown."""
    import json
    r = json.loads(Path(results_path).read_text())
    instr = {tuple(k.split("|")): statistics.median(v) for k, v in r["instr"].items()}
    topo_label = {"plain": "plaintext", "sidecar": "realistic sidecar", "milo": "Milo profile"}
    mode_label = {"group": "Activity group", "std": "standard paths"}
    labels = {"S1": "S1 GET one event", "S2": "S2 POST create (upstream keeps connections)",
              "S3": "S3 LIST 500 events", "S5": "S5 non-event GET"}
    have_noop = any(k[1].endswith("-noop") for k in instr)
    head = "| instructions / request (share = no filter ÷ this) | topology | mode | no filter |"
    head += " SDK do-nothing |" if have_noop else ""
    have_authz = any(k[1].endswith("-authz") for k in instr)
    head += " ext_authz alone |" if have_authz else ""
    head += " this filter | share | added by the filter |"
    lines = [f"### Benchmark {stamp}: instructions per request", "",
             f"Machine: {cpu}. Envoy 1.40 front `--concurrency 1` under valgrind's callgrind, "
             f"instructions of the whole front Envoy per request: counters zeroed after a warm-up, "
             f"{r['n']:,} requests ({r['n_list']:,} for S3) on one kept-alive connection, "
             f"the idle rate ({statistics.mean(r['idle_rate']):,.0f} instructions/s) times the window "
             f"subtracted. No filter: the same chain without the events filter (Milo profile: and "
             f"without ext_authz), in the same run. `.wasm`: {int(wasm_size):,} bytes. "
             f"Command: `{command}`.", "", head,
             "|" + "---|" * (head.count("|") - 1)]
    notes = []
    b_rows = []
    for s in labels:
        for topo in topo_label:
            for mode in mode_label:
                base = instr.get((s, f"{topo}-{mode}-base"))
                filt = instr.get((s, f"{topo}-{mode}-filter"))
                if base is None or filt is None:
                    continue
                row = f"| {labels[s]} | {topo_label[topo]} | {mode_label[mode]} | {base / 1000:,.1f}k |"
                if have_noop:
                    noop = instr.get((s, f"{topo}-{mode}-noop"))
                    row += f" {base / noop:.1%} |" if noop else " – |"
                if have_authz:
                    authz = instr.get((s, f"{topo}-{mode}-authz"))
                    row += f" {base / authz:.1%} |" if authz else " – |"
                row += f" {filt / 1000:,.1f}k | {base / filt:.1%} | +{(filt - base) / 1000:,.1f}k |"
                lines.append(row)
                if (s, f"{topo}-{mode}-filterb") in instr:
                    fb = instr[(s, f"{topo}-{mode}-filterb")]
                    b_rows.append(f"| {labels[s]} | {mode_label[mode]} | {fb / 1000:,.1f}k | {base / fb:.1%} | "
                                  f"{filt / 1000:,.1f}k | {base / filt:.1%} | {(filt - fb) / 1000:+,.1f}k |")
                if have_authz and (s, f"{topo}-{mode}-authz") in instr:
                    authz = instr[(s, f"{topo}-{mode}-authz")]
                    notes.append(f"{labels[s]}, {mode_label[mode]}: ext_authz alone {authz / 1000:,.1f}k, "
                                 f"the events filter on top +{(filt - authz) / 1000:,.1f}k "
                                 f"(ext_authz alone ÷ ext_authz + filter = {authz / filt:.1%})")
    if notes:
        lines += ["", "Milo profile, the events filter's own part (against the chain with ext_authz "
                  "and without the filter):", ""] + [f"- {n}" for n in notes]
    if b_rows:
        lines += ["", f"Plaintext, the filter built two ways: B = `{r.get('wasm_b', 'BENCH_WASM_B')}` "
                  f"({r.get('wasm_b_size', 0):,} bytes), A = the `.wasm` above:", "",
                  "| scenario | mode | B | share | A | share | A − B |", "|---|---|---|---|---|---|---|"] + b_rows
    reps = {k: v for k, v in r["instr"].items() if len(v) > 1}
    for k, v in reps.items():
        m = statistics.median(v)
        spread = max(abs(x - m) for x in v) / m
        lines += ["", f"Repeatability: {k.replace('|', ' ')} measured {len(v)} times: "
                  f"{', '.join(f'{x:,.0f}' for x in v)} (±{spread:.2%} around the median)."]
    w = r.get("wall") or {}
    if w:
        lines += ["", "Realistic sidecar, wall clock (native Envoy, h2load over TLS + HTTP/2, "
                  f"configurations interleaved over {w.get('rounds', 5)} rounds, medians; watch: "
                  f"{w.get('streams', 20)} streams of 10,000 events each; latency: S1, "
                  f"{w.get('n', 10000):,} requests at `-c {w.get('conns', 4)}`). Noisy on a shared "
                  "machine, unlike the counts above:", "",
                  "| mode | watch, no filter | watch, this filter | S1 p50 / p99, no filter | "
                  "S1 p50 / p99, this filter | p99 added |", "|---|---|---|---|---|---|"]
        for mode in mode_label:
            if f"S4|{mode}|base" not in w or f"S4|{mode}|filter" not in w:
                continue
            g = lambda k, v: w[f"{k}|{mode}|{v}"]
            lines.append(f"| {mode_label[mode]} | {g('S4', 'base'):,.0f} MB/s | {g('S4', 'filter'):,.0f} MB/s | "
                         f"{g('p50', 'base'):,.0f} / {g('p99', 'base'):,.0f} µs | "
                         f"{g('p50', 'filter'):,.0f} / {g('p99', 'filter'):,.0f} µs | "
                         f"{g('p99', 'filter') - g('p99', 'base'):+,.0f} µs |")
    lines += targets_report(instr, w, int(wasm_size))
    print("\n".join(lines + [""]))


# Issue 12's targets, as shares of the same topology without the filter (instruction counts;
# the S3 Activity-group targets are CPU time, which the count overstates, so they are
# shown against the count and marked as such).
INSTRUCTION_TARGETS = [
    ("S1", "sidecar", "std", 0.95), ("S2", "sidecar", "std", 0.92), ("S3", "sidecar", "std", 0.95),
    ("S1", "sidecar", "group", 0.92), ("S3", "sidecar", "group", 0.60),
    ("S1", "milo", "std", 0.90),
    ("S1", "plain", "std", 0.68), ("S2", "plain", "std", 0.62),
    ("S1", "plain", "group", 0.60), ("S3", "plain", "group", 0.45),
    ("S5", "plain", "std", 0.88),
]


def targets_report(instr, wall, wasm_size):
    """Each target of issue 12 against this run: met or not, with the measured share."""
    out = ["", "Issue 12's targets in this run (share of the same topology without the filter):", "",
           "| target | measured | met |", "|---|---|---|"]
    for s, topo, mode, want in INSTRUCTION_TARGETS:
        base = instr.get((s, f"{topo}-{mode}-base"))
        filt = instr.get((s, f"{topo}-{mode}-filter"))
        if base is None or filt is None:
            continue
        share = base / filt
        note = " (the issue counts CPU time here; instructions overstate the filter's part)" if s == "S3" and mode == "group" else ""
        extra = ""
        if topo == "milo":
            authz = instr.get((s, f"{topo}-{mode}-authz"))
            if authz:
                extra = f"; the filter on top of ext_authz alone: {authz / filt:.1%}"
        out.append(f"| {s} {topo} {mode} ≥ {want:.0%}{note} | {share:.1%}{extra} | {'yes' if share >= want else 'no'} |")
    for mode in ("group", "std"):
        got = (wall or {}).get(f"S4|{mode}|filter")
        if got is not None and mode == "group":
            out.append(f"| watch through the filter (core/v1, Activity group) ≥ 600 MB/s | {got:,.0f} MB/s | {'yes' if got >= 600 else 'no'} |")
    out.append(f"| `.wasm` ≤ 300 KiB | {wasm_size:,} bytes | {'yes' if wasm_size <= 300 * 1024 else 'no'} |")
    return out


if len(sys.argv) > 1 and sys.argv[1] == "--instructions":
    instructions_report(*sys.argv[2:7])
    sys.exit(0)

out, rounds, duration, conns, wasm_size, mem0, mem1, mem2, cpu, stamp = sys.argv[1:11]
mem_start = sys.argv[11] if len(sys.argv) > 11 else "0"
raw = Path(out) / "raw"
CONFIGS = ["nofilter", "filter", "lua"]
SCENARIOS = {
    "S1": ("GET one event (947 B, response rewritten)", "req/s"),
    "S2": ("POST create, 1 KiB, scope injected", "req/s"),
    "S3": ("LIST 500 events (~460 KiB rewritten)", "req/s"),
    "S4": ("watch stream, 10,000 events", "MB/s"),
    "S5": ("non-event GET (pass-through)", "req/s"),
}
# Issue 12's targets that a wall-clock plaintext run can judge: S3 (Activity group) as a share
# of CPU time, the `.wasm` size and the VM memory. Its other targets count instructions
# (`scripts/bench.sh` without --wall); the watch target is for the realistic sidecar.
S3_CPU_SHARE = 0.45
UNIT = {"B": 1e-6, "KB": 1e-3, "MB": 1.0, "GB": 1e3}
TIME = {"us": 1.0, "ms": 1e3, "s": 1e6}


def parse(path):
    text = path.read_text()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    m = re.search(r"Transfer/sec:\s+([\d.]+)([KMG]?B)", text)
    mbps = float(m.group(1)) * UNIT[m.group(2)] * (1.048576 if m.group(2) != "B" else 1)
    lat = {}
    for pct in ("50", "99"):
        m = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)\b", text)
        lat[pct] = float(m.group(1)) * TIME[m.group(2)] if m else float("nan")
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    reqs = int(re.search(r"(\d+) requests in", text).group(1))
    m = re.search(r"FrontCPUTicks: (\d+) (\d+)", text)
    cpu_us = int(m.group(1)) / int(m.group(2)) * 1e6 / max(reqs, 1) if m else float("nan")
    return {"rps": rps, "mbps": mbps, "p50": lat["50"], "p99": lat["99"], "cpu": cpu_us,
            "errors": int(errors.group(1)) if errors else 0}


results = {}
for f in sorted(raw.glob("*-S*-*.txt")):
    r, s, c = f.stem.split("-")
    results.setdefault((s, c), []).append(parse(f))


def med(s, c, key):
    return statistics.median(x[key] for x in results[(s, c)])


def errors(s, c):
    return sum(x["errors"] for x in results[(s, c)])


lines = [f"### Benchmark {stamp}", "",
         f"Machine: {cpu}. Envoy 1.40 front `--concurrency 1` in front of an upstream Envoy "
         f"answering with `direct_response`; wrk `-t1 -c{conns}` (watch: `-c2`), {duration} per "
         f"run, {rounds} interleaved rounds, medians. Command: `scripts/bench.sh`.", "",
         "| scenario | no filter | this filter | Lua (header part) | filter / no filter | Lua / no filter | filter / Lua | target |",
         "|---|---|---|---|---|---|---|---|"]
for s, (label, unit) in SCENARIOS.items():
    if (s, "nofilter") not in results:
        continue
    key = "mbps" if unit == "MB/s" else "rps"
    a, b, c = (med(s, x, key) for x in CONFIGS)
    if s == "S4":
        target = "≥ 600 MB/s is the realistic sidecar's (`BENCH_WALL=1 scripts/bench.sh`)"
    elif s == "S3":
        cpu_a, cpu_b = med(s, "nofilter", "cpu"), med(s, "filter", "cpu")
        share = cpu_a / cpu_b
        target = (f"CPU time ≥ {S3_CPU_SHARE:.0%}: {share:.1%}, "
                  f"{'met' if share >= S3_CPU_SHARE else 'NOT met'}")
    else:
        target = "– (counted in instructions: `scripts/bench.sh`)"
    fmt = (lambda v: f"{v:,.0f} {unit}") if unit == "req/s" else (lambda v: f"{v:,.1f} {unit}")
    errs = sum(errors(s, x) for x in CONFIGS)
    note = f" ({errs} non-2xx)" if errs else ""
    lines.append(f"| {s} {label}{note} | {fmt(a)} | {fmt(b)} | {fmt(c)} | {b / a:.1%} | {c / a:.1%} | {b / c:.2f}× | {target} |")

lines += ["", "Front Envoy CPU time per request (µs; lower is better; steadier than throughput "
          "on a small shared machine):", "",
          "| scenario | no filter | this filter | Lua | filter − no filter | Lua − no filter |",
          "|---|---|---|---|---|---|"]
for s in SCENARIOS:
    if (s, "nofilter") not in results:
        continue
    a, b, c = (med(s, x, "cpu") for x in CONFIGS)
    lines.append(f"| {s} | {a:.1f} | {b:.1f} | {c:.1f} | {b - a:+.1f} | {c - a:+.1f} |")
if ("S1", "nofilter") not in results:
    print("\n".join(lines))
    sys.exit(0)
lines += ["", "Latency at `-c {}` (S1, medians of the rounds):".format(conns), "",
          "| configuration | p50 | p99 | p99 added vs no filter |", "|---|---|---|---|"]
p99_base = med("S1", "nofilter", "p99")
for c, name in zip(CONFIGS, ["no filter", "this filter", "Lua"]):
    p50, p99 = med("S1", c, "p50"), med("S1", c, "p99")
    added = "" if c == "nofilter" else f"{p99 - p99_base:+.0f} µs"
    lines.append(f"| {name} | {p50:.0f} µs | {p99:.0f} µs | {added} |")
added = med("S1", "filter", "p99") - p99_base
lines += ["", f"p99 added by the filter (S1, -c {conns}): {added:.0f} µs.",
          f"`.wasm` size: {int(wasm_size):,} bytes = {int(wasm_size) / 1024:.0f} KiB (target ≤ 300 KiB: {'met' if int(wasm_size) <= 300 * 1024 else 'NOT met'}).",
          f"VM linear memory (gauge `activity_events.wasm_memory_bytes`): {int(mem_start) / 2**20:.2f} MiB at start, "
          f"{int(mem0) / 2**20:.2f} MiB after all scenarios (the largest list and watch chunks), "
          f"{int(mem1) / 2**20:.2f} MiB after 50k more GETs, {int(mem2) / 2**20:.2f} MiB after 50k more POSTs "
          f"(target ≤ 4 MiB and flat over the 100k requests: {'met' if int(mem2) <= 4 * 2**20 and int(mem2) == int(mem0) else 'NOT met'}).", ""]
print("\n".join(lines))
