"""The REST API (v1): app factory, auth, error mapping, schemas, services and routes."""

from cti.api.app import create_app

__all__ = ["create_app"]
