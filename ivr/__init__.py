"""Interactive voice response: FastAGI protocol, call flows, speech and prompts."""
