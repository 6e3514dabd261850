"""The admin pages for agents, skills and regions, queues and absences, driven like a browser (httpx).

Each form: it saves and redirects with a message, a refused form comes back with the error and what was
typed (nothing saved), non-admins get 403, a form without the CSRF token is refused, hostile text renders
as text. Runs on SQLite and PostgreSQL with the real Redis.
"""

from __future__ import annotations

from datetime import UTC, datetime

from markupsafe import escape

from acd.codec import config_to_dict
from tests.web.admin.conftest import AdminKit

HOSTILE = "<script>alert(1)</script>"


def new_agent(**changes: object) -> list[tuple[str, str]]:
    """The agent form as a browser posts it (skill selects, region boxes, substitute rows in order)."""
    fields: dict[str, object] = {
        "id": "a4",
        "name": "Dee",
        "endpoint": "PJSIP/104",
        "skill-billing": "",
        "skill-sales": "4",
        "skill-support": "2",
        "region": ["us", "apac"],
        "languages": "en, ko",
        "timezone": "Asia/Seoul",
        "substitute": ["a3", "a1", ""],
        **changes,
    }
    return [(k, v) for k, vs in fields.items() for v in (vs if isinstance(vs, list) else [vs])]  # type: ignore[misc]


def queue_form(**changes: object) -> list[tuple[str, str]]:
    fields: dict[str, object] = {
        "name": "vip-sales",
        "skill": "sales",
        "service_level_percent": "90",
        "service_level_seconds": "10",
        "wrap_up_seconds": "5.5",
        "ring_timeout_seconds": "25",
        "max_attempts": "4",
        "strategy": "longest-idle",
        "min_proficiency": "3",
        "announce_every_seconds": "45",
        "step_after": ["60", "20", ""],
        "step_action": ["overflow", "min-proficiency", ""],
        "step_value": ["sales", "1", ""],
        **changes,
    }
    return [(k, v) for k, vs in fields.items() for v in (vs if isinstance(vs, list) else [vs])]  # type: ignore[misc]


# ---- agents ----


async def test_admin_adds_an_agent_with_skills_regions_and_ordered_substitutes(admin_kit: AdminKit) -> None:
    answer = await admin_kit.post("/admin/agents", new_agent())

    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/admin/agents?done=agent-added"
    agent = (await admin_kit.config()).agents["a4"]
    assert (agent.name, agent.endpoint, agent.timezone) == ("Dee", "PJSIP/104", "Asia/Seoul")
    assert {s.skill: s.proficiency for s in agent.skills} == {"sales": 4, "support": 2}
    assert agent.regions == {"us", "apac"} and agent.languages == {"en", "ko"}
    assert agent.substitutes == ("a3", "a1")  # in the order of the rows
    assert "a4" in (await admin_kit.acd.service.config()).agents_with_skill("sales")  # published
    listed = await admin_kit.get(answer.headers["location"])
    assert "Agent added." in listed.text
    assert 'data-agent="a4"' in listed.text and "sales 4, support 2" in listed.text


async def test_agent_form_with_a_bad_endpoint_comes_back_as_typed_and_saves_nothing(
    admin_kit: AdminKit,
) -> None:
    before = config_to_dict(await admin_kit.config())

    answer = await admin_kit.post("/admin/agents", new_agent(endpoint="PJSIP/104&PJSIP/105", name="Zed Q"))

    assert answer.status_code == 400
    assert "Endpoint: one device such as PJSIP/101." in answer.text
    assert 'value="Zed Q"' in answer.text and 'value="PJSIP/104&amp;PJSIP/105"' in answer.text
    assert '<option value="4" selected>' in answer.text  # the sales proficiency as chosen
    assert 'value="apac" checked' in answer.text
    assert config_to_dict(await admin_kit.config()) == before


async def test_agent_refusals_from_the_routing_model_are_sentences_without_api_hints(
    admin_kit: AdminKit,
) -> None:
    taken = await admin_kit.post("/admin/agents", new_agent(id="a1"))
    assert taken.status_code == 409
    assert "Agent &#39;a1&#39; already exists." in taken.text and "/api/" not in taken.text
    shared = await admin_kit.post("/admin/agents", new_agent(endpoint="PJSIP/101"))
    assert shared.status_code == 400
    assert "share endpoint PJSIP/101" in shared.text
    zone = await admin_kit.post("/admin/agents", new_agent(timezone="Mars/Olympus"))
    assert zone.status_code == 400 and "unknown time zone" in zone.text
    assert 'value="Mars/Olympus"' in zone.text
    assert "a4" not in (await admin_kit.config()).agents


