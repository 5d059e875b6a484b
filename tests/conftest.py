"""Shared pytest configuration: fixture plugins for the real services the tests start."""

pytest_plugins = ["tests.support.postgres"]
