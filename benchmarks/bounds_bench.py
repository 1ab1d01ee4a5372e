"""What the bounds on one call cost (issue 14): drafts per call, prefetched records per call, a feedback batch,
and what a large feedback batch does to a hook call answered at the same time.

1. drafts: an order-sign with 10, 100 and 200 oxycodone drafts (MAX_DRAFT_ORDERS is 200), 10 records
   prefetched; in-process through the Flask test client (parse, schema, adapter, rules, cards). Median.
2. records: one draft, 500 and 2,000 prefetched MedicationRequests. Median.
3. feedback: a batch of 500 overridden items with a 1,000-character comment each (about 0.6 MB), to SQLite and
   to PostgreSQL (a throwaway cluster from Debian's binaries when they are installed, or CDS_BENCH_DATABASE_URL).
4. a hook call (10 records) timed while another thread posts 500-item feedback batches without pause, SQLite.
"""
from __future__ import annotations

import copy
import glob
import logging
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from hook_bench import SERVICE, _median_ms, build_request  # noqa: E402

NOW = datetime(2026, 11, 22, 15, 0, tzinfo=timezone.utc)


def _app(database_url: str = "sqlite://"):
    from cds_service import create_app

    return create_app({"TESTING": True, "AUTH_MODE": "development", "DATABASE_URL": database_url,
                       "CLOCK": lambda: NOW})


def _with_drafts(n: int, records: int = 10) -> dict:
    body = build_request(records)
    draft = body["context"]["draftOrders"]["entry"][0]
    body["context"]["draftOrders"]["entry"] = []
    for i in range(n):
        entry = copy.deepcopy(draft)
        entry["resource"]["id"] = f"draft-{i}"
        body["context"]["draftOrders"]["entry"].append(entry)
    return body


def hook_calls(client) -> None:
    for label, body, repeat in ([f"{n} drafts", _with_drafts(n), 40 if n < 200 else 15] for n in (10, 100, 200)):
        fn = lambda: client.post(f"/cds-services/{SERVICE}", json=body)  # noqa: E731
        assert fn().status_code == 200
        print(f"  {label}: {_median_ms(fn, repeat):.1f} ms")
    for n in (500, 2000):
        body = build_request(n)
        fn = lambda: client.post(f"/cds-services/{SERVICE}", json=body)  # noqa: E731
        assert fn().status_code == 200
        print(f"  1 draft, {n} prefetched records: {_median_ms(fn, 10):.1f} ms")


def _batch() -> dict:
    return {"feedback": [{"card": str(uuid.uuid4()), "outcome": "overridden", "outcomeTimestamp": "2026-11-22T15:01:00Z",
                          "overrideReason": {"reason": {"code": "benefit-outweighs-risk", "display": "Benefit outweighs risk"},
                                             "userComment": "c" * 1000}} for _ in range(500)]}


def feedback(client, label: str) -> None:
    times = []
    for _ in range(10):
        body = _batch()
        start = time.perf_counter()
        assert client.post(f"/cds-services/{SERVICE}/feedback", json=body).get_json()["stored"] == 500
        times.append((time.perf_counter() - start) * 1000)
    print(f"  500 items, {label}: median {statistics.median(times):.0f} ms, max {max(times):.0f} ms")


def hook_during_feedback() -> None:
    app = _app(f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3")
    body = build_request(10)
    hook = app.test_client()
    alone = _median_ms(lambda: hook.post(f"/cds-services/{SERVICE}", json=body), 50)
    stop = threading.Event()

    def writer() -> None:
        client = app.test_client()
        while not stop.is_set():
            client.post(f"/cds-services/{SERVICE}/feedback", json=_batch())

    thread = threading.Thread(target=writer)
    thread.start()
    times = []
    try:
        for _ in range(100):
            start = time.perf_counter()
            assert hook.post(f"/cds-services/{SERVICE}", json=body).status_code == 200
            times.append((time.perf_counter() - start) * 1000)
    finally:
        stop.set()
        thread.join()
    times.sort()
    print(f"  hook call alone {alone:.1f} ms; during 500-item batches: median {statistics.median(times):.1f} ms, "
          f"max {times[-1]:.0f} ms (one process, the GIL shared with the writer)")


@contextmanager
def postgres():
    if os.environ.get("CDS_BENCH_DATABASE_URL"):
        yield os.environ["CDS_BENCH_DATABASE_URL"]
        return
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        yield None
        return
    bindir, tmp = os.path.dirname(found[-1]), tempfile.mkdtemp(prefix="cds-bench-pg-")
    as_pg = (lambda cmd: ["runuser", "-u", "postgres", "--", *cmd]) if os.geteuid() == 0 else (lambda cmd: cmd)
    if os.geteuid() == 0:
        shutil.chown(tmp, "postgres")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data = os.path.join(tmp, "data")
    subprocess.run(as_pg([f"{bindir}/initdb", "-D", data, "-U", "cds", "-A", "trust", "--no-sync"]), check=True,
                   capture_output=True)
    subprocess.run(as_pg([f"{bindir}/pg_ctl", "-D", data, "-l", f"{tmp}/log", "-w", "-o",
                          f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1", "start"]), check=True, capture_output=True)
    try:
        subprocess.run([f"{bindir}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "cds", "bench"], check=True)
        yield f"postgresql+psycopg://cds@127.0.0.1:{port}/bench"
    finally:
        subprocess.run(as_pg([f"{bindir}/pg_ctl", "-D", data, "-m", "fast", "stop"]), capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    logging.disable(logging.WARNING)  # the requests name a fhirServer that is not allow-listed: said once per call
    print("1-2. drafts and records per call (in-process, test client)")
    hook_calls(_app().test_client())
    print("3. feedback batch")
    feedback(_app(f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3").test_client(), "SQLite (file, WAL)")
    with postgres() as url:
        if url:
            feedback(_app(url).test_client(), "PostgreSQL (local)")
        else:
            print("  PostgreSQL: not installed, skipped")
    print("4. a hook call while feedback is written")
    hook_during_feedback()


if __name__ == "__main__":
    main()
