"""The agent desktop: a Qt softphone that is also the agent's seat in the call center.

The app itself arrives with the agent-app issue; this package holds its layout:
`ui` (PySide6 widgets), `sip` (the only package that imports pjsua2) and `session`
(API client, heartbeat, event stream, agent state machine).
"""

__version__ = "0.1.0"
