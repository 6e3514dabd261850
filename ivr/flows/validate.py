"""Graph checks on a schema-valid flow: unknown and unreachable nodes, loops with no exit, missing prompts."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import phonenumbers

from ivr.flows.loader import ParsedFlow
from ivr.flows.model import (
    AskNode,
    CallbackNode,
    CollectNode,
    ConditionNode,
    FlowSpec,
    GotoNode,
    MenuNode,
    PlayNode,
    QueueNode,
    ScriptNode,
    SetNode,
    SubflowNode,
    TransferNode,
)
from ivr.flows.problems import FlowProblem

RecordingExists = Callable[[str], bool]
SOUND_EXTENSIONS = ("wav", "WAV", "gsm", "ulaw", "alaw", "sln", "sln16", "g722", "g729")


@dataclass(frozen=True)
class Edge:
    """A way out of a node: ``label`` names it in messages, ``path`` locates it in the file."""

    label: str
    target: str
    path: tuple[str | int, ...]


def node_edges(node_id: str, node: object) -> list[Edge]:
    """Every node this node can continue to (sub-flows into other files are not edges)."""
    base: tuple[str | int, ...] = ("nodes", node_id)
    out: list[Edge] = []

    def add(label: str, target: str | None, *path: str | int) -> None:
        if target is not None:
            out.append(Edge(label, target, (*base, *path)))

    if isinstance(node, (PlayNode, SetNode, CollectNode)):
        add("next", node.next, "next")
    if isinstance(node, MenuNode):
        for i, option in enumerate(node.options):
            label = f"option {option.dtmf}" if option.dtmf else f"option '{option.say[0]}'"
            add(label, option.next, "options", i, "next")
        add("on_fail", node.on_fail, "on_fail")
    elif isinstance(node, CollectNode):
        add("on_fail", node.on_fail, "on_fail")
    elif isinstance(node, AskNode):
        for i, intent in enumerate(node.intents):
            add(f"intent '{intent.name}'", intent.next, "intents", i, "next")
        add("fallback", node.fallback, "fallback")
    elif isinstance(node, ScriptNode):
        add("resolved", node.resolved, "resolved")
        add("unresolved", node.unresolved, "unresolved")
        add("repeat", node.repeat, "repeat")
    elif isinstance(node, ConditionNode):
        add("then", node.then, "then")
        add("else", node.else_, "else")
    elif isinstance(node, (TransferNode, CallbackNode)):
        add("on_fail", node.on_fail, "on_fail")
    elif isinstance(node, GotoNode):
        add("target", node.target, "target")
    elif isinstance(node, SubflowNode):
        add("next", node.next, "next")
    return out


def exits_call(node: object) -> bool:
    """True when the node can end the IVR itself (hand-off, hang-up, or an implicit default-queue exit)."""
    kind = getattr(node, "kind", "")
    if kind in ("queue", "transfer", "callback", "hangup", "return", "subflow"):
        return True
    # a menu or collect that gives up without on_fail hands the call to the default queue
    return isinstance(node, (MenuNode, CollectNode)) and node.on_fail is None


def prompt_refs(spec: FlowSpec) -> list[tuple[str, tuple[str | int, ...]]]:
    """Every prompt key the flow plays, with where it is referenced."""
    refs: list[tuple[str, tuple[str | int, ...]]] = []
    d = spec.defaults
    for field in ("invalid_prompt", "timeout_prompt", "keypad_prompt", "reprompt"):
        key = getattr(d, field)
        if key is not None:
            refs.append((key, ("defaults", field)))
    if spec.apology is not None:
        refs.append((spec.apology, ("apology",)))
    for node_id, node in spec.nodes.items():
        base = ("nodes", node_id)
        if isinstance(node, PlayNode):
            refs.extend((k, (*base, "prompt")) for k in node.prompts)
            continue
        for field in ("prompt", "invalid_prompt", "timeout_prompt", "keypad_prompt", "reprompt"):
            key = getattr(node, field, None)
            if isinstance(key, str):
                refs.append((key, (*base, field)))
        if isinstance(node, ScriptNode):
            for i, step in enumerate(node.steps):
                refs.append((step.prompt, (*base, "steps", i, "prompt")))
                refs.append((step.check, (*base, "steps", i, "check")))
    return refs


def recording_lookup(dirs: Iterable[Path], language: str = "en") -> RecordingExists | None:
    """A test for 'a recorded sound of this name exists' in any of ``dirs`` (None when no dir is given)."""
    roots = [Path(d) for d in dirs]
    if not roots:
        return None

    def exists(name: str) -> bool:
        for root in roots:
            for base in (root / language / name, root / name):
                if any(base.with_name(f"{base.name}.{ext}").is_file() for ext in SOUND_EXTENSIONS):
                    return True
        return False

    return exists


def check_flow(
    parsed: ParsedFlow,
    *,
    recording_exists: RecordingExists | None = None,
    known_flows: Collection[str] | None = None,
) -> list[FlowProblem]:
    """All graph and reference problems of one flow (an empty list means it may run)."""
    flow = parsed.flow
    spec = flow.spec
    shown = str(flow.path)
    problems: list[FlowProblem] = []

    def report(path: tuple[str | int, ...], reason: str) -> None:
        problems.append(FlowProblem(shown, parsed.lines.line_of(path), reason))

    nodes = spec.nodes
    if spec.start not in nodes:
        report(("start",), f"start points to unknown node '{spec.start}'")

    graph: dict[str, list[str]] = {}
    for node_id, node in nodes.items():
        targets: list[str] = []
        for edge in node_edges(node_id, node):
            if edge.target in nodes:
                targets.append(edge.target)
            elif edge.label.startswith("option"):
                report(
                    edge.path,
                    f"menu '{node_id}' {edge.label} points nowhere: there is no node '{edge.target}'",
                )
            else:
                report(edge.path, f"node '{node_id}' {edge.label}: unknown node '{edge.target}'")
        graph[node_id] = targets

    reachable = _reachable(graph, [spec.start] if spec.start in nodes else [])
    for node_id in nodes:
        if node_id not in reachable and spec.start in nodes:
            report(("nodes", node_id), f"node '{node_id}' is unreachable from start '{spec.start}'")

    _check_loops(spec, graph, reachable, report)
    _check_prompts(spec, recording_exists, report)
    _check_names(spec, known_flows, flow.name, report)
    problems.sort(key=lambda p: (p.line or 0, p.reason))
    return problems


def _reachable(graph: Mapping[str, list[str]], starts: list[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(starts)
    while todo:
        node = todo.pop()
        if node in seen:
            continue
        seen.add(node)
        todo.extend(graph.get(node, []))
    return seen


def _check_loops(
    spec: FlowSpec,
    graph: Mapping[str, list[str]],
    reachable: set[str],
    report: Callable[[tuple[str | int, ...], str], None],
) -> None:
    reverse: dict[str, list[str]] = {n: [] for n in graph}
    for src, targets in graph.items():
        for dst in targets:
            reverse[dst].append(src)
    can_exit = _reachable(reverse, [n for n, node in spec.nodes.items() if exits_call(node)])
    stuck = {n for n in reachable if n not in can_exit}
    for component in _cycles(graph, stuck):
        ordered = [n for n in spec.nodes if n in component]
        shown = " -> ".join([*ordered, ordered[0]])
        report(
            ("nodes", ordered[0]),
            f"loop with no exit: {shown} never reaches a queue, transfer, callback or hang-up",
        )


def _cycles(graph: Mapping[str, list[str]], within: set[str]) -> list[set[str]]:
    """Strongly connected components inside ``within`` that contain a cycle (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[set[str]] = []
    counter = 0
    for root in sorted(within):
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            succ = [s for s in graph.get(node, []) if s in within]
            if i < len(succ):
                work.append((node, i + 1))
                nxt = succ[i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                comp: set[str] = set()
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    comp.add(top)
                    if top == node:
                        break
                if len(comp) > 1 or node in graph.get(node, []):
                    found.append(comp)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return found


def _check_prompts(
    spec: FlowSpec,
    recording_exists: RecordingExists | None,
    report: Callable[[tuple[str | int, ...], str], None],
) -> None:
    for key, pdef in spec.prompts.items():
        if (
            pdef.say is None
            and pdef.file is not None
            and recording_exists
            and not recording_exists(pdef.file)
        ):
            report(("prompts", key), f"missing prompt '{key}': no recording '{pdef.file}' and no say: text")
    for key, path in prompt_refs(spec):
        if key in spec.prompts:
            continue
        if recording_exists is not None and recording_exists(key):
            continue
        report(path, f"missing prompt '{key}': not under prompts: and no recording by that name")


def _check_names(
    spec: FlowSpec,
    known_flows: Collection[str] | None,
    own_name: str,
    report: Callable[[tuple[str | int, ...], str], None],
) -> None:
    for name, numbers in spec.vip_lists.items():
        for i, number in enumerate(numbers):
            if not _plausible_number(number):
                report(("vip_lists", name, i), f"VIP list '{name}': '{number}' is not a phone number")
    for node_id, node in spec.nodes.items():
        base = ("nodes", node_id)
        if isinstance(node, ConditionNode):
            for hours in node.if_.names("open"):
                if hours not in spec.hours:
                    report(
                        (*base, "if"),
                        f"node '{node_id}': unknown business hours '{hours}' (define it under hours:)",
                    )
            for vip in node.if_.names("vip"):
                if vip not in spec.vip_lists:
                    report(
                        (*base, "if"),
                        f"node '{node_id}': unknown VIP list '{vip}' (define it under vip_lists:)",
                    )
        elif isinstance(node, MenuNode):
            _check_menu(node_id, node, report)
        elif isinstance(node, ScriptNode):
            overlap = {p.casefold() for p in node.yes_say} & {p.casefold() for p in node.no_say}
            if overlap:
                report(base, f"script '{node_id}': phrase '{sorted(overlap)[0]}' means both yes and no")
        elif isinstance(node, SubflowNode):
            if node.flow == own_name:
                report((*base, "flow"), f"node '{node_id}': a flow cannot call itself as a sub-flow")
            elif known_flows is not None and node.flow not in known_flows:
                report((*base, "flow"), f"node '{node_id}': sub-flow '{node.flow}' not found")
        elif isinstance(node, QueueNode) and node.queue is None and spec.defaults.queue is None:
            pass  # the site's default queue applies


def _check_menu(node_id: str, node: MenuNode, report: Callable[[tuple[str | int, ...], str], None]) -> None:
    digits: dict[str, int] = {}
    phrases: dict[str, int] = {}
    for i, option in enumerate(node.options):
        path = ("nodes", node_id, "options", i)
        if option.dtmf is not None:
            if option.dtmf in digits:
                report(path, f"menu '{node_id}': key {option.dtmf} is used by two options")
            digits[option.dtmf] = i
        for phrase in option.say:
            key = " ".join(phrase.casefold().split())
            if key in phrases and phrases[key] != i:
                report(path, f"menu '{node_id}': phrase '{phrase}' is used by two options")
            phrases[key] = i


def _plausible_number(number: str) -> bool:
    try:
        parsed = phonenumbers.parse(number, "US")
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_possible_number(parsed)


def check_subflow_cycles(flows: Mapping[str, ParsedFlow]) -> list[FlowProblem]:
    """Flows that call each other round in a circle (main -> support -> main)."""
    calls: dict[str, list[tuple[str, str]]] = {}
    for name, parsed in flows.items():
        calls[name] = [
            (node.flow, node_id)
            for node_id, node in parsed.flow.spec.nodes.items()
            if isinstance(node, SubflowNode) and node.flow in flows and node.flow != name
        ]
    graph = {name: [target for target, _ in edges] for name, edges in calls.items()}
    problems: list[FlowProblem] = []
    for component in _cycles(graph, set(graph)):
        ring = sorted(component)
        for name in ring:
            for target, node_id in calls[name]:
                if target in component:
                    parsed = flows[name]
                    line = parsed.lines.line_of(("nodes", node_id, "flow"))
                    problems.append(
                        FlowProblem(
                            str(parsed.flow.path),
                            line,
                            f"sub-flow cycle: '{name}' calls '{target}', which leads back to '{name}'",
                        )
                    )
    return problems
