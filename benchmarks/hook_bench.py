"""Benchmark of one hook call: in-process evaluation, its floor, HTTP under gunicorn, cold start, memory, and the
FHIR fallback. Figures go to BENCHMARKS.md by hand; `bash benchmarks/run.sh` reproduces them.

Requests: an R4 order-sign for one oxycodone draft, with 10, 50 or 200 historical medication records (products
from the product table, code + RxNorm display, realistic sigs, a third of them completed), 5 conditions and
3 observations, everything prefetched.

1. in-process: what the hook view does minus Flask: parsing (orjson, as the view does), schema validation,
   adapter (with the strict check of the draft), facts, all rules, card rendering. Median of many runs.
2. floor: json.loads of the same body plus a walk over every node, in the same run; reported as a ratio.
3. HTTP: `cds-service serve` (gunicorn, one worker per core) on 127.0.0.1, driven by wrk at concurrency 8 with
   the 10-medication request for 10 s: throughput, p50, p99; once in development mode (no token), once as in
   production, every call with its own ES384 JWT that the service verifies and whose jti it records.
4. cold start: a fresh interpreter from import to the first answer; resident memory of each worker after load.
5. FHIR fallback: five prefetch keys missing, a local stub FHIR server answering each search after 100 ms.
"""
from __future__ import annotations

import argparse
import csv
import gc
import http.server
import json
import os
import random
import re
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RX = "http://www.nlm.nih.gov/research/umls/rxnorm"
TODAY = date(2026, 11, 22)
SERVICE = "pain-medication-safety-order-sign"


def _sig(i: int) -> list:
    shapes = [
        {"text": "1 tablet by mouth twice daily", "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
         "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet", "system": "http://unitsofmeasure.org", "code": "{tbl}"}}]},
        {"text": "1 tablet every 6 hours as needed", "asNeededBoolean": True,
         "timing": {"repeat": {"frequency": 1, "period": 6, "periodUnit": "h"}},
         "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet", "system": "http://unitsofmeasure.org", "code": "{tbl}"}}]},
        {"text": "1 at bedtime", "timing": {"repeat": {"when": ["HS"]}},
         "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "capsule", "system": "http://unitsofmeasure.org", "code": "{capsule}"}}]},
    ]
    return [shapes[i % len(shapes)]]


def build_request(n_meds: int, seed: int = 7, missing: tuple[str, ...] = ()) -> dict:
    rng = random.Random(seed)
    with (ROOT / "cds_service" / "knowledge" / "data" / "products.csv").open(encoding="utf-8") as fh:
        products = list(csv.DictReader(line for line in fh if not line.startswith("#")))
    pid = "bench-patient"
    meds = []
    for i, row in enumerate(rng.sample(products, n_meds)):
        authored = TODAY - timedelta(days=rng.randint(1, 720))
        meds.append({"resourceType": "MedicationRequest", "id": f"rx-{i}", "intent": "order",
                     "status": "completed" if i % 3 == 0 else "active", "subject": {"reference": f"Patient/{pid}"},
                     "authoredOn": authored.isoformat(),
                     "medicationCodeableConcept": {"coding": [{"system": RX, "code": row["rxcui"], "display": row["name"]}]},
                     "dosageInstruction": _sig(i),
                     "dispenseRequest": {"expectedSupplyDuration": {"value": 30, "unit": "days",
                                                                    "system": "http://unitsofmeasure.org", "code": "d"}}})
    conditions = [{"resourceType": "Condition", "id": f"c{i}", "subject": {"reference": f"Patient/{pid}"},
                   "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
                   "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": code}]}}
                  for i, code in enumerate(["E11.42", "I10", "M17.11", "F32.A", "K21.9"])]
    observations = [{"resourceType": "Observation", "id": f"o{i}", "status": "final", "subject": {"reference": f"Patient/{pid}"},
                     "code": {"coding": [{"system": "http://loinc.org", "code": "11524-6"}]},
                     "effectiveDateTime": (TODAY - timedelta(days=100 * (i + 1))).isoformat()} for i in range(3)]

    def bundle(resources):
        return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
                "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources]}

    prefetch = {"patient": {"resourceType": "Patient", "id": pid, "birthDate": "1961-05-04"},
                "medicationRequests": bundle(meds), "medicationStatements": bundle([]), "medicationDispenses": bundle([]),
                "conditions": bundle(conditions), "observations": bundle(observations), "screenings": bundle([]),
                "labs": bundle([]), "procedures": bundle([]), "serviceRequests": bundle([]), "encounters": bundle([])}
    for key in missing:
        prefetch.pop(key)
    draft = {"resourceType": "MedicationRequest", "id": "draft-1", "status": "draft", "intent": "order",
             "subject": {"reference": f"Patient/{pid}"}, "authoredOn": TODAY.isoformat(),
             "medicationCodeableConcept": {"coding": [{"system": RX, "code": "1049621",
                                                       "display": "oxycodone hydrochloride 5 MG Oral Tablet"}]},
             "dosageInstruction": _sig(1),
             "dispenseRequest": {"expectedSupplyDuration": {"value": 5, "unit": "days", "system": "http://unitsofmeasure.org", "code": "d"}}}
    return {"hookInstance": "0b5e3a4c-1111-4222-8333-944455556666", "hook": "order-sign",
            "fhirServer": "http://127.0.0.1:8765/fhir",
            "context": {"userId": "Practitioner/p", "patientId": pid,
                        "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": draft}]}},
            "prefetch": prefetch}


