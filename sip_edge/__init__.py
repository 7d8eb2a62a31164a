"""The SIP/RTP edge (issue 4)."""
