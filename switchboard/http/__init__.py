"""The HTTP face of Switchboard: the FastAPI app factory and, later, its routers and pages."""
