#!/usr/bin/env python3
"""Mirror a crmsync tenant into a SQLite table, following its change stream.

An integration (a user with role `integration`, signed in with an API key)
pulls every change of the tenant in order and applies it to a table
`records` (one row per record: type, id, version, the record as JSON and as
protobuf bytes). Each page of changes and the cursor after it are committed
in one transaction, so a mirror that is stopped, killed or cut off from the
server at any moment goes on from where its last commit left it: every
change is applied once, in order, whatever happens to either side.
docs/integration.md, "Following a tenant's changes", walks through it.

Generate the Python modules first (Debian: protobuf-compiler,
protobuf-compiler-grpc, python3-grpcio, python3-protobuf):

  mkdir -p gen && protoc -I proto --python_out=gen \\
      --grpc_out=gen --plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin \\
      proto/crmsync/v1/*.proto

then, with gen/ on PYTHONPATH:

  mirror_changes.py --server HOST:PORT --tenant acme --api-key-file KEY \\
      --instance warehouse-1 --db mirror.db [--follow]

Without --follow it stops once it has caught up (for cron); with it, it
waits on the server's Subscribe stream for more and pulls as they come.
A table `journal` keeps one row per change applied (seq is its primary key,
so applying one twice would fail).
"""

import argparse
import re
import signal
import sqlite3
import sys
import time

import grpc
from google.protobuf import json_format

try:
    from crmsync.v1 import (auth_pb2, auth_pb2_grpc, common_pb2, entities_pb2, sync_pb2,
                            sync_pb2_grpc)
except ImportError:
    sys.exit("mirror_changes.py: generate the crmsync Python modules first and put them on "
             "PYTHONPATH (see the top of this file)")

