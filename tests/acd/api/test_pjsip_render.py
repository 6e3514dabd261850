"""`switchboard asterisk pjsip`: one endpoint/auth/aor per agent, hashed secrets, kept unless rotated."""

from __future__ import annotations

import hashlib
import itertools
import stat
import subprocess
from pathlib import Path

import pytest

from acd.model import Agent, AgentSkill
from acd.pjsip_render import (
    HEADER,
    RenderOptions,
    digest_hash,
    hand_defined_endpoints,
    md5_cred,
    parse_rendered,
    render_agents,
    write_atomically,
)
from sim.pjsip import parse_pjsip_conf

SHIPPED_PJSIP = Path(__file__).resolve().parents[3] / "asterisk-conf" / "pjsip.conf"
AGENTS = [
    Agent("a1", "Ann Lee", "PJSIP/101", (AgentSkill("billing", 5),)),
    Agent("a2", 'Bo "The Closer"; <x>\nY', "PJSIP/102"),
    Agent("a3", "Cy", "SIP/103"),
    Agent("a4", "Dee", "PJSIP/104@carrier"),
]


def passwords() -> itertools.count:
    return itertools.count(1)


def fixed(prefix: str = "pw") -> object:
    counter = itertools.count(1)
    return lambda: f"{prefix}{next(counter):02d}-secret-value"


def sections(text: str) -> dict[str, dict[str, list[str]]]:
    """Section name (with its template) -> key -> values, read the way Asterisk reads a config file."""
    out: dict[str, dict[str, list[str]]] = {}
    current = ""
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].strip()
        if line.startswith("["):
            current = line
            out.setdefault(current, {})
        elif "=" in line:
            key, value = (p.strip() for p in line.split("=", 1))
            out[current].setdefault(key, []).append(value)
    return out


def coreutils(tool: str, text: str) -> str:
    """The hash as ``md5sum``/``sha256sum`` compute it: an implementation independent of ours."""
    done = subprocess.run([tool], input=text.encode(), capture_output=True, check=True)
    return done.stdout.decode().split()[0]


@pytest.mark.parametrize(
    ("user", "realm", "password"),
    [
        ("101", "switchboard", "s3cret"),
        ("myuser", "asterisk", "somepassword"),
        ("a-7", "sb.example", "p:w:d"),
    ],
)
def test_md5_cred_is_md5_of_user_colon_realm_colon_password(user: str, realm: str, password: str) -> None:
    assert md5_cred(user, realm, password) == coreutils("md5sum", f"{user}:{realm}:{password}")
    assert digest_hash("SHA-256", user, realm, password) == coreutils(
        "sha256sum", f"{user}:{realm}:{password}"
    )


def test_each_pjsip_agent_gets_endpoint_auth_and_aor_with_hashes_and_no_cleartext() -> None:
    rendered = render_agents(AGENTS, RenderOptions(realm="sb.example"), password_factory=fixed())
    text = rendered.text
    assert text.startswith(HEADER)
    got = sections(text)
    assert got["[101](sb-agent)"] == {
        "auth": ["101-auth"],
        "aors": ["101"],
        "callerid": ["Ann Lee <101>"],
    }
    assert "[101](sb-agent-aor)" in got and "[102](sb-agent-aor)" in got
    secrets = {s.agent_id: s for s in rendered.new_secrets}
    assert set(secrets) == {"a1", "a2"}
    auth = got["[101-auth](sb-agent-auth)"]
    pw = secrets["a1"].password
    assert auth["username"] == ["101"] and auth["realm"] == ["sb.example"]
    assert auth["password_digest"] == [
        "SHA-256:" + hashlib.sha256(f"101:sb.example:{pw}".encode()).hexdigest(),
        "MD5:" + hashlib.md5(f"101:sb.example:{pw}".encode()).hexdigest(),
    ]
    for s in rendered.new_secrets:
        assert s.password not in text  # only hashes are written
    assert "password =" not in text and "password=" not in text
    assert dict(rendered.skipped) == {
        "a3": "endpoint SIP/103 is not a local PJSIP endpoint",
        "a4": "endpoint PJSIP/104@carrier is not a local PJSIP endpoint",
    }


def test_display_names_cannot_inject_config_lines() -> None:
    text = render_agents(AGENTS, RenderOptions(), password_factory=fixed()).text
    callerid = sections(text)["[102](sb-agent)"]["callerid"]
    assert callerid == ["Bo The Closer xY <102>"]
    assert not any(line.startswith("Y") for line in text.splitlines())


def test_md5_cred_form_for_older_asterisk() -> None:
    rendered = render_agents(
        AGENTS[:1], RenderOptions(realm="r", digest="md5_cred"), password_factory=fixed()
    )
    auth = sections(rendered.text)["[101-auth](sb-agent-auth)"]
    assert auth["auth_type"] == ["md5"]
    assert auth["md5_cred"] == [hashlib.md5(f"101:r:{rendered.new_secrets[0].password}".encode()).hexdigest()]
    assert "password_digest" not in auth


