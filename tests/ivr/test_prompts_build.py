"""``switchboard prompts build``: every text prompt as an 8 kHz WAV the runtime will ask Asterisk to play."""

from __future__ import annotations

import os
import textwrap
import wave
from pathlib import Path

import pytest

from ivr.prompts import PromptRenderError, build_prompts, collect_prompts, render_wav, voice_for
from ivr.runtime.channel import rendered_name
from ivr.runtime.texts import BUILTIN_TEXTS

REPO = Path(__file__).resolve().parents[2]

FLOW = """
start: hello
prompts:
  hello: "Welcome to Example Telecom."
  menu: {say: "Say billing or press 1.", file: custom/menu}
  closed: {file: closed-recording}
nodes:
  hello: {kind: play, prompt: hello, next: menu}
  menu:
    kind: menu
    prompt: menu
    options:
      - {dtmf: 1, say: billing, next: spanish}
  spanish: {kind: set, values: {language: es}, next: bye}
  bye: {kind: hangup, prompt: closed}
"""


def write(flows: Path, name: str, text: str) -> None:
    flows.mkdir(exist_ok=True)
    (flows / f"{name}.yaml").write_text(textwrap.dedent(text))


def wav_info(path: Path) -> tuple[int, int, int, float]:
    with wave.open(str(path), "rb") as wav:
        return (
            wav.getframerate(),
            wav.getnchannels(),
            wav.getsampwidth(),
            wav.getnframes() / wav.getframerate(),
        )


def test_text_prompts_are_rendered_under_the_names_the_runtime_plays(tmp_path: Path) -> None:
    write(tmp_path / "flows", "main", FLOW)
    sounds = tmp_path / "sounds"
    report = build_prompts(tmp_path / "flows", sounds)
    assert report.ok, report.summary()
    for text in ("Welcome to Example Telecom.", "Say billing or press 1."):
        for language in ("en", "es"):  # the flow can switch to Spanish, and then asks for Spanish names
            rate, channels, width, seconds = wav_info(sounds / f"{rendered_name(text, language)}.wav")
            assert (rate, channels, width) == (8000, 1, 2)
            assert seconds > 0.5
    for text in BUILTIN_TEXTS:  # apologies and re-prompts the runtime plays without a flow prompt
        assert (sounds / f"{rendered_name(text, 'en')}.wav").is_file()
    assert not [p for p in sounds.iterdir() if p.name.startswith(".sb-") and p.suffix == ".wav"]


def test_prompt_with_an_existing_recording_is_not_rendered(tmp_path: Path) -> None:
    write(tmp_path / "flows", "main", FLOW)
    recordings = tmp_path / "recordings"
    (recordings / "custom").mkdir(parents=True)
    (recordings / "custom" / "menu.wav").write_bytes(b"RIFF")
    report = build_prompts(tmp_path / "flows", tmp_path / "sounds", recordings_dirs=[recordings])
    assert report.recorded == ["main:menu"]
    assert not (tmp_path / "sounds" / f"{rendered_name('Say billing or press 1.', 'en')}.wav").exists()


def test_rebuild_renders_only_what_changed_and_reports_what_is_stale(tmp_path: Path) -> None:
    flows, sounds = tmp_path / "flows", tmp_path / "sounds"
    write(flows, "main", FLOW)
    first = build_prompts(flows, sounds)
    hello = sounds / f"{rendered_name('Welcome to Example Telecom.', 'en')}.wav"
    stamp = hello.stat().st_mtime_ns
    again = build_prompts(flows, sounds)
    assert again.rendered == [] and len(again.unchanged) == len(first.rendered)
    assert hello.stat().st_mtime_ns == stamp

    write(flows, "main", FLOW.replace("Welcome to Example Telecom.", "Welcome back."))
    changed = build_prompts(flows, sounds)
    assert sorted(changed.rendered) == sorted(rendered_name("Welcome back.", lang) for lang in ("en", "es"))
    assert sorted(changed.stale) == sorted(
        rendered_name("Welcome to Example Telecom.", la) for la in ("en", "es")
    )
    assert hello.exists()  # stale files stay unless asked
    pruned = build_prompts(flows, sounds, prune=True)
    assert not hello.exists() and len(pruned.removed) == 2


def test_new_voice_or_speed_renders_again(tmp_path: Path) -> None:
    flows, sounds = tmp_path / "flows", tmp_path / "sounds"
    write(flows, "main", "start: a\nprompts: {a: 'Hello there.'}\nnodes: {a: {kind: hangup, prompt: a}}\n")
    build_prompts(flows, sounds)
    assert build_prompts(flows, sounds).rendered == []
    assert len(build_prompts(flows, sounds, voice="en-gb").rendered) == 1 + len(BUILTIN_TEXTS)
    assert len(build_prompts(flows, sounds, voice="en-gb", speed=170).rendered) == 1 + len(BUILTIN_TEXTS)


def test_missing_recording_file_or_deleted_wav_is_rendered_again(tmp_path: Path) -> None:
    flows, sounds = tmp_path / "flows", tmp_path / "sounds"
    write(flows, "main", "start: a\nprompts: {a: 'Hello there.'}\nnodes: {a: {kind: hangup, prompt: a}}\n")
    build_prompts(flows, sounds)
    target = sounds / f"{rendered_name('Hello there.', 'en')}.wav"
    target.unlink()
    assert build_prompts(flows, sounds).rendered == [rendered_name("Hello there.", "en")]
    assert target.is_file()


def test_broken_flow_is_reported_and_the_others_still_render(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    write(flows, "good", "start: a\nprompts: {a: 'Still here.'}\nnodes: {a: {kind: hangup, prompt: a}}\n")
    write(flows, "bad", "start: [unclosed\n")
    report = build_prompts(flows, tmp_path / "sounds")
    assert not report.ok and report.problems and "bad.yaml" in report.problems[0]
    assert rendered_name("Still here.", "en") in report.rendered


def test_odd_prompt_text_is_spoken_not_interpreted(tmp_path: Path) -> None:
    for text in ("--help me -v xx", 'Say "yes" or <break/> no; rm -rf /', "Préférez-vous le français ? ☎"):
        out = tmp_path / f"{rendered_name(text, 'en')}.wav"
        render_wav(text, out, voice="en-us")
        assert wav_info(out)[3] > 0.5


def test_missing_espeak_is_a_clear_failure_not_a_crash(tmp_path: Path, monkeypatch) -> None:
    write(
        tmp_path / "flows", "main", "start: a\nprompts: {a: 'Hi.'}\nnodes: {a: {kind: hangup, prompt: a}}\n"
    )
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    report = build_prompts(tmp_path / "flows", tmp_path / "sounds")
    assert not report.ok and report.failed
    assert all("espeak-ng" in reason for _, reason in report.failed)
    with pytest.raises(PromptRenderError):
        render_wav("Hi.", tmp_path / "x.wav")


def test_voice_follows_the_flow_language() -> None:
    assert voice_for("en") == "en-us"
    assert voice_for("pt_BR") == "pt-br"
    assert voice_for("fr", "en-gb") == "en-gb"


@pytest.mark.slow
def test_default_flows_render_completely(tmp_path: Path) -> None:
    prompts, report = collect_prompts(REPO / "flows")
    assert prompts and not report.problems
    built = build_prompts(REPO / "flows", tmp_path / "sounds")
    assert built.ok, built.summary()
    assert len(built.rendered) == len(prompts)
    assert os.listdir(tmp_path / "sounds")
