"""The operator's own metrics, served on `/metrics` for Prometheus to scrape."""

from __future__ import annotations

import prometheus_client


def serve(address: str) -> None:
    """Serve `/metrics` on HOST:PORT from a background thread."""
    host, _, port = address.rpartition(":")
    prometheus_client.start_http_server(int(port), addr=host or "0.0.0.0")
