"""Side-by-side broker benchmark: runs the same fjord-bench workloads against Fjord and, when one
is available, a peer broker, alternating between them round by round, and writes
docs/benchmarks.md (machine, commands, table with ratios) and docs/benchmarks.svg (throughput and
p99 per workload). Figures are medians over the rounds of one run. See `benches/compare.sh`.
"""

import argparse
import datetime
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

MB = 1_000_000
RECORD = 1024


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api_versions_ok(addr, timeout=0.5):
    """True once `addr` answers an ApiVersions v0 request: the broker serves Kafka clients."""
    host, port = addr.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as s:
            s.settimeout(timeout)
            body = struct.pack(">hhih", 18, 0, 1, -1)
            s.sendall(struct.pack(">i", len(body)) + body)
            size = s.recv(4)
            return len(size) == 4 and struct.unpack(">i", size)[0] > 0
    except OSError:
        return False


def wait_ready(addr, proc, limit=600):
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if proc.poll() is not None:
            raise RuntimeError(f"broker exited with {proc.returncode}")
        if api_versions_ok(addr):
            return
        time.sleep(0.005)
    raise RuntimeError(f"{addr} not ready within {limit} s")


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class Broker:
    """A broker process on fresh ports (and, for Fjord, a fresh data directory)."""

    def __init__(self, name, argv_for, data_dir=None):
        self.name, self.argv_for, self.data_dir = name, argv_for, data_dir
        self.proc = None

    def start(self):
        port = free_port()
        self.addr = f"127.0.0.1:{port}"
        argv = self.argv_for(port, self.data_dir)
        began = time.monotonic()
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_ready(self.addr, self.proc)
        return time.monotonic() - began

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def bench(tool, args):
    out = subprocess.run([tool] + args + ["--json"], capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise RuntimeError(f"fjord-bench {' '.join(args)} failed: {out.stderr.strip()}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def workloads(duration):
    """(key, title, fjord-bench arguments without --bootstrap, figure reported)."""
    e2e_rate = str(round(50 * MB / RECORD))
    return [
        ("produce_acks1", "produce acks=1, 8 partitions", ["produce", "--topic", "p-acks1", "--partitions", "8",
                                                           "--acks", "1", "--duration", duration], "mb_per_sec"),
        ("produce_acksall", "produce acks=all, 8 partitions", ["produce", "--topic", "p-acksall", "--partitions",
                                                               "8", "--acks", "all", "--duration", duration],
         "mb_per_sec"),
        ("consume", "consume from the beginning", None, "mb_per_sec"),
        ("e2e_50mb", "e2e at 50 MB/s, acks=all, linger 1 ms", ["e2e", "--topic", "e2e", "--partitions", "8",
                                                                "--acks", "all", "--linger-ms", "1", "--rate",
                                                                e2e_rate, "--duration", duration], "p99_ms"),
        ("produce_idempotent", "produce idempotent, acks=all, 8 partitions",
         ["produce", "--topic", "p-idem", "--partitions", "8", "--acks", "all", "--idempotence", "--duration",
          duration], "mb_per_sec"),
        ("produce_txn", "produce transactional (commit every 100 ms), 8 partitions",
         ["produce", "--topic", "p-txn", "--partitions", "8", "--transactional-id", "fjord-bench-txn",
          "--txn-interval-ms", "100", "--duration", duration], "mb_per_sec"),
        ("produce_1000p", "produce acks=1, 1,000 partitions", ["produce", "--topic", "p-1000", "--partitions",
                                                               "1000", "--acks", "1", "--duration", duration],
         "mb_per_sec"),
    ]


def run_round(tool, broker, duration, results):
    startup = broker.start()
    results.setdefault("start_to_ready_ms", []).append(startup * 1000)
    time.sleep(0.5)
    results.setdefault("rss_idle_mb", []).append(rss_bytes(broker.proc.pid) / MB)
    try:
        produced = None
        for key, _, args, _ in workloads(duration):
            if key == "consume":
                if produced is None:
                    continue
                args = ["consume", "--topic", "p-acks1", "--records", str(produced["records"])]
            # Each workload starts on a quiet machine: the previous one's dirty pages written out.
            os.sync()
            try:
                summary = bench(tool, args + ["--bootstrap", broker.addr])
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                # A workload a broker cannot run is reported as missing, not as a failed run.
                print(f"  {broker.name:>6} {key:<16} failed: {e}", flush=True)
                results.setdefault("failed", []).append(f"{key}: {str(e)[:200]}")
                continue
            if key == "produce_acks1":
                produced = summary
            results.setdefault(key, []).append(summary)
            print(f"  {broker.name:>6} {key:<16} {summary['mb_per_sec']:9.1f} MB/s  p99 {summary['p99_ms']} ms",
                  flush=True)
        try:
            bench(tool, ["produce", "--topic", "p-10000", "--partitions", "10000", "--records", "1",
                         "--bootstrap", broker.addr])
            time.sleep(0.5)
            results.setdefault("rss_10000p_mb", []).append(rss_bytes(broker.proc.pid) / MB)
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            print(f"  {broker.name:>6} 10,000 partitions failed: {e}", flush=True)
            results.setdefault("failed", []).append(f"10,000 partitions: {str(e)[:200]}")
    finally:
        broker.stop()
        # Each round's data goes: three rounds of logs would otherwise fill a small disk.
        if broker.data_dir:
            shutil.rmtree(broker.data_dir, ignore_errors=True)


def recovery(tool, fjord_bin, gigabytes):
    """Writes `gigabytes` GB with acks=1, kills Fjord with SIGKILL, and times the restart."""
    with tempfile.TemporaryDirectory(prefix="fjord-recovery-") as tmp:
        broker = Broker("fjord", fjord_argv(fjord_bin), os.path.join(tmp, "data"))
        broker.start()
        records = int(gigabytes * 1e9 / RECORD)
        bench(tool, ["produce", "--topic", "big", "--partitions", "8", "--acks", "1", "--records", str(records),
                     "--bootstrap", broker.addr])
        broker.stop(signal.SIGKILL)
        seconds = broker.start()
        broker.stop()
        return seconds


def fjord_argv(fjord_bin):
    def argv(port, data_dir):
        return [fjord_bin, "serve", "--override", f"listeners=PLAINTEXT://127.0.0.1:{port}",
                "--override", "http.listener=", "--override", f"log.dirs={data_dir}",
                "--override", "num.partitions=8"]
    return argv


def portable(argv):
    """The command line with this machine's directories left out (programs by their names)."""
    def one(a):
        if " " in a:
            return " ".join(portable(a.split()))
        return os.path.basename(a) if os.path.isabs(a) else a
    return [one(a) for a in argv]


def median(values):
    return statistics.median(values) if values else None


def figure(results, key, field=None):
    rows = results.get(key, [])
    values = [r[field] for r in rows if r.get(field) is not None] if field else rows
    return median(values)


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), cpu)
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, Linux {platform.release()}"


