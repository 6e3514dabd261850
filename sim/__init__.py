"""The Asterisk emulator: synthetic channels, callers and agents for tests, demos and load runs."""

from sim.emulator import AsteriskEmulator
from sim.scripts import ScriptedAgent, ScriptedCaller

__all__ = ["AsteriskEmulator", "ScriptedAgent", "ScriptedCaller"]
