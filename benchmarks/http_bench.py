"""Hook calls over HTTP as a ratio to the framework floor measured in the same run (issue 19).

Both servers run under `cds-service serve`'s gunicorn configuration (one worker per core, the given threads),
one after the other on 127.0.0.1; wrk drives each at concurrency 8 for ``--seconds`` after a 2 s warm-up, on the
same 2 cores. The floor is `benchmarks/floor_app.py`: the same parser, an empty answer. Requests: R4
order-sign, 10/50/200 medication records with one oxycodone draft, and 1/10/100 oxycodone drafts with 10
records (`hook_bench.build_request`); with a JWT, every call carries its own ES384 token that the service
verifies and records (the floor takes none: the token check is the service's cost).

Usage: python benchmarks/http_bench.py [--seconds 5]
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import hook_bench as hb  # noqa: E402

PORT = 8767
URL = f"http://127.0.0.1:{PORT}/cds-services/{hb.SERVICE}"


def with_drafts(n: int) -> dict:
    body = hb.build_request(10)
    draft = body["context"]["draftOrders"]["entry"][0]["resource"]
    body["context"]["draftOrders"]["entry"] = [{"resource": {**copy.deepcopy(draft), "id": f"draft-{i}"}}
                                               for i in range(n)]
    return body


def _server(floor: bool, with_jwt: bool, tmp: str) -> subprocess.Popen:
    env = {**os.environ, "CDS_AUTH_MODE": "development", "CDS_DATABASE": f"{tmp}/bench.sqlite3",
           "CDS_MAX_DRAFT_ORDERS": "200", "CDS_LOG_LEVEL": "WARNING"}
    if with_jwt:
        env.update(CDS_AUTH_MODE="required", CDS_TRUSTED_ISSUERS=json.dumps({hb.ISSUER: {"jwks": hb._jwks()}}),
                   CDS_PUBLIC_BASE_URL=f"http://127.0.0.1:{PORT}")
    code = ("import sys, argparse; sys.path.insert(0, %r); from cds_service import cli; "
            "from floor_app import floor_app; "
            "a = argparse.Namespace(host='127.0.0.1', port=%d, workers=%d, threads=1, timeout=None); "
            "sys.exit(cli._serve(a, %s))") % (str(HERE), PORT, os.cpu_count() or 1,
                                               "floor_app" if floor else "None")
    server = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    hb._wait_for(f"http://127.0.0.1:{PORT}/healthz")
    return server


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def _worker_cpu_seconds(master: int) -> float:
    """User + system CPU time of the server's workers (the gunicorn master's children), from /proc."""
    total = 0
    for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split():
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    return total / os.sysconf("SC_CLK_TCK")


def _wrk(warm: str, script: str, seconds: int, master: int | None = None, url: str = URL) -> dict:
    """Throughput, p50 and p99 of one wrk run (after a warm-up); with ``master``, the workers' CPU per call."""
    subprocess.run(["wrk", "-t2", "-c8", "-d2s", "-s", warm, url], capture_output=True)  # warm-up, not measured
    cpu = _worker_cpu_seconds(master) if master else 0.0
    out = subprocess.run(["wrk", "-t2", "-c8", f"-d{seconds}s", "--latency", "-s", script, url],
                         capture_output=True, text=True).stdout
    if "Non-2xx" in out:
        raise RuntimeError(out)
    calls = int(re.search(r"(\d+) requests in", out).group(1))
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
              "p50": _ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1)),
              "p99": _ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1))}
    if master:
        result["cpu_ms"] = (_worker_cpu_seconds(master) - cpu) * 1000 / calls
    return result


def _get_script(tmp: str, name: str, tokens: list[str] | None) -> str:
    """A wrk script for GET (discovery), with a fresh token per call when given."""
    path = hb.wrk_script(tmp, name, "", tokens)
    text = Path(path).read_text().replace('wrk.method = "POST"', 'wrk.method = "GET"')
    Path(path).write_text(text.replace('wrk.body = f:read("*a")', 'wrk.body = nil'))
    return path