def _walk(value) -> int:
    count, stack = 0, [value]
    while stack:
        item = stack.pop()
        count += 1
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return count


def _median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def in_process(repeat: int) -> dict:
    from cds_service.api.errors import load_validator, validate
    from cds_service.api.json_provider import parse_json
    from cds_service.config import load_settings
    from cds_service.engine import Engine

    engine = Engine(load_settings({"DATABASE": ":unused:"}, environ={}))
    validator = load_validator("hook-request.schema.json")
    gc.freeze()  # as `cds-service serve` does before forking its workers: the tables are not walked by the collector
    results = {}
    for n in (10, 50, 200):
        raw = json.dumps(build_request(n)).encode()

        def evaluate():
            body = parse_json(raw)
            validate(validator, body)
            engine.evaluate(body, TODAY)

        def floor():
            _walk(json.loads(raw))

        evaluate()  # warm caches, as a running worker has them
        e, f = _median_ms(evaluate, repeat), _median_ms(floor, repeat)
        results[n] = (e, f, len(raw))
        print(f"  {n:>3} meds ({len(raw) / 1024:.0f} KiB): evaluate {e:.2f} ms, floor {f:.3f} ms, ratio {e / f:.1f}x")
    print(f"  growth 200 vs 50 meds: {results[200][0] / results[50][0]:.2f}x")
    return results


def over_http(seconds: int, threads: int, with_jwt: bool) -> None:
    port = 8766
    url = f"http://127.0.0.1:{port}/cds-services/{SERVICE}"
    body = json.dumps(build_request(10))
    tmp = tempfile.mkdtemp()
    env = {**os.environ, "CDS_AUTH_MODE": "development", "CDS_DATABASE": f"{tmp}/bench.sqlite3"}
    if with_jwt:
        # As in production: every call carries a fresh ES384 token (its own jti) that the service verifies and
        # records. wrk sends them in turn from a file; more tokens than calls, so none is replayed.
        env.update(CDS_AUTH_MODE="required", CDS_TRUSTED_ISSUERS=json.dumps({ISSUER: {"jwks": _jwks()}}),
                   CDS_PUBLIC_BASE_URL=f"http://127.0.0.1:{port}")
    for name, duration in (("warm", 2), ("post", seconds)):
        wrk_script(tmp, name, body, _tokens(url, 2000 * duration) if with_jwt else None)
    server = subprocess.Popen([sys.executable, "-m", "cds_service.cli", "serve", "--port", str(port),
                               "--workers", str(os.cpu_count() or 1), "--threads", str(threads)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    label = "with a JWT verified per call" if with_jwt else "development mode, no JWT"
    try:
        _wait_for(f"http://127.0.0.1:{port}/healthz")
        rss = _worker_rss(server.pid)
        print(f"  resident memory per worker after start: {', '.join(f'{r:.0f} MB' for r in rss)}")
        # Warm-up (not measured): each worker's first calls fill its per-process caches (drug identification).
        subprocess.run(["wrk", "-t2", "-c8", "-d2s", "-s", f"{tmp}/warm.lua", url], capture_output=True)
        out = subprocess.run(["wrk", "-t2", "-c8", f"-d{seconds}s", "--latency", "-s", f"{tmp}/post.lua", url],
                             capture_output=True, text=True).stdout
        rps = re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)
        p50 = re.search(r"50%\s+([\d.]+\w+)", out).group(1)
        p99 = re.search(r"99%\s+([\d.]+\w+)", out).group(1)
        errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        print(f"  wrk -c8 {seconds}s, 10-med request, {label}: {rps} req/s, p50 {p50}, p99 {p99}"
              f"{', non-2xx: ' + errors.group(1) if errors else ''}")
        print(f"  resident memory per worker after load: {', '.join(f'{r:.0f} MB' for r in _worker_rss(server.pid))}")
    finally:
        server.terminate()
        server.wait(timeout=10)


def wrk_script(tmp: str, name: str, body: str, tokens: list[str] | None) -> str:
    """A wrk Lua script posting ``body``; with ``tokens``, each call carries the next one (two wrk threads take
    every other token, so none is sent twice)."""
    Path(tmp, f"{name}.json").write_text(body)
    lua = ('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
           f'local f = io.open("{tmp}/{name}.json", "r")\nwrk.body = f:read("*a")\nf:close()\n')
    if tokens:
        Path(tmp, f"{name}.tokens").write_text("\n".join(tokens) + "\n")
        lua += (f'tokens = {{}}\nfor line in io.lines("{tmp}/{name}.tokens") do tokens[#tokens + 1] = line end\n'
                'counter = 0\nfunction setup(thread) thread:set("offset", counter) counter = counter + 1 end\n'
                'function init(args) i = offset end\n'
                'function request()\n  i = i + 2\n'
                '  wrk.headers["Authorization"] = "Bearer " .. tokens[i]\n'
                '  return wrk.format()\nend\n')
    path = Path(tmp, f"{name}.lua")
    path.write_text(lua)
    return str(path)


ISSUER = "https://ehr.bench.example"
_KEY = None


def _key():
    global _KEY
    if _KEY is None:
        from cryptography.hazmat.primitives.asymmetric import ec

        _KEY = ec.generate_private_key(ec.SECP384R1())
    return _KEY


def _jwks() -> dict:
    import jwt

    key = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(_key().public_key()))
    return {"keys": [{**key, "kid": "bench", "alg": "ES384", "use": "sig"}]}


