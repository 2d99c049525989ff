"""Fixtures of the integration tests: ``app_url``, a running `metasim app` (one per module)
for the browser tests (:mod:`tests.integration.app_server`)."""

from .app_server import app_url  # noqa: F401  (a fixture: pytest finds it here)
