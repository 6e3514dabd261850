"""The flow runtime: runs a flow on a call's channel and records the path it took."""

from ivr.runtime.channel import CallChannel, PromptResolver, RenderedPrompts
from ivr.runtime.listen import SpeechPort
from ivr.runtime.record import CallStart, IvrPath, IvrStep, Outcome
from ivr.runtime.region import RegionMap, normalise_number
from ivr.runtime.runner import FlowRunner, RunnerConfig
from ivr.runtime.selfservice import Deflection, MemorySelfServiceStore, SelfService, SelfServiceStore

__all__ = [
    "CallChannel",
    "CallStart",
    "Deflection",
    "FlowRunner",
    "IvrPath",
    "IvrStep",
    "MemorySelfServiceStore",
    "Outcome",
    "PromptResolver",
    "RegionMap",
    "RenderedPrompts",
    "RunnerConfig",
    "SelfService",
    "SelfServiceStore",
    "SpeechPort",
    "normalise_number",
]
