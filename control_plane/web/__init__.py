"""The web app: the `/api/v1` JSON API, the billing hook and health probes in one ASGI app."""
