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
print("| target | pyscope dump | pause | peer | peer time | peer / pyscope | dump --locals | pause | locals / dump |")
print("|---|---|---|---|---|---|---|---|---|")
for label, t, peer in rows:
    ps, pl, pp = mean_ms("pyscope-" + t), mean_ms("pyscope-locals-" + t), mean_ms(peer + "-" + t)
    ratio = f"{pp[0] / ps[0]:.0f}×" if ps and pp else "—"
    lr = f"{pl[0] / ps[0]:.2f}×" if ps and pl else "—"
    pz, plz = pause("pause-" + t), pause("pause-locals-" + t)
    peer_name = "gdb py-bt" if peer == "gdb" else "RemoteUnwinder"
    print(f"| {label} | {fmt(ps)} | {'—' if pz is None else f'{pz:.2f} ms'} | {peer_name} | {fmt(pp)} | {ratio} | {fmt(pl)} | {'—' if plz is None else f'{plz:.2f} ms'} | {lr} |")
