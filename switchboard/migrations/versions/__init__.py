"""Revision files: ``0001_base`` plus one branch per domain (see ../README.md)."""
