"""The published JSON Schema of flow files, generated from the flow models.

Regenerate the shipped copy with ``python -m ivr.flows.schema`` (a test fails while it is stale).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ivr.flows.model import FlowSpec

SCHEMA_PATH = Path(__file__).with_name("flow.schema.json")
SCHEMA_ID = "https://switchboard.invalid/schemas/flow.schema.json"


def flow_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) every flow file follows."""
    schema = FlowSpec.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **{k: v for k, v in schema.items() if k != "$schema"},
    }


def schema_text() -> str:
    """The schema as the text of the shipped file."""
    return json.dumps(flow_json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> int:
    SCHEMA_PATH.write_text(schema_text(), encoding="utf-8")
    print(f"wrote {SCHEMA_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
