"""The call-center session: API client, heartbeat, event stream, agent state machine."""