PROTOCOL_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
  entity_type TEXT NOT NULL,
  id TEXT NOT NULL,
  version INTEGER NOT NULL,
  json TEXT NOT NULL,
  data BLOB NOT NULL,
  generation INTEGER NOT NULL,
  PRIMARY KEY (entity_type, id)
);
CREATE TABLE IF NOT EXISTS journal (
  seq INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,
  entity_type TEXT NOT NULL,
  id TEXT NOT NULL,
  version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class Mirror:
    """The mirror database: records, the journal and the cursor."""

    def __init__(self, path):
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(SCHEMA)

    def get(self, key, default=""):
        row = self.db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def put(self, key, value):
        self.db.execute("INSERT INTO state (key, value) VALUES (?, ?) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, str(value)))

    def apply_page(self, page):
        """Applies one PullResponse and saves its cursor, all or nothing."""
        generation = int(self.get("generation", "0"))
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for change in page.changes:
                self.apply(change, generation)
            self.put("cursor", page.next_cursor)
            if not page.has_more and self.get("bootstrapping") == "1":
                # A bootstrap that completed holds everything there is: what
                # it did not bring back was deleted meanwhile.
                self.db.execute("DELETE FROM records WHERE generation < ?", (generation,))
                self.put("bootstrapping", "0")
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def apply(self, change, generation):
        kind = sync_pb2.ChangeKind.Name(change.kind)
        type_name = common_pb2.EntityType.Name(change.record.entity_type)
        key = (type_name, change.record.id)
        self.db.execute("INSERT INTO journal (seq, kind, entity_type, id, version) "
                        "VALUES (?, ?, ?, ?, ?)", (change.seq, kind) + key + (change.version,))
        if change.kind != sync_pb2.CHANGE_KIND_UPSERT:
            # Deleted, erased, or no longer readable by this integration.
            self.db.execute("DELETE FROM records WHERE entity_type = ? AND id = ?", key)
            return
        record = entities_pb2.Record()
        row = self.db.execute("SELECT data FROM records WHERE entity_type = ? AND id = ?",
                              key).fetchone()
        if row:
            record.ParseFromString(row[0])
        entity_field = change.values.WhichOneof("entity")
        if entity_field is None:  # a delta with no values: only metadata changed
            entity_field = record.WhichOneof("entity")
        if entity_field is not None:
            target = getattr(record, entity_field)
            source = getattr(change.values, entity_field)
            for path in change.changed_fields.paths:
                apply_path(source, target, path)
            target.SetInParent()
        self.db.execute(
            "INSERT INTO records (entity_type, id, version, json, data, generation) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (entity_type, id) DO UPDATE SET "
            "version = excluded.version, json = excluded.json, data = excluded.data, "
            "generation = excluded.generation",
            key + (change.version, json_format.MessageToJson(record, indent=None),
                   record.SerializeToString(), generation))


def apply_path(source, target, path):
    """Copies the value at `path` ("phone", "address.city") from source to
    target; a value the source does not hold clears the target's."""
    *parents, leaf = path.split(".")
    for name in parents:
        source = getattr(source, name) if source is not None and source.HasField(name) else None
        target = getattr(target, name)
    field = target.DESCRIPTOR.fields_by_name[leaf]
    target.ClearField(leaf)
    if source is None:
        return
    if field.label == field.LABEL_REPEATED:
        getattr(target, leaf).MergeFrom(getattr(source, leaf))
    elif field.message_type is not None:
        if source.HasField(leaf):
            getattr(target, leaf).CopyFrom(getattr(source, leaf))
    else:
        setattr(target, leaf, getattr(source, leaf))


class Session:
    """A channel and an access token from the integration's API key."""

    def __init__(self, args):
        if args.insecure:
            self.channel = grpc.insecure_channel(args.server)
        else:
            with open(args.ca_cert, "rb") as f:
                credentials = grpc.ssl_channel_credentials(root_certificates=f.read())
            self.channel = grpc.secure_channel(args.server, credentials)
        self.auth = auth_pb2_grpc.AuthServiceStub(self.channel)
        self.sync = sync_pb2_grpc.SyncServiceStub(self.channel)
        with open(args.api_key_file) as f:
            self.api_key = f.read().strip()
        self.args = args
        self.token = None

    def metadata(self):
        if self.token is None:
            request = auth_pb2.ExchangeApiKeyRequest(tenant=self.args.tenant,
                                                     api_key=self.api_key,
                                                     device_id=self.args.instance)
            self.token = self.auth.ExchangeApiKey(request, timeout=30).tokens.access_token
        return (("authorization", "Bearer " + self.token),)

    def call(self, method, request, **kwargs):
        """Calls `method`; signs in again when the token expired, waits as
        told when over the server's rate limit."""
        signed_in_again = False
        while True:
            try:
                return method(request, metadata=self.metadata(), **kwargs)
            except grpc.RpcError as e:
                if e.code() == grpc.StatusCode.UNAUTHENTICATED and not signed_in_again:
                    self.token = None
                    signed_in_again = True
                elif e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                    wait = re.search(r"retry in (\d+) ms", e.details() or "")
                    time.sleep(int(wait.group(1)) / 1000.0 if wait else 1.0)
                else:
                    raise


def directive(error):
    for key, value in error.trailing_metadata() or ():
        if key == "crmsync-directive":
            return value
    return ""


def client_info():
    return common_pb2.ClientInfo(protocol_version=PROTOCOL_VERSION,
                                 sdk_version="mirror_changes.py/1", platform="python")


def catch_up(session, mirror, args):
    """Pulls and applies pages until the server has nothing more; returns
    the number of changes applied."""
    applied = 0
    while True:
        cursor = mirror.get("cursor")
        if not cursor and mirror.get("bootstrapping") != "1":
            mirror.put("generation", int(mirror.get("generation", "0")) + 1)
            mirror.put("bootstrapping", "1")
        request = sync_pb2.PullRequest(client=client_info(), cursor=cursor,
                                       page_size=args.page_size)
        try:
            page = session.call(session.sync.Pull, request, timeout=60)
        except grpc.RpcError as e:
            if directive(e) in ("reset-required", "history-changed"):
                # The server lost or pruned the history after our cursor:
                # start over; the bootstrap's end removes what is gone.
                # A new history may number its changes anew: a new journal.
                print("mirror: %s; bootstrapping again" % e.details(), file=sys.stderr)
                mirror.db.execute("DELETE FROM journal")
                mirror.put("cursor", "")
                mirror.put("bootstrapping", "0")
                continue
            raise
        mirror.apply_page(page)
        applied += len(page.changes)
        for change in page.changes:
            print("applied %d %s %s/%s v%d" % (
                change.seq, sync_pb2.ChangeKind.Name(change.kind),
                common_pb2.EntityType.Name(change.record.entity_type), change.record.id,
                change.version), flush=True)
        if not page.has_more:
            return applied


def follow(session, mirror, args):
    """Catches up, then waits on Subscribe for more; reconnects with a back
    off when the server goes away (a restart)."""
    delay = 0.5
    while True:
        try:
            catch_up(session, mirror, args)
            request = sync_pb2.SubscribeRequest(client=client_info(), cursor=mirror.get("cursor"))
            for event in session.call(session.sync.Subscribe, request):
                delay = 0.5
                if event.WhichOneof("event") == "changes_available":
                    catch_up(session, mirror, args)
        except grpc.RpcError as e:
            if e.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                                grpc.StatusCode.CANCELLED, grpc.StatusCode.INTERNAL,
                                grpc.StatusCode.RESOURCE_EXHAUSTED):
                raise
            print("mirror: %s (%s); retrying in %.1f s" % (e.code().name, e.details(), delay),
                  file=sys.stderr, flush=True)
            time.sleep(delay)
            delay = min(delay * 2, 10.0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", required=True, help="crm-syncd address, HOST:PORT")
    parser.add_argument("--tenant", required=True, help="tenant slug")
    parser.add_argument("--api-key-file", required=True,
                        help="file holding the integration's API key (crmctl api-keys create)")
    parser.add_argument("--instance", required=True,
                        help="this mirror's device id (one per mirror process)")
    parser.add_argument("--db", required=True, help="the mirror's SQLite database")
    parser.add_argument("--page-size", type=int, default=0,
                        help="changes per Pull (0: the server's default)")
    parser.add_argument("--follow", action="store_true",
                        help="keep following the stream instead of stopping when caught up")
    security = parser.add_mutually_exclusive_group(required=True)
    security.add_argument("--ca-cert", help="PEM file of the CA that signed the server's cert")
    security.add_argument("--insecure", action="store_true",
                          help="plaintext (a server started with --dev-insecure)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    mirror = Mirror(args.db)
    session = Session(args)
    try:
        if args.follow:
            follow(session, mirror, args)
        else:
            n = catch_up(session, mirror, args)
            print("mirror: caught up (%d changes applied)" % n, flush=True)
    except grpc.RpcError as e:
        sys.exit("mirror_changes.py: %s: %s" % (e.code().name, e.details()))


if __name__ == "__main__":
    main()
