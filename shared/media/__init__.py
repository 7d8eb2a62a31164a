"""Media helpers: audio sniffing, probing and conversion (pure), and the bounded worker that runs
conversions off the event loop."""