async def test_admin_edits_an_agent_and_must_confirm_a_deletion(admin_kit: AdminKit) -> None:
    form = await admin_kit.get("/admin/agents/a2/edit")
    assert form.status_code == 200 and 'value="PJSIP/102"' in form.text
    saved = await admin_kit.post(
        "/admin/agents/a2/edit",
        new_agent(id="ignored", endpoint="PJSIP/112", substitute=["a3"], **{"skill-billing": "1"}),
    )
    assert saved.status_code == 303 and saved.headers["location"] == "/admin/agents/a2/edit?done=agent-saved"
    a2 = (await admin_kit.config()).agents["a2"]
    assert (a2.endpoint, a2.proficiency("billing"), a2.substitutes) == ("PJSIP/112", 1, ("a3",))
    assert "ignored" not in (await admin_kit.config()).agents

    unconfirmed = await admin_kit.post("/admin/agents/a3/delete", {})
    assert unconfirmed.status_code == 400 and "Tick the box" in unconfirmed.text
    # a1 and a2 name a3 as a substitute: deleting it would leave them dangling
    referenced = await admin_kit.post("/admin/agents/a3/delete", {"confirm": "yes"})
    assert referenced.status_code == 409 and "substitute &#39;a3&#39; is not an agent" in referenced.text
    assert "a3" in (await admin_kit.config()).agents
    await admin_kit.post("/admin/agents", new_agent(substitute=[]))
    deleted = await admin_kit.post("/admin/agents/a4/delete", {"confirm": "yes"})
    assert deleted.headers["location"] == "/admin/agents?done=agent-deleted"
    assert "a4" not in (await admin_kit.config()).agents
    assert (await admin_kit.get("/admin/agents/a4/edit")).status_code == 404


async def test_a_hostile_agent_name_renders_as_text(admin_kit: AdminKit) -> None:
    added = await admin_kit.post("/admin/agents", new_agent(name=HOSTILE))
    assert added.status_code == 303
    for path in ("/admin/agents", "/admin/agents/a4/edit", "/admin/agents/a1/edit", "/admin/absences"):
        page = await admin_kit.get(path)
        assert HOSTILE not in page.text, path
        assert escape(HOSTILE) in page.text, path


# ---- skills and regions ----


async def test_admin_declares_and_deletes_skills_and_regions_but_not_ones_in_use(admin_kit: AdminKit) -> None:
    added = await admin_kit.post("/admin/skills", {"name": "returns"})
    assert added.headers["location"] == "/admin/skills?done=skill-added"
    assert "returns" in (await admin_kit.config()).skills
    again = await admin_kit.post("/admin/skills", {"name": "returns"})
    assert again.status_code == 409 and "already exists" in again.text
    bad = await admin_kit.post("/admin/regions", {"name": "Latin America"})
    assert bad.status_code == 400 and 'value="Latin America"' in bad.text
    assert (await admin_kit.post("/admin/regions", {"name": "latam"})).status_code == 303
    assert "latam" in (await admin_kit.config()).regions

    in_use = await admin_kit.post("/admin/skills/sales/delete", {})
    assert in_use.status_code == 409 and "unknown skill &#39;sales&#39;" in in_use.text
    assert "sales" in (await admin_kit.config()).skills
    gone = await admin_kit.post("/admin/skills/returns/delete", {})
    assert gone.headers["location"] == "/admin/skills?done=skill-deleted"
    assert "returns" not in (await admin_kit.config()).skills
    page = await admin_kit.get("/admin/skills?done=skill-deleted")
    assert "Skill deleted." in page.text and 'data-name="latam"' in page.text


# ---- queues ----


async def test_admin_adds_a_queue_with_relaxation_steps_in_time_order(admin_kit: AdminKit) -> None:
    answer = await admin_kit.post("/admin/queues", queue_form())

    assert answer.status_code == 303, answer.text
    queue = (await admin_kit.config()).queues["vip-sales"]
    assert (queue.skill, queue.service_level_percent, queue.service_level_seconds) == ("sales", 90.0, 10.0)
    assert (queue.wrap_up_seconds, queue.ring_timeout_seconds, queue.max_attempts) == (5.5, 25, 4)
    assert (queue.strategy.value, queue.min_proficiency, queue.announce_every_seconds) == (
        "longest-idle",
        3,
        45,
    )
    assert [(s.after_seconds, s.action.value, s.value) for s in queue.steps] == [
        (20.0, "min-proficiency", "1"),
        (60.0, "overflow", "sales"),
    ]
    listed = await admin_kit.get("/admin/queues?done=queue-added")
    assert "Queue added." in listed.text
    assert "after 20 s: min-proficiency 1</li><li>after 60 s: overflow sales" in listed.text


