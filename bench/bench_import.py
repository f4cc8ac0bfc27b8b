#!/usr/bin/env python3
"""Bulk import end to end: crmctl import of N leads into a real crm-syncd.

Starts crm-syncd (PostgreSQL in a throwaway cluster, or embedded SQLite)
with the demo tenant, writes a CSV of N leads, then measures in one run:

  import   `crmctl import leads.csv --type lead` over gRPC (batches of
           --batch-size rows; every row through validation, merge, the
           change feed, field history and duplicate checks), rows/s;
  raw      the same rows as a batched upsert straight into one table of the
           same database (INSERT .. ON CONFLICT DO UPDATE, one statement and
           transaction per batch of the same size): the floor of what
           storing the rows costs, rows/s.

  bench_import.py --build build --rows 1000000 [--store sqlite]
                  [--no-duplicate-check] [--batch-size 500]
                  [--statements] [--wal]

Prints a Markdown table; the ratio import/raw is the figure of merit. It
also gives the CPU crm-syncd, crmctl and the rest of the machine used
during the import, and on PostgreSQL the CPU PostgreSQL's own processes
used during each (for the import: crm-syncd's sessions, and the rest) and
the WAL bytes per row of each.
"""

import argparse
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_integration import FIRST, LAST  # noqa: E402  (the same names as that benchmark)

COLUMNS = ["id", "first_name", "last_name", "email", "company", "owner_user_id", "team_id",
           "rating"]


def run(argv, **kwargs):
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kwargs).stdout


