"""The project's PBX sandbox: a real Asterisk 22 in a Debian-testing root (see sandbox.py)."""
