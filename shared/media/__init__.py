"""Pure media helpers (no I/O): audio sniffing and conversion."""