def lead(i):
    return ["imp-%07d" % i, FIRST[i % len(FIRST)], LAST[(i // len(FIRST)) % len(LAST)],
            "lead%d@example.com" % i, "Company %d" % (i // 7), "u-bob" if i % 2 else "u-alice",
            "team-north", str(i % 6)]


def sql_text(value):
    return "'" + value.replace("'", "''") + "'"


def raw_postgres(conninfo, pg_dir, rows, batch, work):
    """Batched upserts through psql: one multi-row statement per batch."""
    path = os.path.join(work, "raw.sql")
    with open(path, "w") as f:
        f.write("CREATE TABLE bench_raw_leads (tenant_id text, id text, first_name text, "
                "last_name text, email text, company text, owner_user_id text, team_id text, "
                "rating int, version bigint, PRIMARY KEY (tenant_id, id));\n")
        for start in range(1, rows + 1, batch):
            values = []
            for i in range(start, min(start + batch, rows + 1)):
                r = lead(i)
                values.append("('t-demo'," + ",".join(sql_text(v) for v in r[:7]) + "," + r[7] +
                              "," + str(i) + ")")
            f.write("INSERT INTO bench_raw_leads VALUES " + ",".join(values) +
                    " ON CONFLICT (tenant_id, id) DO UPDATE SET first_name = excluded.first_name,"
                    " last_name = excluded.last_name, email = excluded.email, company = "
                    "excluded.company, owner_user_id = excluded.owner_user_id, team_id = "
                    "excluded.team_id, rating = excluded.rating, version = excluded.version;\n")
    pg_before = sum(postgres_cpu(pg_dir))
    start = time.monotonic()
    out = run(["psql", "-qtA", "-v", "ON_ERROR_STOP=1", "-d", conninfo, "-c",
               "SELECT pg_backend_pid()", "-f", path])
    elapsed = time.monotonic() - start
    # Its session's CPU counts once the postmaster has reaped it.
    backend = "/proc/%d" % int(out.split()[0])
    for _ in range(200):
        if not os.path.exists(backend):
            break
        time.sleep(0.05)
    return elapsed, sum(postgres_cpu(pg_dir)) - pg_before


def as_postgres(argv):
    """Runs a PostgreSQL tool as the cluster's owner (postgres when root)."""
    if os.geteuid() == 0:
        argv = ["runuser", "-u", "postgres", "--"] + argv
    return run(argv)


def superuser(conninfo):
    return conninfo.replace("user=crmsync_test", "user=postgres")


def enable_statements(pg_dir, conninfo):
    """Loads pg_stat_statements into the throwaway cluster (a restart)."""
    pg_bin = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")
    run(["psql", "-q", "-d", superuser(conninfo), "-c",
         "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'"])
    data = os.path.join(pg_dir, "data")
    as_postgres([os.path.join(pg_bin, "pg_ctl"), "-w", "-D", data, "-l",
                 os.path.join(data, "server.log"), "restart"])
    run(["psql", "-q", "-d", superuser(conninfo), "-c",
         "CREATE EXTENSION pg_stat_statements"])


def wal_lsn(conninfo):
    """The cluster's current WAL position, in bytes."""
    return int(run(["psql", "-qtA", "-d", conninfo, "-c",
                    "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn"]).strip())


def lsn_text(position):
    return "%X/%X" % (position >> 32, position & 0xFFFFFFFF)


def print_wal_stats(pg_dir, start, end):
    """What the import wrote to the WAL, by kind of record (pg_waldump)."""
    pg_bin = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")
    out = as_postgres([os.path.join(pg_bin, "pg_waldump"), "--stats=record", "-p",
                       os.path.join(pg_dir, "data", "pg_wal"), "-s", lsn_text(start), "-e",
                       lsn_text(end)])
    lines = [line for line in out.splitlines() if line.strip()]
    rows = []
    for line in lines:
        # "Heap/INSERT  N (%)  record bytes (%)  FPI bytes (%)  combined (%)"
        sizes = re.findall(r"(\d+) \(\s*[\d.]+\)", line)
        if "/" in line.split()[0] and len(sizes) == 4:
            rows.append((int(sizes[3]), line))
    print("\n".join(lines[:2]))
    for _, line in sorted(rows, reverse=True)[:12]:
        print(line)
    print("\n".join(line for line in lines if line.startswith("Total")))


def print_statements(conninfo):
    """The statements that took the import's database time, most first."""
    print(run(["psql", "-d", superuser(conninfo), "-c",
               "SELECT calls, round(total_exec_time::numeric, 0) AS total_ms, "
               "round(mean_exec_time::numeric, 3) AS mean_ms, rows, "
               "left(regexp_replace(query, '\\s+', ' ', 'g'), 70) AS statement "
               "FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 15"]))


def machine_cpu():
    """CPU seconds the whole machine spent busy (user, nice, system, irq)."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:8]]
    busy = fields[0] + fields[1] + fields[2] + fields[5] + fields[6]
    return busy / os.sysconf("SC_CLK_TCK")


def postgres_cpu(pg_dir):
    """CPU seconds the cluster's processes used so far: (its client sessions
    still open, the rest: its background processes, and the children the
    postmaster reaped -- autovacuum workers, closed sessions)."""
    with open(os.path.join(pg_dir, "data", "postmaster.pid")) as f:
        postmaster = int(f.readline())
    tick = os.sysconf("SC_CLK_TCK")
    sessions = rest = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                title = f.read().decode(errors="replace")
        except OSError:
            continue  # gone meanwhile
        pid, ppid = int(entry), int(fields[1])
        if pid == postmaster:
            rest += sum(int(v) for v in fields[11:15]) / tick  # its own and reaped children's
        elif ppid == postmaster:
            used = (int(fields[11]) + int(fields[12])) / tick
            # A session's title: "postgres: USER DATABASE HOST(PORT) STATE".
            if re.match(r"postgres: \S+ \S+ \S+\(\d+\)", title):
                sessions += used
            else:
                rest += used
    return sessions, rest


def process_cpu(pid):
    """CPU seconds (user + system) one process has used."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def print_server_time(ports, import_s):
    """How much of the import's wall time crm-syncd spent in the store."""
    import urllib.request
    if len(ports) < 2:
        return
    text = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % ports[1]).read().decode()
    for line in text.splitlines():
        if line.startswith("crmsync_store_write_seconds_sum") or (
                line.startswith("crmsync_rpc_duration_seconds_sum") and "Import" in line):
            name, value = line.rsplit(" ", 1)
            print("%s: %.1f s of %.1f s (%.0f %%)" % (name, float(value), import_s,
                                                    100.0 * float(value) / import_s))


def raw_sqlite(rows, batch, work):
    """Batched upserts into a WAL SQLite file, one transaction per batch."""
    db = sqlite3.connect(os.path.join(work, "raw.db"), isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE bench_raw_leads (tenant_id text, id text, first_name text, "
               "last_name text, email text, company text, owner_user_id text, team_id text, "
               "rating int, version int, PRIMARY KEY (tenant_id, id))")
    sql = ("INSERT INTO bench_raw_leads VALUES ('t-demo',?,?,?,?,?,?,?,?,?) ON CONFLICT "
           "(tenant_id, id) DO UPDATE SET first_name = excluded.first_name, last_name = "
           "excluded.last_name, email = excluded.email, company = excluded.company, "
           "owner_user_id = excluded.owner_user_id, team_id = excluded.team_id, rating = "
           "excluded.rating, version = excluded.version")
    start = time.monotonic()
    for first in range(1, rows + 1, batch):
        db.execute("BEGIN")
        db.executemany(sql, (lead(i)[:7] + [int(lead(i)[7]), i]
                             for i in range(first, min(first + batch, rows + 1))))
        db.execute("COMMIT")
    elapsed = time.monotonic() - start
    db.close()
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", default=os.path.join(ROOT, "build"), help="build directory")
    parser.add_argument("--rows", type=int, default=1000000, help="leads to import (>= 1)")
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--batch-size", type=int, default=500, help="rows per batch (1..500)")
    parser.add_argument("--no-duplicate-check", action="store_true",
                        help="run crm-syncd with --duplicate-check false")
    parser.add_argument("--wal", action="store_true",
                        help="PostgreSQL: print what the import wrote to the WAL, by kind of "
                             "record (pg_waldump)")
    parser.add_argument("--statements", action="store_true",
                        help="PostgreSQL: print where the import's database time went "
                             "(pg_stat_statements)")
    args = parser.parse_args()
    if args.rows < 1 or not 1 <= args.batch_size <= 500:
        sys.exit("bench_import.py: --rows must be >= 1 and --batch-size within 1..500")

    work = tempfile.mkdtemp(prefix="crmsync-bench-import-")
    os.chmod(work, 0o755)  # PostgreSQL runs as its own user under it
    pg_dir = os.path.join(work, "pg")
    store = "sqlite:" + os.path.join(work, "crm.db")
    conninfo = None
    server = None
    try:
        if args.store == "postgres":
            conninfo = run([os.path.join(ROOT, "tests/support/pg-test-cluster.sh"), "start",
                            pg_dir]).strip().splitlines()[-1]
            store = "postgres:" + conninfo
            if args.statements:
                enable_statements(pg_dir, conninfo)
        csv_path = os.path.join(work, "leads.csv")
        with open(csv_path, "w") as f:
            f.write(",".join(COLUMNS) + "\n")
            for i in range(1, args.rows + 1):
                f.write(",".join(lead(i)) + "\n")

        ready = os.path.join(work, "ready")
        server = subprocess.Popen(
            [os.path.join(args.build, "server/crm-syncd"), "--dev-insecure", "--demo-tenant",
             "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--ready-file", ready,
             "--password-memory-kib", "64", "--rate-limit-per-second", "0", "--store", store] +
            (["--duplicate-check", "false"] if args.no_duplicate_check else []),
            stdout=open(os.path.join(work, "server.log"), "w"), stderr=subprocess.STDOUT)
        for _ in range(1200):
            if os.path.exists(ready) and open(ready).read().strip():
                break
            time.sleep(0.05)
        address = "127.0.0.1:" + open(ready).read().split()[0]
        crmctl = [os.path.join(args.build, "tools/crmctl/crmctl"), "--config",
                  os.path.join(work, "crmctl.toml"), "--server", address, "--insecure"]
        subprocess.run(crmctl + ["login", "--tenant", "demo", "--user", "admin",
                                 "--password-stdin"], input="admin-demo-password\n", check=True,
                       capture_output=True, text=True)

        wal_before = wal_lsn(conninfo) if conninfo else 0
        pg_before = postgres_cpu(pg_dir) if conninfo else (0, 0)
        cpu_before = (machine_cpu(), process_cpu(server.pid), os.times())
        start = time.monotonic()
        done = subprocess.run(crmctl + ["import", csv_path, "--type", "lead", "--no-progress",
                                        "--batch-size", str(args.batch_size)],
                              capture_output=True, text=True)
        import_s = time.monotonic() - start
        cpu_after = (machine_cpu(), process_cpu(server.pid), os.times())
        pg_after = postgres_cpu(pg_dir) if conninfo else (0, 0)
        import_pg_s = [after - before for before, after in zip(pg_before, pg_after)]
        if done.returncode != 0 or "%d rows applied" % args.rows not in done.stderr:
            sys.exit("bench_import.py: the import did not apply every row: " + done.stderr)

        if args.statements:
            print_server_time(open(ready).read().split(), import_s)
        if args.store == "postgres" and args.statements:
            print_statements(conninfo)
        if args.store == "postgres":
            wal_import = wal_lsn(conninfo) - wal_before
            if args.wal:
                print_wal_stats(pg_dir, wal_before, wal_before + wal_import)
            raw_s, raw_pg_s = raw_postgres(conninfo, pg_dir, args.rows, args.batch_size, work)
            wal_raw = wal_lsn(conninfo) - wal_before - wal_import
        else:
            raw_s = raw_sqlite(args.rows, args.batch_size, work)

        print("| figure (%s store, %d leads, batches of %d%s) | value |" %
              (args.store, args.rows, args.batch_size,
               ", no duplicate check" if args.no_duplicate_check else ""))
        print("|---|---|")
        print("| crmctl import over gRPC | %.0f rows/s (%.1f s) |" % (args.rows / import_s,
                                                                      import_s))
        print("| raw batched upsert into one table | %.0f rows/s (%.1f s) |" %
              (args.rows / raw_s, raw_s))
        print("| import / raw | %.0f %% |" % (100.0 * raw_s / import_s))
        machine_s = cpu_after[0] - cpu_before[0]
        server_s = cpu_after[1] - cpu_before[1]
        crmctl_s = ((cpu_after[2].children_user + cpu_after[2].children_system) -
                    (cpu_before[2].children_user + cpu_before[2].children_system))
        print("| CPU during the import: crm-syncd / crmctl / the rest (%s) | %.1f / %.1f / %.1f "
              "s of %.1f s wall |" % ("PostgreSQL, ..." if args.store == "postgres" else "idle",
                                      server_s, crmctl_s, machine_s - server_s - crmctl_s,
                                      import_s))
        if args.store == "postgres":
            # crm-syncd's sessions: mostly the one writing, as a tenant's
            # batches are written one after the other (the others read
            # devices and users). That is about the least wall time the
            # import can take, however well the rest overlaps it.
            print("| PostgreSQL's CPU during the import: crm-syncd's sessions / the rest "
                  "(autovacuum, WAL writer, ...) | %.1f / %.1f s |" % tuple(import_pg_s))
            print("| PostgreSQL's CPU during the raw upsert | %.1f s |" % raw_pg_s)
            print("| WAL per row, import / raw | %.0f / %.0f bytes |" %
                  (wal_import / args.rows, wal_raw / args.rows))
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=60)
        if args.store == "postgres":
            subprocess.run([os.path.join(ROOT, "tests/support/pg-test-cluster.sh"), "stop",
                            pg_dir], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
