"""A test-only function app for tests/integration/test_devhost.py."""
