#!/usr/bin/env python3
"""A/B of two Fjord builds on one fjord-bench produce workload: throughput and broker CPU seconds
per GB written (user + system time of the broker process, from /proc), the two binaries
alternating round by round, each round on a fresh data directory after `sync`. CPU per GB does
not follow the disk's writeback stalls the way throughput does, so it shows a code path's cost on
this noisy machine. Prints each round and the medians.

    benches/ab.py --a target/release/fjord --b /path/to/other/fjord \\
        --bench-bin target/release/fjord-bench --acks 1 --rounds 6
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import struct
import subprocess
import tempfile
import time

TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def wait_ready(port, proc, limit=60):
    """Until the broker answers an ApiVersions v0 request."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"broker exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                body = struct.pack(">hhih", 18, 0, 1, -1)
                s.sendall(struct.pack(">i", len(body)) + body)
                if len(s.recv(4)) == 4:
                    return
        except OSError:
            time.sleep(0.01)
    raise SystemExit(f"broker not ready within {limit} s")


def one_round(binary, args):
    data = tempfile.mkdtemp(prefix="fjord-ab-")
    port = free_port()
    argv = [binary, "serve", "--override", f"listeners=PLAINTEXT://127.0.0.1:{port}", "--override",
            "http.listener=", "--override", f"log.dirs={data}", "--override", "num.partitions=8"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(port, proc)
        os.sync()
        before = cpu_seconds(proc.pid)
        out = subprocess.run([args.bench_bin, "produce", "--topic", "ab", "--partitions", str(args.partitions),
                              "--acks", args.acks, "--duration", str(args.duration),
                              "--bootstrap", f"127.0.0.1:{port}", "--json"],
                             capture_output=True, text=True, check=True)
        spent = cpu_seconds(proc.pid) - before
        summary = json.loads(out.stdout.strip().splitlines()[-1])
        gigabytes = summary["records"] * args.record_bytes / 1e9
        return summary["mb_per_sec"], spent / gigabytes
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(data, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", required=True, help="the first fjord binary")
    ap.add_argument("--b", required=True, help="the second fjord binary")
    ap.add_argument("--bench-bin", required=True)
    ap.add_argument("--acks", default="1", choices=["0", "1", "all"])
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--record-bytes", type=int, default=1024, help="fjord-bench's record size")
    args = ap.parse_args()
    results = {"a": [], "b": []}
    for r in range(args.rounds):
        for name in ("a", "b") if r % 2 == 0 else ("b", "a"):
            mbs, cpu = one_round(getattr(args, name), args)
            results[name].append((mbs, cpu))
            print(f"round {r + 1} {name}: {mbs:8.1f} MB/s  broker {cpu:5.3f} CPU-s/GB", flush=True)
    med = {k: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v)) for k, v in results.items()}
    for k, (mbs, cpu) in med.items():
        print(f"{k}: median {mbs:.1f} MB/s, {cpu:.3f} broker CPU-s/GB")
    print(f"a ÷ b: throughput {med['a'][0] / med['b'][0]:.2f}×, CPU per GB {med['a'][1] / med['b'][1]:.2f}×")


if __name__ == "__main__":
    main()
