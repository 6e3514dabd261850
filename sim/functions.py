"""Dialplan functions and built-in variables the emulator understands (read, and write where Asterisk can)."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from sim.channels import STATE_DESC, Channel, Party
from sim.expressions import is_true, split_args

if TYPE_CHECKING:
    from sim.pbx import Pbx

_CALL = re.compile(r"^([A-Za-z_][\w]*)\((.*)\)$", re.DOTALL)


def parse_call(text: str) -> tuple[str, str] | None:
    """``NAME(args)`` -> (``NAME``, ``args``), or None for a plain variable name."""
    match = _CALL.match(text.strip())
    return (match.group(1).upper(), match.group(2)) if match else None


def _filter(allowed: str, value: str) -> str:
    chars: set[str] = set()
    i = 0
    while i < len(allowed):
        if i + 2 < len(allowed) and allowed[i + 1] == "-":
            lo, hi = ord(allowed[i]), ord(allowed[i + 2])
            chars.update(chr(c) for c in range(min(lo, hi), max(lo, hi) + 1))
            i += 3
        else:
            chars.add(allowed[i])
            i += 1
    return "".join(c for c in value if c in chars)


def _party_read(party: Party, what: str) -> str | None:
    what = what.strip().lower()
    if what in ("num", "number", "ani"):
        return party.number
    if what == "name":
        return party.name
    if what == "all":
        if party.number is None and party.name is None:
            return None
        name = party.name or ""
        return f'"{name}" <{party.number or ""}>'
    return None


def read_function(pbx: Pbx, ch: Channel | None, name: str, args: str) -> str | None:
    """Value of ``NAME(args)``; None when unknown or unset."""
    if name == "CALLERID":
        return None if ch is None else _party_read(ch.caller, args)
    if name == "CONNECTEDLINE":
        return None if ch is None else _party_read(ch.connected, args)
    if name == "CHANNEL":
        if ch is None:
            return None
        return {
            "name": ch.name,
            "state": STATE_DESC[ch.state],
            "uniqueid": ch.uniqueid,
            "linkedid": ch.linkedid,
            "language": ch.language,
            "context": ch.context,
            "exten": ch.exten,
            "channeltype": ch.tech,
            "endpoint": ch.endpoint or "",
        }.get(args.strip().lower())
    if name == "GLOBAL":
        return pbx.globals.get(args.strip())
    if name == "DB":
        return pbx.astdb.get(args.strip())
    if name == "DB_EXISTS":
        return "1" if args.strip() in pbx.astdb else "0"
    parts = split_args(args, limit=2) if name == "FILTER" else split_args(args)
    if name == "FILTER":
        return _filter(parts[0] if parts else "", parts[1] if len(parts) > 1 else "")
    if name == "LEN":
        return str(len(args))
    if name == "ISNULL":
        return "1" if args == "" else "0"
    if name == "EXISTS":
        return "0" if args == "" else "1"
    if name in ("TOUPPER", "TOLOWER"):
        return args.upper() if name == "TOUPPER" else args.lower()
    if name == "IF":
        cond, _, rest = args.partition("?")
        yes, _, no = rest.partition(":")
        return yes if is_true(cond) else no
    if name == "CUT":
        variable = pbx.get_var(ch, parts[0]) if parts else None
        delim = parts[1] if len(parts) > 1 and parts[1] else "-"
        field = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else 1
        pieces = (variable or "").split(delim)
        return pieces[field - 1] if 0 < field <= len(pieces) else ""
    if name == "STRFTIME":
        epoch = float(parts[0]) if parts and parts[0] else pbx.clock.now().timestamp()
        fmt = parts[2] if len(parts) > 2 and parts[2] else "%a %b %d %H:%M:%S %Z %Y"
        return time.strftime(fmt, time.gmtime(epoch))
    return None


def write_function(pbx: Pbx, ch: Channel | None, name: str, args: str, value: str) -> bool:
    """Apply ``Set(NAME(args)=value)``; False when the function cannot be written."""
    if name in ("CALLERID", "CONNECTEDLINE") and ch is not None:
        party = (ch.caller if name == "CALLERID" else ch.connected).copy()
        what = args.strip().lower()
        if what in ("num", "number"):
            party.number = value
        elif what == "name":
            party.name = value
        elif what == "all":
            match = re.match(r'^\s*"?([^"<]*)"?\s*<([^>]*)>\s*$', value)
            if match:
                party.name, party.number = match.group(1).strip(), match.group(2).strip()
            else:
                party.number = value
        else:
            return False
        if name == "CALLERID":
            pbx.set_caller(ch, party)
        else:
            pbx.set_connected(ch, party)
        return True
    if name == "GLOBAL":
        pbx.set_var(None, args.strip(), value)
        return True
    if name == "DB":
        pbx.astdb[args.strip()] = value
        return True
    return False


def builtin_variable(pbx: Pbx, ch: Channel | None, name: str) -> str | None:
    """Variables Asterisk computes rather than stores (EXTEN, UNIQUEID, EPOCH ...)."""
    if name == "EPOCH":
        return str(int(pbx.clock.now().timestamp()))
    if ch is None:
        return None
    return {
        "EXTEN": ch.exten,
        "CONTEXT": ch.context,
        "PRIORITY": str(ch.priority),
        "UNIQUEID": ch.uniqueid,
        "CHANNEL": ch.name,
        "HANGUPCAUSE": str(ch.hangupcause),
        "LANGUAGE": ch.language,
        "ACCOUNTCODE": ch.accountcode,
        "DNID": ch.dnid,
    }.get(name)
