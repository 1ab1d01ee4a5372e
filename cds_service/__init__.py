"""Pain-medication safety CDS Hooks service."""
from __future__ import annotations

import logging
import os
from typing import Any, Mapping

from flask import Flask

from .config import load_settings

__version__ = "0.1.0"


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Application factory: settings, store, engine (card files checked here), blueprints, error handlers.

    Every setting is checked here, so a bad one stops the start (``ConfigError``) before a worker is forked.
    """
    from .api import auth, cors, discovery, errors, feedback, hooks, json_provider, ops, review
    from .engine import Engine
    from .memory import Memory
    from .store import Store, database_url

    app = Flask(__name__, instance_relative_config=True)
    app.json = json_provider.OrjsonProvider(app)
    settings = load_settings(config)
    app.config.update(settings)
    app.config.setdefault("CLOCK", hooks.utc_now)
    if config and "CLOCK" in config:
        app.config["CLOCK"] = config["CLOCK"]
    database = app.config["DATABASE"]
    if not os.path.isabs(database):
        database = os.path.join(app.instance_path, database)
    store = Store(database_url(app.config["DATABASE_URL"], database))
    app.extensions["cds_store"] = store
    app.extensions["cds_engine"] = Engine(settings)
    app.extensions["cds_memory"] = (Memory(settings["MEMORY_SECRET"], store, settings["SESSION_MEMORY_MINUTES"] * 60)
                                    if settings["MEMORY_SECRET"] else None)
    errors.register(app)
    cors.register(app)
    auth.register(app, store)
    ops.register(app)
    app.register_blueprint(discovery.bp)
    app.register_blueprint(hooks.bp)
    app.register_blueprint(feedback.bp)
    app.register_blueprint(ops.bp)
    app.register_blueprint(review.bp)
    if app.config["PROXIES"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["PROXIES"], x_proto=app.config["PROXIES"])
    logging.getLogger("cds_service").setLevel(app.config["LOG_LEVEL"])
    return app
