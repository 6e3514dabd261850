"""Asterisk Manager Interface: client, wire format and typed events."""
