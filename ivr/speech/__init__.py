"""Speech recognition for voice menus: PocketSphinx (embedded) or Vosk (a site model) behind a service.

Import the service from ``ivr.speech.service``; this package root only re-exports the light types.
"""

from ivr.speech.engine import BadAudio, Recognition, SpeechError, SpeechTimeout, SpeechUnavailable

__all__ = ["BadAudio", "Recognition", "SpeechError", "SpeechTimeout", "SpeechUnavailable"]