async def test_queue_form_errors_keep_the_input_and_save_nothing(admin_kit: AdminKit) -> None:
    before = config_to_dict(await admin_kit.config())
    cases = [
        (queue_form(ring_timeout_seconds="soon"), "Ring timeout seconds: enter a whole number."),
        (
            queue_form(ring_timeout_seconds="500"),
            "Ring timeout seconds: input should be less than or equal to 300.",
        ),
        (queue_form(step_value=["nowhere", "1", ""]), "overflow target &#39;nowhere&#39; is not a queue"),
        (
            queue_form(step_value=["sales", "9", ""]),
            "Min-proficiency step value must be an integer from 1 to 5",
        ),
        (queue_form(step_action=["", "min-proficiency", ""]), "Relaxation step 1: choose an action."),
        (queue_form(name="VIP Sales"), "Queue name: lower-case letters"),
        (
            queue_form(skill="cooking"),
            "Unknown skill &#39;cooking&#39; (declared skills: billing, sales, support).</p>",
        ),
    ]
    for fields, message in cases:
        answer = await admin_kit.post("/admin/queues", fields)
        assert answer.status_code == 400, (message, answer.text[:300])
        assert message in answer.text, message
        assert 'value="5.5"' in answer.text  # what was typed comes back
    kept = await admin_kit.post("/admin/queues", queue_form(step_value=["nowhere", "1", ""]))
    assert 'value="nowhere"' in kept.text and '<option value="overflow" selected>' in kept.text
    assert config_to_dict(await admin_kit.config()) == before


async def test_admin_edits_and_deletes_a_queue(admin_kit: AdminKit) -> None:
    page = await admin_kit.get("/admin/queues/billing/edit")
    assert page.status_code == 200 and 'value="15"' in page.text  # ring timeout
    edited = queue_form(
        name="ignored", skill="billing", step_after=["", ""], step_action=["", ""], step_value=["", ""]
    )
    saved = await admin_kit.post("/admin/queues/billing/edit", edited)
    assert saved.headers["location"] == "/admin/queues/billing/edit?done=queue-saved"
    billing = (await admin_kit.config()).queues["billing"]
    assert (billing.ring_timeout_seconds, billing.steps) == (25, ())
    assert "ignored" not in (await admin_kit.config()).queues
    assert (await admin_kit.post("/admin/queues/billing/delete", {})).status_code == 400
    deleted = await admin_kit.post("/admin/queues/billing/delete", {"confirm": "yes"})
    assert deleted.headers["location"] == "/admin/queues?done=queue-deleted"
    assert "billing" not in (await admin_kit.config()).queues
    assert (await admin_kit.get("/admin/queues/billing/edit")).status_code == 404


# ---- absences ----


async def test_absence_times_are_read_in_the_viewers_zone_and_listed_until_they_end(
    admin_kit: AdminKit,
) -> None:
    fields = {
        "agent_id": "a2",
        "kind": "training",
        "starts": "2026-02-01T09:00",
        "ends": "2026-02-01T18:30",
        "note": "product course",
        "tz": "Asia/Seoul",
    }
    answer = await admin_kit.post("/admin/absences", fields)

    assert answer.headers["location"] == "/admin/absences?done=absence-added"
    (absence,) = (await admin_kit.config()).absences
    assert (absence.agent_id, absence.kind.value, absence.note) == ("a2", "training", "product course")
    assert absence.starts_at == datetime(2026, 2, 1, 0, 0, tzinfo=UTC)  # 09:00 in Seoul
    assert absence.ends_at == datetime(2026, 2, 1, 9, 30, tzinfo=UTC)
    page = await admin_kit.get("/admin/absences?done=absence-added")
    assert "Absence planned." in page.text
    assert '<time datetime="2026-02-01T00:00:00Z"' in page.text  # the browser shows it in its own zone
    assert f'data-absence="{absence.id}"' in page.text and "upcoming" in page.text

    # once it is over it leaves the list (the record stays for history until deleted)
    await admin_kit.acd.clock.advance((absence.ends_at - admin_kit.acd.clock.now()).total_seconds() + 1)
    assert f'data-absence="{absence.id}"' not in (await admin_kit.get("/admin/absences")).text