DISCOVERY_URL = f"http://127.0.0.1:{PORT}/cds-services"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    cases = [(f"{n} meds, 1 draft", hb.build_request(n)) for n in (10, 50, 200)]
    cases += [(f"10 meds, {n} drafts", with_drafts(n)) for n in (10, 100)]
    tmp = tempfile.mkdtemp()
    floors = {}
    server = _server(True, False, tmp)
    try:
        for label, body in cases:
            script = hb.wrk_script(tmp, "floor", json.dumps(body), None)
            floors[label] = _wrk(script, script, args.seconds, server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
        time.sleep(2)
    print(f"{os.cpu_count()} cores; wrk -t2 -c8 for {args.seconds} s after a 2 s warm-up, on the same cores")
    print(f"{'request':<22} {'mode':<8} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'CPU ms/call':>11}  "
          f"{'p50/floor':>9} {'p99/floor':>9}")
    for label, r in floors.items():
        print(f"{label:<22} {'floor':<8} {r['rps']:>7.0f} {r['p50']:>7.2f} {r['p99']:>7.2f} {r['cpu_ms']:>11.2f}")
    results: dict[tuple[str, bool], dict] = {}
    for with_jwt in (False, True):
        mode = "jwt" if with_jwt else "no jwt"
        server = _server(False, with_jwt, tmp)
        try:
            tokens = (lambda n: hb._tokens(DISCOVERY_URL, n)) if with_jwt else (lambda n: None)
            r = _wrk(_get_script(tmp, "dwarm", tokens(5000)), _get_script(tmp, "disc", tokens(4000 * args.seconds)),
                     args.seconds, server.pid, DISCOVERY_URL)
            results[("discovery", with_jwt)] = r
            print(f"{'discovery (GET)':<22} {mode:<8} {r['rps']:>7.0f} {r['p50']:>7.2f} {r['p99']:>7.2f} "
                  f"{r['cpu_ms']:>11.2f}")
            for label, body in cases:
                # More tokens than calls, a set for the warm-up and one for the run: none is replayed.
                warm = hb.wrk_script(tmp, "warm", json.dumps(body), hb._tokens(URL, 5000) if with_jwt else None)
                run = hb.wrk_script(tmp, "hook", json.dumps(body), hb._tokens(URL, 2500 * args.seconds) if with_jwt else None)
                r = _wrk(warm, run, args.seconds, server.pid)
                results[(label, with_jwt)] = r
                f = floors[label]
                print(f"{label:<22} {mode:<8} {r['rps']:>7.0f} {r['p50']:>7.2f} {r['p99']:>7.2f} "
                      f"{r['cpu_ms']:>11.2f}  {r['p50'] / f['p50']:>8.1f}x {r['p99'] / f['p99']:>8.1f}x")
        finally:
            server.terminate()
            server.wait(timeout=30)
            time.sleep(2)  # the workers finish their last calls and free the port
    _targets(floors, results)


def _targets(floors: dict, results: dict) -> None:
    """Issue 19's targets, each with the figure of this run beside it."""
    hook50, disc = results[("50 meds, 1 draft", False)], results[("discovery", False)]
    jwt10 = results[("10 meds, 1 draft", True)]
    d10, d100 = results[("10 meds, 10 drafts", False)], results[("10 meds, 100 drafts", False)]
    rows = [
        ("hook(50 meds) p50 <= 1.5x floor", hook50["p50"] / floors["50 meds, 1 draft"]["p50"], 1.5),
        ("hook(50 meds) p50 <= 3x discovery", hook50["p50"] / disc["p50"], 3.0),
        ("JWT per call, 10 meds: >= 600 req/s", jwt10["rps"], 600),
        ("JWT per call, 10 meds: p99 <= 20 ms", jwt10["p99"], 20.0),
        ("100 drafts <= 10x 10 drafts (p50)", d100["p50"] / d10["p50"], 10.0),
    ]
    print("targets:")
    for name, value, limit in rows:
        met = value >= limit if "req/s" in name else value <= limit
        print(f"  {name:<40} {value:>8.1f}  {'met' if met else 'NOT met'}")
    cpu = hook50["cpu_ms"]
    print(f"cost model: hook(50 meds) {cpu:.2f} ms CPU per call = {1000 / cpu:.0f} calls per core per second "
          f"(no JWT); with a JWT {results[('50 meds, 1 draft', True)]['cpu_ms']:.2f} ms")


if __name__ == "__main__":
    main()
