"""Test-only helpers (history checkers, recorders) shared by unit and integration tests."""
