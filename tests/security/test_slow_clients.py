"""Slow clients against the production setup as shipped: the image's entrypoint (deploy/serve-behind-nginx.sh:
nginx in front of `cds-service serve`), started for real on this machine. 100 clients trickling their headers
must not delay a normal discovery or hook call. The same attack on gunicorn alone (one worker, two threads)
shows what the proxy is for: there, 8 tricklers stall every call."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from conftest import ROOT, SERVICE_FOR_HOOK, free_port, load_json

ENTRYPOINT = ROOT / "deploy" / "serve-behind-nginx.sh"
HOOK = f"/cds-services/{SERVICE_FOR_HOOK['order-sign']}"
HIGH_MME = "requests/high-mme/fires-90-mme-with-breakthrough-oxycodone.order-sign.r4.json"


def _env(tmp_path: Path, port: int) -> dict:
    bindir = str(Path(sys.executable).parent)
    return {**{k: v for k, v in os.environ.items() if not k.startswith("CDS_")},
            "PATH": f"{bindir}:/usr/sbin:/usr/bin:/bin", "CDS_PORT": str(port), "UPSTREAM_PORT": str(free_port()),
            "CDS_AUTH_MODE": "development", "CDS_DATABASE": str(tmp_path / "cds.sqlite3"), "CDS_WORKERS": "1",
            "CDS_THREADS": "2", "CDS_LOG_LEVEL": "WARNING", "NGINX_RUN_DIR": str(tmp_path / "nginx")}


def _wait_ready(port: int, proc: subprocess.Popen) -> None:
    for _ in range(150):
        if proc.poll() is not None:
            pytest.fail(f"the server exited ({proc.returncode}): {proc.stdout.read().decode(errors='replace')[-2000:]}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    pytest.fail("the server did not become ready in 15 s")


def _stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        return -9


@pytest.fixture
def behind_nginx(tmp_path):
    if not (shutil.which("nginx") or os.path.exists("/usr/sbin/nginx")):
        pytest.fail("nginx is not installed: `bash .ci/run` installs it (apt-get install nginx); the production "
                    "image runs the service behind it")
    port = free_port()
    proc = subprocess.Popen(["bash", str(ENTRYPOINT)], env=_env(tmp_path, port), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    _wait_ready(port, proc)
    yield port, proc
    if proc.poll() is None:
        _stop(proc)


@pytest.fixture
def gunicorn_alone(tmp_path):
    port = free_port()
    env = {**_env(tmp_path, port), "CDS_HOST": "127.0.0.1"}
    proc = subprocess.Popen([str(Path(sys.executable).parent / "cds-service"), "serve"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    _wait_ready(port, proc)
    yield port
    _stop(proc)


class Tricklers:
    """``count`` connections that send a request line and then one header byte every half second, forever."""

    def __init__(self, port: int, count: int):
        self.sockets = []
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(f"POST {HOOK} HTTP/1.1\r\nHost: cds.example.org\r\nX-Slow: ".encode())
            self.sockets.append(sock)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._trickle, daemon=True)
        self.thread.start()

    def _trickle(self) -> None:
        while not self.stop.wait(0.5):
            for sock in self.sockets:
                try:
                    sock.send(b"a")
                except OSError:
                    pass

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        for sock in self.sockets:
            sock.close()


def _normal_calls(port: int, timeout: float) -> tuple[int, int]:
    base = f"http://127.0.0.1:{port}"
    discovery = requests.get(f"{base}/cds-services", timeout=timeout)
    hook = requests.post(base + HOOK, data=json.dumps(load_json(HIGH_MME)), timeout=timeout,
                         headers={"Content-Type": "application/json"})
    return discovery.status_code, hook.status_code


def test_normal_calls_are_answered_while_100_clients_trickle_headers(behind_nginx):
    port, _ = behind_nginx
    tricklers = Tricklers(port, 100)
    try:
        time.sleep(1)  # the tricklers have sent bytes: gunicorn alone would have handed them its threads
        started = time.monotonic()
        assert _normal_calls(port, timeout=5) == (200, 200)
        assert time.monotonic() - started < 5
        hook = requests.post(f"http://127.0.0.1:{port}{HOOK}", json=load_json(HIGH_MME), timeout=5).json()
        assert "high-mme" in {card["source"]["topic"]["code"] for card in hook["cards"]}
    finally:
        tricklers.close()


def test_without_the_proxy_8_tricklers_stall_every_call(gunicorn_alone):
    """Why the image runs nginx: the same attack, on gunicorn alone, makes a normal call wait past 3 s."""
    tricklers = Tricklers(gunicorn_alone, 8)
    try:
        time.sleep(1)
        with pytest.raises(requests.Timeout):
            _normal_calls(gunicorn_alone, timeout=3)
    finally:
        tricklers.close()


def test_a_body_over_the_limit_is_a_json_413_from_the_proxy(behind_nginx):
    port, _ = behind_nginx
    response = requests.post(f"http://127.0.0.1:{port}{HOOK}", data=b"x" * (5 * 1024 * 1024 + 1),
                             headers={"Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 413
    assert response.json()["error"] == "request_too_large"


def test_sigterm_stops_both_processes_cleanly(behind_nginx):
    port, proc = behind_nginx
    assert _stop(proc) == 0
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
