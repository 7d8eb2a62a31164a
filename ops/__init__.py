"""The platform operator's CLI, `python -m ops`: the number inventory and tenants (see `ops.cli`)."""
