"""The IVR's command-line verbs: ``switchboard flows check`` and ``switchboard prompts build``."""

from __future__ import annotations

import argparse
from pathlib import Path

from ivr.flows.check import check_paths
from ivr.flows.problems import format_problem
from ivr.prompts import build_prompts
from switchboard.settings import Settings


def add_ivr_parsers(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Register ``flows`` and ``prompts`` on the ``switchboard`` parser."""
    flows = commands.add_parser("flows", parents=[common], help="call flows").add_subparsers(
        dest="flows_command", metavar="FLOWS_COMMAND", required=True
    )
    check = flows.add_parser(
        "check", parents=[common], help="validate flow files: every problem as file:line: reason"
    )
    check.add_argument("paths", nargs="*", type=Path, help="files or directories (default: ivr.flows_dir)")
    _add_sounds_option(check)
    prompts = commands.add_parser("prompts", parents=[common], help="prompt audio").add_subparsers(
        dest="prompts_command", metavar="PROMPTS_COMMAND", required=True
    )
    build = prompts.add_parser(
        "build", parents=[common], help="render text prompts to 8 kHz WAV with espeak-ng (recordings win)"
    )
    build.add_argument("--force", action="store_true", help="render again even when unchanged")
    build.add_argument("--prune", action="store_true", help="delete renderings no flow uses any more")
    _add_sounds_option(build)


def _add_sounds_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sounds",
        action="append",
        type=Path,
        default=[],
        metavar="DIR",
        help="directory of recorded prompts",
    )


def run_ivr_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run ``flows check`` or ``prompts build``; exit code 1 when something is wrong."""
    if args.command == "flows":
        problems = check_paths(args.paths or [settings.ivr.flows_dir], recordings_dirs=args.sounds)
        for problem in problems:
            print(format_problem(problem))
        print(f"{len(problems)} problem(s)" if problems else "flows OK")
        return 1 if problems else 0
    report = build_prompts(
        settings.ivr.flows_dir, settings.ivr.sounds_dir, voice=settings.speech.prompt_voice,
        speed=settings.speech.prompt_speed, recordings_dirs=args.sounds, force=args.force, prune=args.prune,
    )  # fmt: skip
    print(report.summary())
    return 0 if report.ok else 1