def fmt(value, digits=1):
    return "—" if value is None else f"{value:,.{digits}f}"


def ratio(a, b, higher_is_better):
    if a is None or b is None or a == 0 or b == 0:
        return "—"
    return f"{(a / b if higher_is_better else b / a):.2f}×"


def svg(rows, path, peer_name):
    """Two bar panels: throughput (MB/s) and p99 (ms) per workload, Fjord beside the peer."""
    panels = [("Throughput, MB/s (higher is better)", [r for r in rows if r[2] == "mb_per_sec"]),
              ("p99 latency, ms (lower is better)", [r for r in rows if r[2] == "p99_ms"])]
    width, bar_h, gap = 900, 18, 14
    parts, y = [], 30
    for title, items in panels:
        parts.append(f'<text x="10" y="{y}" font-size="15" font-weight="bold">{title}</text>')
        y += 12
        top = max([v for r in items for v in (r[3], r[4]) if v] or [1])
        for label, _, _, ours, theirs in items:
            y += gap
            parts.append(f'<text x="10" y="{y + bar_h}" font-size="12">{label}</text>')
            for i, (who, value, colour) in enumerate([("Fjord", ours, "#1f77b4"), (peer_name, theirs, "#ff7f0e")]):
                if value is None:
                    continue
                length = 520 * value / top
                by = y + i * (bar_h + 2)
                parts.append(f'<rect x="260" y="{by}" width="{length:.1f}" height="{bar_h}" fill="{colour}"/>')
                parts.append(f'<text x="{265 + length:.1f}" y="{by + 13}" font-size="11">{who} {value:,.1f}</text>')
            y += 2 * bar_h + 2
        y += 40
    doc = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{y}" font-family="sans-serif">'
           f'<rect width="100%" height="100%" fill="white"/>{"".join(parts)}</svg>\n')
    with open(path, "w") as f:
        f.write(doc)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fjord-bin", required=True)
    ap.add_argument("--bench-bin", required=True)
    ap.add_argument("--peer-cmd", help="peer broker command; {port} is replaced by a free port")
    ap.add_argument("--peer-name", default="peer")
    ap.add_argument("--duration", default="10", help="seconds per throughput workload")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--recovery-gb", type=float, default=10.0)
    ap.add_argument("--out", default="docs/benchmarks.md")
    ap.add_argument("--svg", default="docs/benchmarks.svg")
    ap.add_argument("--command", default="make bench", help="the command line to print in the report")
    args = ap.parse_args()

    brokers = []
    with tempfile.TemporaryDirectory(prefix="fjord-bench-") as tmp:
        results = {"Fjord": {}, args.peer_name: {}}
        for r in range(args.rounds):
            print(f"round {r + 1}/{args.rounds}", flush=True)
            brokers = [Broker("Fjord", fjord_argv(args.fjord_bin), os.path.join(tmp, f"fjord-{r}"))]
            if args.peer_cmd:
                template = args.peer_cmd
                brokers.append(Broker(args.peer_name, lambda port, _: shlex.split(template.replace("{port}",
                                                                                                  str(port)))))
            # Alternate which broker goes first, so neither always meets a warmer page cache.
            for broker in (brokers if r % 2 == 0 else list(reversed(brokers))):
                run_round(args.bench_bin, broker, args.duration, results[broker.name])
    recovery_s = None
    if args.recovery_gb > 0:
        print(f"recovery of {args.recovery_gb} GB after SIGKILL", flush=True)
        recovery_s = recovery(args.bench_bin, args.fjord_bin, args.recovery_gb)

    ours, theirs = results["Fjord"], results[args.peer_name]
    has_peer = bool(args.peer_cmd)
    rows = []
    for key, title, _, field in workloads(args.duration):
        rows.append((title, key, field, figure(ours, key, field), figure(theirs, key, field) if has_peer else None))
    p99_rows = [(f"{title} (p99)", key, "p99_ms", figure(ours, key, "p99_ms"),
                 figure(theirs, key, "p99_ms") if has_peer else None)
                for key, title, _, field in workloads(args.duration) if field == "mb_per_sec" and key != "consume"]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    goals = {"produce_acks1": "≥ 600 MB/s and ≥ 3× the peer", "produce_acksall": "≥ 300 MB/s",
             "produce_txn": "≥ 0.8× idempotent",
             "consume": "≥ 1,500 MB/s", "e2e_50mb": "p99 ≤ 8 ms"}
    lines = [
        "# Benchmarks", "",
        "Generated by `benches/compare.sh` (what `make bench` runs); figures are medians of the rounds of one",
        "run, the brokers alternating round by round. This machine is shared and noisy: compare ratios",
        "from one run, not figures across runs.", "",
        f"- Date: {datetime.date.today().isoformat()}, commit {commit or 'unknown'}",
        f"- Machine: {machine()}; the load generator runs on the same cores as the broker.",
        f"- Command: `{args.command}` → `{' '.join(shlex.quote(a) for a in portable(sys.argv))}`",
        f"- Load generator: `fjord-bench` (librdkafka), 1 KiB records, linger 5 ms (1 ms for e2e), batch 1 MB,"
        f" producer queue 64 MB, no compression;"
        f" {args.duration} s per throughput workload, {args.rounds} rounds.",
        f"- Fjord: release build, one broker, data on local disk, default config (acks=all fsyncs before acknowledging).",
        f"- Each workload starts after `sync`, so it does not pay for the previous one's writeback.",
        f"- Peer: {('`' + ' '.join(portable(args.peer_cmd.split())) + '` (' + args.peer_name + ')') if has_peer else 'none found — install Tansu (`cargo install tansu --features dynostore`) or pass --peer-cmd'}.",
        "", "![throughput and p99 per workload](benchmarks.svg)", "",
        f"| workload | figure | Fjord | {args.peer_name} | Fjord vs {args.peer_name} | goal |",
        "|---|---|---|---|---|---|",
    ]
    for title, key, field, a, b in rows + p99_rows:
        unit = "MB/s" if field == "mb_per_sec" else "p99 ms"
        lines.append(f"| {title} | {unit} | {fmt(a)} | {fmt(b)} | {ratio(a, b, field == 'mb_per_sec')} | "
                     f"{goals.get(key, '') if not title.endswith('(p99)') else ''} |")
    process_rows = [
        ("start to first ready (ApiVersions answered)", "ms", figure(ours, "start_to_ready_ms"),
         figure(theirs, "start_to_ready_ms") if has_peer else None, False, "≤ 100 ms"),
        ("RSS idle", "MB", figure(ours, "rss_idle_mb"), figure(theirs, "rss_idle_mb") if has_peer else None,
         False, "≤ 30 MB"),
        ("RSS with 10,000 partitions", "MB", figure(ours, "rss_10000p_mb"),
         figure(theirs, "rss_10000p_mb") if has_peer else None, False, ""),
    ]
    def txn_ratio_of(res):
        idempotent, txn = figure(res, "produce_idempotent", "mb_per_sec"), figure(res, "produce_txn", "mb_per_sec")
        return txn / idempotent if idempotent and txn is not None else None
    txn_ratio = [txn_ratio_of(ours), txn_ratio_of(theirs)]
    lines.append(f"| transactional ÷ idempotent throughput (same broker) | ratio | {fmt(txn_ratio[0], 2)} | "
                 f"{fmt(txn_ratio[1], 2) if has_peer else '—'} | — | ≥ 0.8 |")
    for title, unit, a, b, higher, goal in process_rows:
        lines.append(f"| {title} | {unit} | {fmt(a)} | {fmt(b)} | {ratio(a, b, higher)} | {goal} |")
    if recovery_s is not None:
        lines.append(f"| recovery after SIGKILL of {args.recovery_gb:g} GB (to ApiVersions answered) | s | "
                     f"{fmt(recovery_s, 2)} | — | — | |")
    for name, res in (("Fjord", ours), (args.peer_name, theirs)):
        for failure in sorted(set(res.get("failed", []))):
            lines.append(f"\n{name} could not run {failure}")
    lines += ["", "Raw medians per broker and workload (records/s, MB/s, p50/p99/p99.9/max ms):", "", "```"]
    for name, res in (("Fjord", ours), (args.peer_name, theirs)):
        for key, title, _, _ in workloads(args.duration):
            if res.get(key):
                med = {f: figure(res, key, f) for f in ("records_per_sec", "mb_per_sec", "p50_ms", "p99_ms",
                                                       "p999_ms", "max_ms")}
                lines.append(f"{name:>8} {key:<16} " + " ".join(f"{k}={fmt(v, 2)}" for k, v in med.items()))
    lines += ["```", ""]
    extra = os.environ.get("BENCH_NOTES")
    if extra and os.path.exists(extra):
        lines += [open(extra).read().rstrip(), ""]
    with open(args.out, "w") as f:
        f.write("\n".join(lines))
    svg(rows + p99_rows, args.svg, args.peer_name)
    print(f"wrote {args.out} and {args.svg}")


if __name__ == "__main__":
    main()
