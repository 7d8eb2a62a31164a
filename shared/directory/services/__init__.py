"""Pure domain services (no I/O) used by the API, the SIP edge and the jobs."""
