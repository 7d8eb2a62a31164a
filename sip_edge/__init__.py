"""The SIP/RTP edge: answers the trunk's calls, runs the tenants' IVR menus, forwards calls to
users' phones, records voicemail and places click-to-call legs (docs/sip-edge.md)."""
