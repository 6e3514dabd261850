"""The Asterisk emulator: synthetic channels, callers and agents for tests, demos and load runs."""