async def test_absence_form_errors_keep_the_input_and_the_zone(admin_kit: AdminKit) -> None:
    fields = {"agent_id": "a1", "kind": "sick", "starts": "2026-03-02T10:00", "ends": "2026-03-02T09:00"}
    backwards = await admin_kit.post("/admin/absences", {**fields, "tz": "Europe/Berlin"})
    assert backwards.status_code == 400 and "Until must be later than From." in backwards.text
    assert 'value="2026-03-02T10:00"' in backwards.text and "Europe/Berlin" in backwards.text
    assert '<option value="sick" selected>' in backwards.text
    gap = await admin_kit.post(
        "/admin/absences",
        {**fields, "starts": "2026-03-29T02:30", "ends": "2026-03-30T09:00", "tz": "Europe/Berlin"},
    )
    assert gap.status_code == 400 and "does not exist in Europe/Berlin" in gap.text
    nobody = await admin_kit.post("/admin/absences", {**fields, "agent_id": "a9", "ends": "2026-03-03T09:00"})
    assert nobody.status_code == 400 and "unknown agent &#39;a9&#39;" in nobody.text
    kind = await admin_kit.post("/admin/absences", {**fields, "kind": "party", "ends": "2026-03-03T09:00"})
    assert kind.status_code == 400 and "Kind:" in kind.text
    assert (await admin_kit.config()).absences == ()


async def test_admin_cancels_an_absence(admin_kit: AdminKit) -> None:
    fields = {
        "agent_id": "a1",
        "kind": "leave",
        "starts": "2026-01-05T00:00",
        "ends": "2026-01-09T00:00",
        "tz": "UTC",
        "note": HOSTILE,
    }
    await admin_kit.post("/admin/absences", fields)
    (absence,) = (await admin_kit.config()).absences
    page = await admin_kit.get("/admin/absences")
    assert ">now<" in page.text  # the clock is at 2026-01-05 09:00 UTC: under way
    assert HOSTILE not in page.text and escape(HOSTILE) in page.text  # the note is text
    cancelled = await admin_kit.post(f"/admin/absences/{absence.id}/delete", {})
    assert cancelled.headers["location"] == "/admin/absences?done=absence-deleted"
    assert (await admin_kit.config()).absences == ()
    again = await admin_kit.post(f"/admin/absences/{absence.id}/delete", {})
    assert again.status_code == 404 and "Unknown absence" in again.text


# ---- who may ----


FORMS = [
    ("/admin/agents", new_agent()),
    ("/admin/agents/a2/edit", new_agent()),
    ("/admin/agents/a3/delete", [("confirm", "yes")]),
    ("/admin/skills", [("name", "returns")]),
    ("/admin/regions", [("name", "latam")]),
    ("/admin/regions/apac/delete", []),
    ("/admin/queues", queue_form()),
    ("/admin/queues/sales/edit", queue_form()),
    ("/admin/queues/support/delete", [("confirm", "yes")]),
    (
        "/admin/absences",
        [("agent_id", "a1"), ("kind", "sick"), ("starts", "2026-02-01T09:00"), ("ends", "2026-02-02T09:00")],
    ),
]


async def test_only_admins_see_the_pages_and_forms_need_the_csrf_token(admin_kit: AdminKit) -> None:
    before = config_to_dict(await admin_kit.config())
    for who in ("supervisor1", "agent1"):
        for path in ("/admin/agents", "/admin/queues", "/admin/absences", "/admin/skills", "/admin/flows"):
            assert (await admin_kit.get(path, who=who)).status_code == 403, (who, path)
        for path, fields in FORMS:
            assert (await admin_kit.post(path, fields, who=who)).status_code == 403, (who, path)
    for path, fields in FORMS:
        assert (await admin_kit.post(path, fields, csrf=False)).status_code == 403, path
        forged = await admin_kit.post(path, [*fields, ("csrf_token", "forged")], csrf=False)
        assert forged.status_code == 403, path
    signed_out = await admin_kit.get("/admin/agents", who=None)
    assert signed_out.status_code == 303 and signed_out.headers["location"].startswith("/login?next=")
    assert config_to_dict(await admin_kit.config()) == before  # nothing of it was saved


async def test_admin_navigation_lists_the_admin_pages(admin_kit: AdminKit) -> None:
    page = await admin_kit.get("/admin/agents")
    nav = page.text[page.text.index('<nav aria-label="Main">') : page.text.index("</nav>")]
    labels = [label for label in ("Agents", "Queues", "Absences", "Flows") if f">{label}</a>" in nav]
    assert labels == ["Agents", "Queues", "Absences", "Flows"]
    assert nav.index(">Agents<") < nav.index(">Flows<")
    supervisor = await admin_kit.get("/admin/flows", who="supervisor1")
    assert ">Agents</a>" not in supervisor.text
