"""The edge's media: DSP helpers, the pacing engine, voicemail recorder, prompt cache and
Blob uploader. Independent of any SIP library: legs plug in through `engine.AudioIO`."""
