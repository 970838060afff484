"""Serve a surface from your own ASGI server instead of ``chamberlain serve``.

CHAMBERLAIN_DATA_DIR=./chamberlain-data uvicorn asgi_app:app --port 8000
"""

from __future__ import annotations

from refunds import surface

from chamberlain.app import Runtime, create_app
from chamberlain.config import Settings
from chamberlain.gc_tuning import tune_gc

# Settings come from CHAMBERLAIN_* environment variables (docs/reference/settings.md).
# CHAMBERLAIN_HOST must name the interface uvicorn binds: on a loopback address the
# MCP endpoint checks Host and Origin headers against it.
app = create_app(Runtime(surface, Settings.from_env()))

# What ``chamberlain serve`` also does: freeze what is loaded now out of garbage
# collection, and collect young garbage in larger batches (under load, a quarter more
# calls a second and a fifth of the p99: docs/performance.md).
tune_gc()
