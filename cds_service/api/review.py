"""GET /: the review page for clinical governance (aggregate figures only, never patient data).

Behind HTTP Basic with ``ADMIN_USER``/``ADMIN_PASSWORD``. Without a password the page is open in development
mode and refused in required mode, so a production deployment never exposes it by accident.
"""
from __future__ import annotations

import hmac
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify, render_template, request
from markdown_it import MarkdownIt
from markupsafe import Markup

from ..review import describe_action, examples, governance

bp = Blueprint("review", __name__)
# Card texts are our own files, but raw HTML in them is still not passed through.
_MARKDOWN = MarkdownIt("commonmark", {"html": False})


def _refused() -> Response | None:
    password = current_app.config["ADMIN_PASSWORD"]
    if not password:
        if current_app.config["AUTH_MODE"] == "development":
            return None
        return jsonify({"error": "forbidden", "message": "the review page needs CDS_ADMIN_PASSWORD to be set"}), 403
    auth = request.authorization
    if (auth is not None and auth.type == "basic"
            and hmac.compare_digest((auth.username or "").encode(), current_app.config["ADMIN_USER"].encode())
            and hmac.compare_digest((auth.password or "").encode(), password.encode())):
        return None
    response = jsonify({"error": "unauthorized", "message": "the review page needs the admin credential"})
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Basic realm="CDS review", charset="UTF-8"'
    return response


@lru_cache(maxsize=4)
def _gallery(engine, examples_dir: str) -> list:
    return examples(engine, Path(examples_dir))  # fixed for the life of the process: card files are read at start


@bp.get("/")
def review_page():
    refused = _refused()
    if refused is not None:
        return refused
    engine = current_app.extensions["cds_engine"]
    gallery = _gallery(engine, current_app.config["EXAMPLES_DIR"])
    titles = {e.rule_id: e.title for e in gallery}
    today = current_app.config["CLOCK"]().date()
    window, figures = governance(current_app.extensions["cds_store"].rule_summary(), titles, today)
    html = render_template("review.html", gallery=gallery, figures=figures, window=window,
                           markdown=lambda text: Markup(_MARKDOWN.render(text)), action=describe_action,
                           disabled=set(current_app.config["RULES_DISABLED"]))
    response = Response(html, content_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'"
    response.headers["Cache-Control"] = "no-store"
    return response
