#!/usr/bin/env python3
"""Many tenants on Citus against one PostgreSQL, end to end over gRPC, in one run.

Starts a plain PostgreSQL 15 cluster and a Citus cluster (a coordinator and
two workers, tests/support/citus-test-cluster.sh), all on 127.0.0.1, and runs
the same load against crm-syncd on each, alternately (plain, Citus, plain,
Citus ... one fresh schema per round):

  push       T tenants at once, one device each (as alice), each pushing N
             new leads in batches of B through SyncService.Push: rows/s over
             all tenants, and each batch's latency (p50/p99 over all);
  bootstrap  then one fresh device per tenant (as maria, who sees the team's
             leads) pulls the tenant's whole feed at once, pages of 500:
             records/s over all tenants, and the slowest tenant's time.

  bench_citus.py --build build [--tenants 8] [--records 2000] [--batch 100]
                 [--rounds 2]

crm-syncd runs with --dev-identity (identity from metadata, no sign-in), the
rate limit off, every other setting at its default. The ratio is Citus over
plain per round. On one machine the workers share the same cores as the
coordinator and crm-syncd: the figures show what routing each statement
through the coordinator costs, not what more machines would add.
Needs Citus installed (third_party/citus/build-citus.sh), python3-grpcio.
"""

import argparse
import concurrent.futures
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import bench_integration  # noqa: E402  (generate_modules, run, names)

PG = os.path.join(ROOT, "tests/support/pg-test-cluster.sh")
CITUS = os.path.join(ROOT, "tests/support/citus-test-cluster.sh")


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def psql(conninfo, sql):
    argv = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", conninfo, "-c", sql]
    if os.geteuid() == 0:
        argv = ["runuser", "-u", "postgres", "--"] + argv
    subprocess.run(argv, check=True, capture_output=True, text=True, cwd="/")


