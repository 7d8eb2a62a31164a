"""Password hashing, tokens and rate limiting: pure logic over injected clocks and keys."""
