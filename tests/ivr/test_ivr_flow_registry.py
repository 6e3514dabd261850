"""Flows reload without a restart; a bad file never replaces a good one that is running."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

from ivr.flows import FlowRegistry

V1 = """\
start: hello
prompts: {hi: "Version one."}
nodes:
  hello: {kind: play, prompt: hi, next: out}
  out: {kind: queue, queue: support}
"""
V2 = V1.replace("Version one.", "Version two.")
BROKEN = V1.replace("next: out", "next: nowhere")


def write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    # make every rewrite visible to the stat-based change check, even within one clock tick
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000 + len(text)))


def say_text(registry: FlowRegistry, name: str = "main") -> str | None:
    flow = registry.get(name)
    return None if flow is None else flow.spec.prompts["hi"].say


def test_loads_every_flow_in_the_directory(tmp_path):
    write(tmp_path / "main.yaml", V1)
    write(tmp_path / "billing.yml", V2)
    (tmp_path / "notes.txt").write_text("not a flow")
    registry = FlowRegistry(tmp_path)
    report = registry.reload()
    assert sorted(report.loaded) == ["billing", "main"]
    assert registry.names == ("billing", "main")
    assert report.problems == ()


def test_edited_file_is_picked_up_by_reload(tmp_path):
    write(tmp_path / "main.yaml", V1)
    registry = FlowRegistry(tmp_path)
    registry.reload()
    write(tmp_path / "main.yaml", V2)
    assert registry.changed_on_disk()
    report = registry.reload()
    assert report.loaded == ("main",)
    assert say_text(registry) == "Version two."


def test_bad_edit_keeps_the_running_version_and_reports_why(tmp_path):
    write(tmp_path / "main.yaml", V1)
    registry = FlowRegistry(tmp_path)
    registry.reload()
    version = registry.get("main").version
    write(tmp_path / "main.yaml", BROKEN)
    report = registry.reload()
    assert report.kept == ("main",) and report.loaded == ()
    assert registry.get("main").version == version
    assert say_text(registry) == "Version one."
    assert [(p.line, p.reason) for p in report.problems] == [
        (4, "node 'hello' next: unknown node 'nowhere'"),
        (5, "node 'out' is unreachable from start 'hello'"),
    ]
    assert registry.problems == list(report.problems)
    # fixing the file clears the problem and loads the fix
    write(tmp_path / "main.yaml", V2)
    report = registry.reload()
    assert report.loaded == ("main",) and registry.problems == []
    assert say_text(registry) == "Version two."


def test_yaml_garbage_keeps_the_running_version(tmp_path):
    write(tmp_path / "main.yaml", V1)
    registry = FlowRegistry(tmp_path)
    registry.reload()
    write(tmp_path / "main.yaml", "start: [unclosed\n")
    report = registry.reload()
    assert report.kept == ("main",)
    assert say_text(registry) == "Version one."
    assert report.problems[0].line == 2 or report.problems[0].line == 1


def test_new_bad_file_is_not_loaded(tmp_path):
    write(tmp_path / "main.yaml", V1)
    write(tmp_path / "extra.yaml", BROKEN)
    registry = FlowRegistry(tmp_path)
    report = registry.reload()
    assert report.loaded == ("main",) and report.rejected == ("extra",)
    assert registry.get("extra") is None


def test_deleted_file_is_removed_and_unchanged_files_are_not_reparsed(tmp_path):
    write(tmp_path / "main.yaml", V1)
    write(tmp_path / "other.yaml", V1)
    registry = FlowRegistry(tmp_path)
    registry.reload()
    main_before = registry.get("main")
    (tmp_path / "other.yaml").unlink()
    report = registry.reload()
    assert report.removed == ("other",)
    assert registry.get("other") is None
    assert registry.get("main") is main_before
    assert registry.reload().changed is False


def test_a_running_call_keeps_the_version_it_started_with(tmp_path):
    write(tmp_path / "main.yaml", V1)
    registry = FlowRegistry(tmp_path)
    registry.reload()
    snapshot = registry.snapshot()
    write(tmp_path / "main.yaml", V2)
    registry.reload()
    assert snapshot["main"].spec.prompts["hi"].say == "Version one."
    assert say_text(registry) == "Version two."


def test_sub_flow_cycle_introduced_by_an_edit_is_refused(tmp_path):
    write(
        tmp_path / "a.yaml", "start: s\nnodes:\n  s: {kind: subflow, flow: b, next: q}\n  q: {kind: queue}\n"
    )
    write(tmp_path / "b.yaml", "start: q\nnodes:\n  q: {kind: queue}\n")
    registry = FlowRegistry(tmp_path)
    assert registry.reload().problems == ()
    write(tmp_path / "b.yaml", "start: s\nnodes:\n  s: {kind: subflow, flow: a}\n")
    report = registry.reload()
    assert "b" in report.kept
    assert registry.get("b").spec.start == "q"
    assert any("sub-flow cycle" in p.reason for p in report.problems)


def test_reload_is_safe_while_calls_take_snapshots_in_other_threads(tmp_path):
    write(tmp_path / "main.yaml", V1)
    registry = FlowRegistry(tmp_path)
    registry.reload()
    seen: set[str] = set()
    stop = threading.Event()
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            while not stop.is_set():
                flows = registry.snapshot()
                seen.add(flows["main"].spec.prompts["hi"].say or "")
                time.sleep(0.0005)
        except BaseException as exc:  # pragma: no cover - the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for i in range(20):
            write(tmp_path / "main.yaml", V2 if i % 2 else BROKEN if i % 3 == 0 else V1)
            registry.reload()
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert errors == []
    assert seen <= {"Version one.", "Version two."}


async def test_watch_reloads_changed_files_on_the_clock(tmp_path, clock):
    write(tmp_path / "main.yaml", V1)
    registry = FlowRegistry(tmp_path)
    registry.reload()
    task = asyncio.create_task(registry.watch(clock, interval=2.0))
    try:
        write(tmp_path / "main.yaml", V2)
        for _ in range(50):
            await clock.advance(2.0)
            await asyncio.sleep(0.01)
            if say_text(registry) == "Version two.":
                break
        assert say_text(registry) == "Version two."
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_call_in_progress_finishes_on_its_version_while_new_calls_get_the_edit(kit, clock, tmp_path):
    menu = """\
start: m
prompts: {p: "Press 1."}
nodes:
  m: {kind: menu, prompt: p, options: [{dtmf: 1, next: q}]}
  q: {kind: queue, queue: old-queue}
"""
    write(tmp_path / "main.yaml", menu)
    registry = FlowRegistry(tmp_path)
    registry.reload()
    runner = kit.runner(clock)
    first = kit.channel(kit.Press("1"))
    gate = asyncio.Event()
    original = first.stream_file

    async def waits_for_the_edit(filename, escape_digits=""):
        await gate.wait()
        return await original(filename, escape_digits)

    first.stream_file = waits_for_the_edit  # type: ignore[method-assign]
    running = asyncio.create_task(runner.run(first, registry.snapshot(), "main"))
    await asyncio.sleep(0.01)
    write(tmp_path / "main.yaml", menu.replace("old-queue", "new-queue"))
    assert registry.reload().loaded == ("main",)
    await runner.run(kit.channel(kit.Press("1")), registry.snapshot(), "main")
    gate.set()
    await running
    assert [r.queue for r in kit.queue.requests] == ["new-queue", "old-queue"]
