"""Pain-medication safety CDS Hooks service."""
from __future__ import annotations

import logging
import os
from typing import Any, Mapping

from flask import Flask

from .config import load_settings

__version__ = "0.1.0"


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Application factory: settings, store, engine (card files checked here), blueprints, error handlers."""
    from .api import auth, cors, discovery, errors, feedback, hooks
    from .engine import Engine
    from .store import Store

    app = Flask(__name__, instance_relative_config=True)
    settings = load_settings(config)
    app.config.update(settings)
    app.config.setdefault("CLOCK", hooks.utc_now)
    if config and "CLOCK" in config:
        app.config["CLOCK"] = config["CLOCK"]
    database = app.config["DATABASE"]
    if not os.path.isabs(database):
        database = os.path.join(app.instance_path, database)
    app.extensions["cds_store"] = Store(database)
    app.extensions["cds_engine"] = Engine(settings)
    errors.register(app)
    cors.register(app)
    auth.register(app)
    app.register_blueprint(discovery.bp)
    app.register_blueprint(hooks.bp)
    app.register_blueprint(feedback.bp)
    logging.getLogger("cds_service").setLevel(logging.INFO)
    return app
