"""The token replay check under load (issue 19: "the replay check never the tail").

Every hook call with a JWT claims its token id in the shared store before it is answered (a token replayed to
another worker or replica is refused). This measures that claim alone, as the service makes it: two processes
(two gunicorn workers) each claim fresh ids one after the other as fast as they can, while each also runs the
store's card recorder, fed with what a worker answering 300 calls a second records (6 cards a call, one commit
a second). Reported: each claim's latency, p50 / p99 / max over both processes.

Stores compared:
- SQLite as the service keeps it: token ids in their own file beside the database (``<name>.tokens.sqlite3``);
- SQLite with the token ids in the database file itself (the design before issue 19), for comparison;
- PostgreSQL as the service keeps it (an UNLOGGED table), and the same table logged, when Debian's PostgreSQL
  binaries are installed (a throwaway cluster, fsync on) or CDS_BENCH_DATABASE_URL names a server.

Usage: python benchmarks/replay_bench.py [--seconds 5]
"""
from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

CALLS_PER_SECOND = 300  # card records fed to each process's recorder: a busy worker
CARDS_PER_CALL = 6


def _claimer(url: str, shared_file: bool, logged: bool, seconds: float, out) -> None:
    from cds_service import store as store_module

    if logged:
        store_module._unlogged = lambda *_: None  # keep the table as run() left it
    store = store_module.Store(url)
    if shared_file:  # the token ids in the database file, as before issue 19 (table made by run())
        store.tokens = store.engine
    stop = time.monotonic() + seconds
    now = datetime.now(timezone.utc)

    def feed_recorder() -> None:  # a worker's card records, queued as hook calls do
        while time.monotonic() < stop:
            for _ in range(CALLS_PER_SECOND // 10):
                store.record_cards("svc", [(str(uuid.uuid4()), "high-mme", "warning") for _ in range(CARDS_PER_CALL)],
                                   now)
            time.sleep(0.1)

    feeder = threading.Thread(target=feed_recorder, daemon=True)
    feeder.start()
    times = []
    while time.monotonic() < stop:
        key, wall = f"iss|{uuid.uuid4()}", time.time()
        start = time.perf_counter()
        assert store.use_jti(key, wall + 300, wall)
        times.append((time.perf_counter() - start) * 1000)
        time.sleep(0.002)  # the rest of a hook call
    feeder.join()
    store.close()
    out.put(times)


def run(label: str, url: str, seconds: float, shared_file: bool = False, logged: bool = False) -> None:
    from sqlalchemy import text

    from cds_service.store import Store, jti_seen

    store = Store(url)  # tables created (and PostgreSQL's made UNLOGGED) before the processes start
    if shared_file:
        jti_seen.create(store.engine, checkfirst=True)
    if logged:
        with store.engine.begin() as conn:
            conn.execute(text("ALTER TABLE jti_seen SET LOGGED"))
    store.close()
    queue = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=_claimer, args=(url, shared_file, logged, seconds, queue)) for _ in range(2)]
    for p in procs:
        p.start()
    times = [t for _ in procs for t in queue.get()]
    for p in procs:
        p.join()
    q = statistics.quantiles(times, n=100)
    print(f"  {label:<58} {len(times):>6} claims  p50 {q[49]:6.2f}  p99 {q[98]:6.2f}  max {max(times):7.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5)
    args = parser.parse_args()
    print(f"token claims by 2 processes, each with a card recorder fed {CALLS_PER_SECOND} calls/s")
    run("SQLite, token ids in their own file (the service)", f"sqlite:///{tempfile.mkdtemp()}/a.sqlite3", args.seconds)
    run("SQLite, token ids in the database file (before)", f"sqlite:///{tempfile.mkdtemp()}/b.sqlite3", args.seconds,
        shared_file=True)
    from bounds_bench import postgres

    with postgres() as url:  # fsync on, PostgreSQL's default
        if url is None:
            print("  PostgreSQL: not installed, skipped")
            return
        run("PostgreSQL, UNLOGGED table (the service)", url, args.seconds)
        run("PostgreSQL, logged table (before)", url, args.seconds, logged=True)


if __name__ == "__main__":
    main()
