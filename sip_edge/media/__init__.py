"""The edge's media, independent of any SIP library (legs plug in through `ports.AudioIO`):

- `core`: the pacer and mixer, sans I/O (``MediaCore.tick(now)``); `mixer`: a bridge's mix,
- `engine`: ``MediaEngine``, the one pacing thread around the core, on an injected `clock`,
- `dsp`: numpy/soxr DSP on PCM bytes; `recorder`: voicemail and call recorders,
- `prompts`, `system_prompts`: the prompt cache and built-in prompts; `uploader`: Blob uploads,
- `memory_io`: an in-memory leg for tests and the benchmark."""