def test_tls_transport_and_srtp_options_reach_every_endpoint() -> None:
    options = RenderOptions(transport="transport-tls", srtp=True)
    endpoint = sections(render_agents(AGENTS[:1], options, password_factory=fixed()).text)["[101](sb-agent)"]
    assert endpoint["transport"] == ["transport-tls"]
    assert endpoint["media_encryption"] == ["sdes"]


def test_existing_agents_keep_their_credentials_and_new_ones_get_a_secret() -> None:
    first = render_agents(AGENTS[:1], RenderOptions(), password_factory=fixed("old"))
    more = [*AGENTS[:1], Agent("a5", "Eve", "PJSIP/105")]
    second = render_agents(more, RenderOptions(), parse_rendered(first.text), password_factory=fixed("new"))
    assert second.kept == ["a1"]
    assert [(s.agent_id, s.why) for s in second.new_secrets] == [("a5", "new agent")]
    old_auth = sections(first.text)["[101-auth](sb-agent-auth)"]
    assert sections(second.text)["[101-auth](sb-agent-auth)"] == old_auth


@pytest.mark.parametrize(("rotate", "rotated"), [(True, {"a1", "a5"}), (["a5"], {"a5"}), (False, set())])
def test_rotation_gives_new_secrets_to_everyone_or_to_the_named_agents(
    rotate: object, rotated: set[str]
) -> None:
    agents = [*AGENTS[:1], Agent("a5", "Eve", "PJSIP/105")]
    first = render_agents(agents, RenderOptions(), password_factory=fixed("old"))
    second = render_agents(
        agents, RenderOptions(), parse_rendered(first.text), rotate=rotate, password_factory=fixed("new")
    )
    assert {s.agent_id for s in second.new_secrets} == rotated
    assert all(s.why == "rotated" for s in second.new_secrets)
    assert set(second.kept) == {"a1", "a5"} - rotated


def test_changing_the_realm_or_the_digest_form_needs_new_secrets() -> None:
    first = render_agents(AGENTS[:1], RenderOptions(realm="one", digest="md5_cred"), password_factory=fixed())
    existing = parse_rendered(first.text)
    realm = render_agents(
        AGENTS[:1], RenderOptions(realm="two", digest="md5_cred"), existing, password_factory=fixed()
    )
    assert [s.why for s in realm.new_secrets] == ["realm changed from 'one'"]
    form = render_agents(AGENTS[:1], RenderOptions(realm="one"), existing, password_factory=fixed())
    assert [s.why for s in form.new_secrets] == ["the stored hashes do not fit the digest form"]
    back = render_agents(
        AGENTS[:1], RenderOptions(realm="one", digest="md5_cred"), existing, password_factory=fixed()
    )
    assert back.kept == ["a1"]  # the MD5 hash alone serves the md5_cred form


def test_endpoints_defined_by_hand_in_pjsip_conf_are_skipped() -> None:
    by_hand = hand_defined_endpoints(SHIPPED_PJSIP.read_text())
    assert by_hand == {"101"}  # the shipped example; the templates do not count
    rendered = render_agents(AGENTS[:2], RenderOptions(), hand_defined=by_hand, password_factory=fixed())
    assert [a for a, _ in rendered.skipped] == ["a1"]
    assert "defined by hand in pjsip.conf" in rendered.skipped[0][1]
    assert "[101](sb-agent)" not in rendered.text


def test_rendered_file_reads_as_endpoints_with_the_shipped_templates() -> None:
    """The emulator's own pjsip.conf reader applies the shipped templates to the generated sections."""
    agents = [Agent("a1", "Ann", "PJSIP/201"), Agent("a2", "Bo", "PJSIP/202")]
    text = render_agents(agents, RenderOptions(), password_factory=fixed()).text
    endpoints = parse_pjsip_conf(SHIPPED_PJSIP.read_text() + "\n" + text)
    got = {e.name: (e.context, e.aors, e.auth, e.trunk) for e in endpoints}
    assert got["201"] == ("sb-agents", "201", "201-auth", False)
    assert got["202"] == ("sb-agents", "202", "202-auth", False)


def test_shipped_pjsip_conf_includes_the_generated_file_softly() -> None:
    lines = [line.strip() for line in SHIPPED_PJSIP.read_text().splitlines()]
    assert "#tryinclude pjsip_switchboard_agents.conf" in lines


def test_file_is_written_atomically_with_mode_0600(tmp_path: Path) -> None:
    target = tmp_path / "asterisk" / "pjsip_switchboard_agents.conf"
    write_atomically(target, "first\n")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    target.chmod(0o644)
    write_atomically(target, "second\n")
    assert target.read_text() == "second\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temporary file left behind
