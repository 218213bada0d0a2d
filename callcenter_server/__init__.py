"""Reference call-center server: the model, the agent API and (later) the Asterisk driver."""

__version__ = "0.1.0"
