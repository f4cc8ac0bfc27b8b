#!/usr/bin/env python3
"""End-to-end figures of an integration, over gRPC against a real crm-syncd.

Starts crm-syncd (embedded SQLite, or PostgreSQL in a throwaway cluster),
creates an integration with crmctl, then measures what a third-party client
gets:

  push     N leads written by the integration through SyncService.Push, in
           batches of 500 (the way an integration loads data until bulk
           import exists), rows/s;
  mirror   a fresh docs/examples/mirror_changes.py bootstrap of the tenant
           (the change stream, applied to SQLite), changes/s;
  export   crmctl export of the tenant as JSON lines, changes/s.

  bench_integration.py --build build --records 20000 [--store postgres]

Needs python3-grpcio and python3-protobuf; generates the Python modules
into a temporary directory with protoc and grpc_python_plugin.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# 40 x 60 names: as in a real customer base, a full name is shared by a few
# dozen people at 100,000 records (what duplicate detection must sift).
FIRST = ("Anne Bruno Chloe David Emma Felix Gaelle Hugo Ines Jules Karim Lea Marc Nina Oscar "
         "Paula Quentin Rose Samuel Tina Ugo Vera William Xavier Yasmine Zoe Alice Bob Carla "
         "Denis Elise Fabien Greta Henri Iris Jean Katia Louis Maya Noel").split()
LAST = ("Martin Bernard Thomas Petit Robert Richard Durand Dubois Moreau Laurent Simon Michel "
        "Lefebvre Leroy Roux David Bertrand Morel Fournier Girard Bonnet Dupont Lambert Fontaine "
        "Rousseau Vincent Muller Lefevre Faure Andre Mercier Blanc Guerin Boyer Garnier Chevalier "
        "Francois Legrand Gauthier Garcia Perrin Robin Clement Morin Nicolas Henry Roussel "
        "Mathieu Gautier Masson Marchand Duval Denis Dumont Marie Lemaire Noel Meyer Dufour "
        "Meunier").split()


def run(argv, **kwargs):
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kwargs).stdout


def add_lead(req, pb, seq, lead_id, email, owner, node):
    """Appends to REQ an UPSERT creating lead LEAD_ID (client_seq SEQ, name from the lists)."""
    common_pb2, entities_pb2, sync_pb2 = pb
    lead = entities_pb2.Lead(id=lead_id, first_name=FIRST[seq % len(FIRST)],
                             last_name=LAST[(seq // len(FIRST)) % len(LAST)], email=email,
                             owner_user_id=owner, team_id="team-north")
    m = req.mutations.add(client_seq=seq, operation=sync_pb2.OPERATION_UPSERT)
    m.record.entity_type = common_pb2.ENTITY_TYPE_LEAD
    m.record.id = lead.id
    m.values.lead.CopyFrom(lead)
    m.update_mask.paths.extend(["id", "first_name", "last_name", "email", "owner_user_id",
                                "team_id"])
    m.hlc.wall_time_ms = int(time.time() * 1000)
    m.hlc.node_id = node


def generate_modules(work):
    """Generates the crmsync Python modules into WORK/gen and puts them on sys.path."""
    gen = os.path.join(work, "gen")
    os.makedirs(gen)
    protos = [os.path.join(ROOT, "proto/crmsync/v1", f) for f in
              ("admin.proto", "auth.proto", "common.proto", "entities.proto", "options.proto",
               "sync.proto")]
    run(["protoc", "-I", os.path.join(ROOT, "proto"), "--python_out=" + gen, "--grpc_out=" + gen,
         "--plugin=protoc-gen-grpc=" + shutil.which("grpc_python_plugin")] + protos)
    sys.path.insert(0, gen)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", default=os.path.join(ROOT, "build"), help="build directory")
    parser.add_argument("--records", type=int, default=20000, help="leads to push (>= 1)")
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--no-duplicate-check", action="store_true",
                        help="run crm-syncd with --duplicate-check false")
    args = parser.parse_args()
    if args.records < 1:
        sys.exit("bench_integration.py: --records must be at least 1")

    work = tempfile.mkdtemp(prefix="crmsync-bench-integration-")
    os.chmod(work, 0o755)  # PostgreSQL runs as its own user under it
    generate_modules(work)
    sys.path.insert(0, os.path.join(ROOT, "docs/examples"))
    import grpc
    import mirror_changes
    from crmsync.v1 import auth_pb2, auth_pb2_grpc, common_pb2, entities_pb2, sync_pb2
    from crmsync.v1 import sync_pb2_grpc

    pg_dir = os.path.join(work, "pg")
    store = "sqlite:" + os.path.join(work, "crm.db")
    if args.store == "postgres":
        conninfo = run([os.path.join(ROOT, "tests/support/pg-test-cluster.sh"), "start",
                        pg_dir]).strip().splitlines()[-1]
        store = "postgres:" + conninfo
    ready = os.path.join(work, "ready")
    server = subprocess.Popen(
        [os.path.join(args.build, "server/crm-syncd"), "--dev-insecure", "--demo-tenant",
         "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--ready-file", ready, "--password-memory-kib", "64",
         "--rate-limit-per-second", "0", "--store", store] +
        (["--duplicate-check", "false"] if args.no_duplicate_check else []),
        stdout=open(os.path.join(work, "server.log"), "w"), stderr=subprocess.STDOUT)
    try:
        for _ in range(600):
            if os.path.exists(ready) and open(ready).read().strip():
                break
            time.sleep(0.05)
        port = open(ready).read().split()[0]  # the gRPC port, then the metrics port
        address = "127.0.0.1:" + port
        crmctl = [os.path.join(args.build, "tools/crmctl/crmctl"), "--config",
                  os.path.join(work, "crmctl.toml"), "--server", address, "--insecure"]
        subprocess.run(crmctl + ["login", "--tenant", "demo", "--user", "admin",
                                 "--password-stdin"], input="admin-demo-password\n", check=True,
                       capture_output=True, text=True)
        user = re.search(r"\((u-[^)]+)\)", run(crmctl + [
            "users", "create", "--username", "loader", "--role", "integration", "--channel",
            "import=reported"])).group(1)
        key = re.search(r"\n(\S+\.\S+)\n", run(crmctl + ["api-keys", "create", "--user", user]))
        key_file = os.path.join(work, "key")
        with open(key_file, "w") as f:
            f.write(key.group(1) + "\n")

        channel = grpc.insecure_channel(address)
        token = auth_pb2_grpc.AuthServiceStub(channel).ExchangeApiKey(
            auth_pb2.ExchangeApiKeyRequest(tenant="demo", api_key=key.group(1),
                                           device_id="loader-1")).tokens.access_token
        md = (("authorization", "Bearer " + token),)
        sync = sync_pb2_grpc.SyncServiceStub(channel)
        client = common_pb2.ClientInfo(protocol_version=1)
        start = time.monotonic()
        seq = 0
        while seq < args.records:
            req = sync_pb2.PushRequest(client=client, results_acked_through=seq)
            for _ in range(min(500, args.records - seq)):
                seq += 1
                add_lead(req, (common_pb2, entities_pb2, sync_pb2), seq, "lead-%07d" % seq,
                         "lead%d@example.com" % seq, "u-bob" if seq % 2 else "u-alice",
                         "loader-1")
            resp = sync.Push(req, metadata=md, timeout=120)
            bad = [r for r in resp.results if r.outcome == sync_pb2.MUTATION_OUTCOME_REJECTED]
            if bad:
                sys.exit("bench_integration.py: rejected: " + bad[0].message)
        push_s = time.monotonic() - start

        mirror_args = argparse.Namespace(server=address, tenant="demo", api_key_file=key_file,
                                         instance="mirror-1", insecure=True, ca_cert=None,
                                         page_size=0)
        start = time.monotonic()
        mirror = mirror_changes.Mirror(os.path.join(work, "mirror.db"))
        import contextlib
        import io
        with contextlib.redirect_stdout(io.StringIO()):
            applied = mirror_changes.catch_up(mirror_changes.Session(mirror_args), mirror,
                                              mirror_args)
        mirror_s = time.monotonic() - start

        start = time.monotonic()
        out = os.path.join(work, "export.jsonl")
        run(crmctl + ["export", "--output", out])
        export_s = time.monotonic() - start
        exported = sum(1 for _ in open(out))

        print("| figure (%s store, %d leads%s) | value |" %
              (args.store, args.records,
               ", no duplicate check" if args.no_duplicate_check else ""))
        print("|---|---|")
        print("| push by an integration, batches of 500 | %.0f rows/s (%.1f s) |" %
              (args.records / push_s, push_s))
        print("| mirror bootstrap (mirror_changes.py, SQLite) | %.0f changes/s (%d in %.1f s) |" %
              (applied / mirror_s, applied, mirror_s))
        print("| crmctl export, JSON lines | %.0f changes/s (%d in %.1f s) |" %
              (exported / export_s, exported, export_s))
    finally:
        server.terminate()
        server.wait(timeout=30)
        if args.store == "postgres":
            subprocess.run([os.path.join(ROOT, "tests/support/pg-test-cluster.sh"), "stop",
                            pg_dir], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
