"""Turns bench/run.sh's hyperfine exports into the Markdown table of docs/benchmarks.md."""
import json, os, statistics, sys

work = sys.argv[1]


def mean_ms(name):
    p = os.path.join(work, name + ".json")
    if not os.path.exists(p):
        return None
    r = json.load(open(p))["results"][0]
    return r["mean"] * 1000, r["stddev"] * 1000 if r.get("stddev") is not None else 0.0


def pause(name):
    p = os.path.join(work, name + ".txt")
    if not os.path.exists(p):
        return None
    v = [int(x) for x in open(p).read().split() if x.strip().isdigit()]
    return statistics.median(v) / 1000 if v else None


def fmt(x):
    return "—" if x is None else f"{x[0]:.1f} ± {x[1]:.1f} ms"


rows = [("Debian 3.11.2, 4 threads", "deb4", "gdb"), ("Debian 3.11.2, 100 threads × depth 50", "deb100", "gdb"),
        ("3.14.6, 4 threads", "py4", "remote"), ("3.14.6, 100 threads × depth 50", "py100", "remote")]
def ms(x):
    return "—" if x is None else f"{x:.2f} ms"


def ratio(a, b, fmtstr="{:.1f}×"):
    return fmtstr.format(a[0] / b[0]) if a and b else "—"


print("### Python stacks: `pyscope dump` against its peers\n")
print("| target | pyscope dump (text) | --json | --json --no-block | pause | peer | peer time | peer / pyscope --json |")
print("|---|---|---|---|---|---|---|---|")
for label, t, peer in rows:
    ps, pj, pn, pp = mean_ms("pyscope-" + t), mean_ms("pyscope-json-" + t), mean_ms("pyscope-noblock-" + t), mean_ms(peer + "-" + t)
    peer_name = "gdb `thread apply all py-bt`" if peer == "gdb" else "`RemoteUnwinder.get_stack_trace()`"
    print(f"| {label} | {fmt(ps)} | {fmt(pj)} | {fmt(pn)} | {ms(pause('pause-' + t))} | {peer_name} | {fmt(pp)} | {ratio(pp, pj)} |")
print("\n### `--locals` against a plain dump (both `--json`)\n")
print("| target | dump --json | pause | dump --json --locals | pause | locals / plain |")
print("|---|---|---|---|---|---|")
for label, t, _ in rows:
    pj, pl = mean_ms("pyscope-json-" + t), mean_ms("pyscope-locals-" + t)
    print(f"| {label} | {fmt(pj)} | {ms(pause('pause-' + t))} | {fmt(pl)} | {ms(pause('pause-locals-' + t))} | {ratio(pl, pj, '{:.2f}×')} |")
print("\n### `--native` against a plain dump and gdb's `bt`\n")
print("| target | dump | dump --native | pause | gdb `thread apply all bt` | gdb / pyscope --native |")
print("|---|---|---|---|---|---|")
for label, t, peer in rows:
    ps, pn = mean_ms("pyscope-" + t), mean_ms("pyscope-native-" + t)
    gb = mean_ms("gdbbt-" + t)
    print(f"| {label} | {fmt(ps)} | {fmt(pn)} | {ms(pause('pause-native-' + t))} | {fmt(gb)} | {ratio(gb, pn)} |")
