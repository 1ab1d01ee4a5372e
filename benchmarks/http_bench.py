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


def _wrk(warm: str, script: str, seconds: int) -> tuple[float, float, float]:
    subprocess.run(["wrk", "-t2", "-c8", "-d2s", "-s", warm, URL], capture_output=True)  # warm-up, not measured
    out = subprocess.run(["wrk", "-t2", "-c8", f"-d{seconds}s", "--latency", "-s", script, URL],
                         capture_output=True, text=True).stdout
    if "Non-2xx" in out:
        raise RuntimeError(out)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return rps, _ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1)), _ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1))


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
            floors[label] = _wrk(script, script, args.seconds)
    finally:
        server.terminate()
        server.wait(timeout=30)
        time.sleep(2)
    print(f"{'request':<22} {'mode':<8} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7}  {'p50/floor':>9} {'p99/floor':>9}")
    for label, (rps, p50, p99) in floors.items():
        print(f"{label:<22} {'floor':<8} {rps:>7.0f} {p50:>7.2f} {p99:>7.2f}")
    for with_jwt in (False, True):
        server = _server(False, with_jwt, tmp)
        try:
            for label, body in cases:
                # More tokens than calls, a set for the warm-up and one for the run: none is replayed.
                warm = hb.wrk_script(tmp, "warm", json.dumps(body), hb._tokens(URL, 5000) if with_jwt else None)
                run = hb.wrk_script(tmp, "hook", json.dumps(body), hb._tokens(URL, 2500 * args.seconds) if with_jwt else None)
                rps, p50, p99 = _wrk(warm, run, args.seconds)
                f = floors[label]
                print(f"{label:<22} {'jwt' if with_jwt else 'no jwt':<8} {rps:>7.0f} {p50:>7.2f} {p99:>7.2f}  "
                      f"{p50 / f[1]:>8.1f}x {p99 / f[2]:>8.1f}x")
        finally:
            server.terminate()
            server.wait(timeout=30)
            time.sleep(2)  # the workers finish their last calls and free the port


if __name__ == "__main__":
    main()
