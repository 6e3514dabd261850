"""Switchboard: a contact-center controller for a stock Asterisk PBX."""

__version__ = "0.1.0"