def _tokens(audience: str, count: int) -> list[str]:
    import uuid

    import jwt

    now = int(time.time())
    claims = {"iss": ISSUER, "aud": audience, "iat": now, "exp": now + 600}
    return [jwt.encode({**claims, "jti": str(uuid.uuid4())}, _key(), algorithm="ES384", headers={"kid": "bench"})
            for _ in range(count)]


def _wait_for(url: str) -> None:
    import urllib.request

    for _ in range(100):
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("service did not start")


def _worker_rss(master: int) -> list[float]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    out = []
    for pid in children:
        status = Path(f"/proc/{pid}/status").read_text()
        out.append(int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024)
    return out


def cold_start(runs: int) -> None:
    script = ("import time, json, tempfile; t=time.perf_counter(); from cds_service import create_app; "
              "app=create_app({'DATABASE': tempfile.mkdtemp()+'/c.db', 'AUTH_MODE': 'development'}); "
              f"r=app.test_client().post('/cds-services/{SERVICE}', data=open('{{p}}').read(), "
              "content_type='application/json'); assert r.status_code==200; print(time.perf_counter()-t)")
    tmp = tempfile.mkdtemp()
    path = Path(tmp, "r.json")
    path.write_text(json.dumps(build_request(10)))
    times = [float(subprocess.run([sys.executable, "-c", script.replace("{p}", str(path))], capture_output=True,
                                  text=True, check=True).stdout) for _ in range(runs)]
    print(f"  cold start, import to first answer (median of {runs}): {statistics.median(times) * 1000:.0f} ms")


class _SlowFhir(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        time.sleep(0.1)
        data = json.dumps({"resourceType": "Bundle", "type": "searchset", "entry": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def fhir_fallback(repeat: int) -> None:
    from cds_service.config import load_settings
    from cds_service.engine import Engine

    socketserver.ThreadingTCPServer.allow_reuse_address = True  # a run right after another one
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 8765), _SlowFhir)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        engine = Engine(load_settings({"DATABASE": ":unused:", "FHIR_SERVER_ALLOWLIST": ["http://127.0.0.1:8765/"]},
                                      environ={}))
        missing = ("medicationStatements", "medicationDispenses", "conditions", "observations", "procedures")
        full = build_request(10)
        partial = build_request(10, missing=missing)
        engine.evaluate(partial, TODAY)
        with_all = _median_ms(lambda: engine.evaluate(full, TODAY), repeat)
        with_missing = _median_ms(lambda: engine.evaluate(partial, TODAY), repeat)
        print(f"  FHIR fallback, {len(missing)} keys missing, stub answers after 100 ms: added "
              f"{with_missing - with_all:.0f} ms (a serial fetch would add {100 * len(missing)} ms)")
    finally:
        server.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker")
    args = parser.parse_args()
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} cores")
    print("1-2. in-process evaluation vs floor")
    in_process(args.repeat)
    print("3. HTTP")
    if args.skip_http:
        print("  skipped")
    else:
        over_http(args.seconds, args.threads, with_jwt=False)
        over_http(args.seconds, args.threads, with_jwt=True)
    print("4. cold start")
    cold_start(5)
    print("5. FHIR fallback")
    fhir_fallback(20)


if __name__ == "__main__":
    main()