class Server:
    def __init__(self, build, work, name, store, tenants):
        self.ready = os.path.join(work, name + ".ready")
        self.log = os.path.join(work, name + ".log")
        self.proc = subprocess.Popen(
            [os.path.join(build, "server/crm-syncd"), "--dev-insecure", "--dev-identity",
             "--demo-tenant", "--demo-tenant-count", str(tenants), "--listen", "127.0.0.1:0",
             "--metrics-listen", "127.0.0.1:0", "--ready-file", self.ready,
             "--password-memory-kib", "64", "--rate-limit-per-second", "0", "--store", store],
            stdout=open(self.log, "w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 300
        while not (os.path.exists(self.ready) and open(self.ready).read().strip()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                sys.exit("bench_citus.py: crm-syncd did not start:\n" + open(self.log).read())
            time.sleep(0.05)
        self.address = "127.0.0.1:" + open(self.ready).read().split()[0]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=60)


def slug(n):
    return "demo" if n == 1 else "demo-%d" % n


def measure(pb, server, tenants, records, batch):
    import grpc
    common_pb2, entities_pb2, sync_pb2, sync_pb2_grpc = pb
    client = common_pb2.ClientInfo(protocol_version=1)

    def requests(n):
        out, seq = [], 0
        while seq < records:
            req = sync_pb2.PushRequest(client=client, results_acked_through=seq)
            for _ in range(min(batch, records - seq)):
                seq += 1
                bench_integration.add_lead(req, (common_pb2, entities_pb2, sync_pb2), seq,
                                           "lead-%d-%07d" % (n, seq),
                                           "lead%d@t%d.example" % (seq, n), "u-alice",
                                           "bench-%d" % n)
            out.append(req)
        return out

    prepared = {n: requests(n) for n in range(1, tenants + 1)}

    def push(n):
        channel = grpc.insecure_channel(server.address)
        stub = sync_pb2_grpc.SyncServiceStub(channel)
        md = (("x-crmsync-dev-tenant", slug(n)), ("x-crmsync-dev-user", "alice"),
              ("x-crmsync-dev-device", "bench-%d" % n))
        latencies = []
        for req in prepared[n]:
            start = time.monotonic()
            resp = stub.Push(req, metadata=md, timeout=120)
            latencies.append(time.monotonic() - start)
            if any(r.outcome != sync_pb2.MUTATION_OUTCOME_APPLIED for r in resp.results):
                sys.exit("bench_citus.py: a mutation was not applied")
        channel.close()
        return latencies

    def bootstrap(n):
        channel = grpc.insecure_channel(server.address)
        stub = sync_pb2_grpc.SyncServiceStub(channel)
        md = (("x-crmsync-dev-tenant", slug(n)), ("x-crmsync-dev-user", "maria"),
              ("x-crmsync-dev-device", "boot-%d" % n))
        start, cursor, got = time.monotonic(), "", 0
        while True:
            resp = stub.Pull(sync_pb2.PullRequest(client=client, cursor=cursor, page_size=500),
                             metadata=md, timeout=120)
            got += len(resp.changes)
            cursor = resp.next_cursor
            if not resp.has_more:
                break
        channel.close()
        return got, time.monotonic() - start

    with concurrent.futures.ThreadPoolExecutor(tenants) as pool:
        start = time.monotonic()
        latencies = [x for part in pool.map(push, range(1, tenants + 1)) for x in part]
        push_s = time.monotonic() - start
        start = time.monotonic()
        boots = list(pool.map(bootstrap, range(1, tenants + 1)))
        boot_s = time.monotonic() - start
    pulled = sum(g for g, _ in boots)
    if any(g < records for g, _ in boots):
        sys.exit("bench_citus.py: a bootstrap missed records")
    return {
        "push_rate": tenants * records / push_s,
        "p50": percentile(latencies, 0.50) * 1000,
        "p99": percentile(latencies, 0.99) * 1000,
        "boot_rate": pulled / boot_s,
        "boot_slowest": max(t for _, t in boots),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", default=os.path.join(ROOT, "build"), help="build directory")
    parser.add_argument("--tenants", type=int, default=8, help="tenants loaded at once (>= 1)")
    parser.add_argument("--records", type=int, default=2000, help="leads per tenant (>= 1)")
    parser.add_argument("--batch", type=int, default=100, help="mutations per Push (1-1000)")
    parser.add_argument("--rounds", type=int, default=2, help="plain/Citus pairs (>= 1)")
    args = parser.parse_args()
    if args.tenants < 1 or args.records < 1 or not 1 <= args.batch <= 1000 or args.rounds < 1:
        sys.exit("bench_citus.py: --tenants, --records, --rounds >= 1; --batch 1-1000")
    if subprocess.run([os.path.join(ROOT, "third_party/citus/build-citus.sh"), "--check"]).returncode:
        sys.exit("bench_citus.py: Citus is not installed (third_party/citus/build-citus.sh)")

    work = tempfile.mkdtemp(prefix="crmsync-bench-citus-")
    os.chmod(work, 0o755)  # PostgreSQL runs as its own user under it
    bench_integration.generate_modules(work)
    from crmsync.v1 import common_pb2, entities_pb2, sync_pb2, sync_pb2_grpc
    pb = (common_pb2, entities_pb2, sync_pb2, sync_pb2_grpc)
    plain_dir, citus_dir = os.path.join(work, "pg"), os.path.join(work, "citus")
    try:
        plain = bench_integration.run([PG, "start", plain_dir]).strip().splitlines()[-1]
        citus = bench_integration.run([CITUS, "start", citus_dir]).strip().splitlines()[-1]
        rows = []
        for r in range(1, args.rounds + 1):
            pair = {}
            for name, conninfo in (("plain", plain), ("citus", citus)):
                schema = "bench_%d" % r
                psql(conninfo, "CREATE SCHEMA " + schema)
                store = "postgres:%s options='-csearch_path=%s'" % (conninfo, schema)
                server = Server(args.build, work, "%s-%d" % (name, r), store, args.tenants)
                try:
                    pair[name] = measure(pb, server, args.tenants, args.records, args.batch)
                finally:
                    server.stop()
            rows.append(pair)
    finally:
        subprocess.run([PG, "stop", plain_dir], capture_output=True)
        subprocess.run([CITUS, "stop", citus_dir], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)

    print("%d tenants at once, %d leads each, batches of %d; 2 workers + coordinator vs one "
          "PostgreSQL, same machine" % (args.tenants, args.records, args.batch))
    print()
    print("| round | store | push rows/s | push batch p50 / p99 ms | bootstrap records/s | "
          "slowest tenant's bootstrap s |")
    print("|---|---|---|---|---|---|")
    for r, pair in enumerate(rows, 1):
        for name in ("plain", "citus"):
            f = pair[name]
            print("| %d | %s | %.0f | %.1f / %.1f | %.0f | %.2f |" %
                  (r, "PostgreSQL" if name == "plain" else "Citus", f["push_rate"], f["p50"],
                   f["p99"], f["boot_rate"], f["boot_slowest"]))
    push_ratios = [p["citus"]["push_rate"] / p["plain"]["push_rate"] for p in rows]
    boot_ratios = [p["citus"]["boot_rate"] / p["plain"]["boot_rate"] for p in rows]
    print()
    print("Citus / PostgreSQL per round: push %s (median %.2f), bootstrap %s (median %.2f)" %
          (", ".join("%.2f" % x for x in push_ratios), statistics.median(push_ratios),
           ", ".join("%.2f" % x for x in boot_ratios), statistics.median(boot_ratios)))


if __name__ == "__main__":
    main()
