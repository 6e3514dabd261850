"""Call recordings: catalogued from MixMonitor, transcribed off the event loop, searched, played, retained.

Modules: ``model`` (typed data), ``paths`` (Asterisk-to-controller path mapping), ``audio`` (WAV checks and
resampling), ``transcriber`` (Vosk / PocketSphinx), ``tables`` + ``store`` + ``queries`` (SQL), ``catalogue``
(what MixMonitor events mean), ``ami_glue`` (AMI events -> catalogue), ``worker`` + ``engine_process``
(transcription jobs on a process pool), ``retention`` (policy and sweep), ``http_range`` + ``service`` +
``api`` (HTTP), ``wiring`` (the feature assembled for the composition root).
"""
