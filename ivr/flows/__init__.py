"""Call flows: the YAML flow language, its schema, the validator and the reloadable registry."""

from ivr.flows.check import check_paths, flow_files
from ivr.flows.loader import parse_flow_bytes, parse_flow_file
from ivr.flows.model import Flow, FlowSpec
from ivr.flows.problems import FlowFileError, FlowProblem, format_problem
from ivr.flows.registry import FlowRegistry, FlowSet, ReloadReport

__all__ = [
    "Flow",
    "FlowFileError",
    "FlowProblem",
    "FlowRegistry",
    "FlowSet",
    "FlowSpec",
    "ReloadReport",
    "check_paths",
    "flow_files",
    "format_problem",
    "parse_flow_bytes",
    "parse_flow_file",
]
