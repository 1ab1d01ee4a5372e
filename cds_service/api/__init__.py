"""HTTP layer: Flask blueprints only. Parsing, validation, status codes; no clinical logic."""
