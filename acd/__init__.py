"""Automatic call distribution: routing model and policy, Redis state, dispatcher, agent life cycle."""
