#!/usr/bin/env python3
"""What replication costs: the same fjord-bench produce workloads against one broker (replication
factor 1) and a three-broker cluster on loopback (replication factor 3, min.insync.replicas=2),
release builds, the brokers alternating round by round. Prints a markdown table of medians (and
the raw figures) for docs/benchmarks.md. All three brokers and the load generator share this
machine's cores, so the cluster figures bound what three machines would do from below.

    benches/replication.py --fjord-bin target/release/fjord --bench-bin target/release/fjord-bench
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def wait_listening(proc, log_path, deadline_s=60):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            sys.exit(f"broker exited: see {log_path}")
        with open(log_path, "r", errors="replace") as f:
            if "broker ready" in f.read():
                return
        time.sleep(0.1)
    sys.exit(f"broker not ready within {deadline_s} s: see {log_path}")


class Brokers:
    """One broker, or three forming a quorum, in a temporary directory."""

    def __init__(self, fjord, nodes):
        self.dir = tempfile.mkdtemp(prefix="fjord-repl-bench-")
        ports = free_ports(3 * nodes)
        kafka, raft, http = ports[:nodes], ports[nodes:2 * nodes], ports[2 * nodes:]
        voters = ",".join(f"{i + 1}@127.0.0.1:{raft[i]}" for i in range(nodes))
        self.bootstrap = ",".join(f"127.0.0.1:{p}" for p in kafka)
        self.procs = []
        for i in range(nodes):
            listeners = f"PLAINTEXT://127.0.0.1:{kafka[i]}"
            extra = []
            if nodes > 1:
                listeners += f",CONTROLLER://127.0.0.1:{raft[i]}"
                extra = ["controller.quorum.voters=" + voters, "default.replication.factor=3",
                         "min.insync.replicas=2"]
            overrides = [f"node.id={i + 1}", f"listeners={listeners}", f"http.listener=127.0.0.1:{http[i]}",
                         f"log.dirs={self.dir}/node-{i + 1}"] + extra
            log = f"{self.dir}/node-{i + 1}.log"
            cmd = [fjord, "serve"] + [a for o in overrides for a in ("--override", o)]
            env = {k: v for k, v in os.environ.items() if not k.startswith("FJORD_")}
            self.procs.append((subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(log, "w"), env=env), log))
        for proc, log in self.procs:
            wait_listening(proc, log)

    def stop(self):
        for proc, _ in self.procs:
            proc.terminate()
        for proc, _ in self.procs:
            proc.wait(timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)


def produce(bench, bootstrap, topic, acks, duration):
    args = [bench, "produce", "--bootstrap", bootstrap, "--topic", topic, "--acks", acks,
            "--duration", str(duration), "--partitions", "8", "--json"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        sys.exit(f"fjord-bench failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fjord-bin", required=True)
    ap.add_argument("--bench-bin", required=True)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    setups = [("1 broker, RF=1", 1), ("3 brokers, RF=3, min.insync=2", 3)]
    workloads = [("acks=1", "1"), ("acks=all", "all")]
    results = {}
    for r in range(args.rounds):
        for name, nodes in setups:
            brokers = Brokers(args.fjord_bin, nodes)
            try:
                for wname, acks in workloads:
                    s = produce(args.bench_bin, brokers.bootstrap, f"bench-{acks}-{r}", acks, args.duration)
                    results.setdefault((name, wname), []).append(s)
                    print(f"round {r + 1} {name:<32} {wname:<8} {s['mb_per_sec']:8.1f} MB/s  p99 {s['p99_ms']} ms",
                          file=sys.stderr, flush=True)
            finally:
                brokers.stop()
            subprocess.run(["sync"])
    med = lambda k, f: statistics.median(s[f] for s in results[k])
    print("| workload (8 partitions, 1 KiB records) | 1 broker, RF=1 | 3 brokers, RF=3, min.insync=2 | 3 brokers ÷ 1 |")
    print("|---|---|---|---|")
    for wname, _ in workloads:
        for field, unit in (("mb_per_sec", "MB/s"), ("p99_ms", "p99 ms")):
            a, b = med((setups[0][0], wname), field), med((setups[1][0], wname), field)
            ratio = b / a
            print(f"| produce {wname} | {a:,.1f} {unit} | {b:,.1f} {unit} | {ratio:.2f}× |")
    print()
    print("```")
    for (name, wname), runs in results.items():
        for s in runs:
            print(f"{name:<32} {wname:<8} mb_per_sec={s['mb_per_sec']:.1f} p50_ms={s['p50_ms']} p99_ms={s['p99_ms']}")
    print("```")


if __name__ == "__main__":
    main()
