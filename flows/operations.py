"""What an operator needs without the UI: alerts as Prefect automations, each cycle's last run, `pekppp status`.

Alerts are Prefect's own mechanism, declared here as code and applied when the deployments are
deployed (a build step of prefect.yaml calls `apply_automations_step`): one automation notifies
when a `nightly` or `rerun-cycle` run fails or crashes, one when no `nightly` run has completed
within `PEKPPP_NIGHTLY_OVERDUE_HOURS` (26). Both send to a notification block the operator
configures (`PEKPPP_ALERT_BLOCK`, default `custom-webhook/pekppp-alerts`; `pekppp alerts --webhook URL`
creates that one).

Each run also records, per cycle, what it did in `<warehouse>/_runs/<cycle>.json`, so `pekppp status`
can tell the last run's outcome with no server at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flows.settings import Places, known_cycles, load_methodology, setting
from flows.storage import write_bytes_atomic

ALERT_BLOCK_ENV = "PEKPPP_ALERT_BLOCK"
ALERT_BLOCK_DEFAULT = "custom-webhook/pekppp-alerts"
OVERDUE_ENV = "PEKPPP_NIGHTLY_OVERDUE_HOURS"
OVERDUE_HOURS_DEFAULT = 26.0
"""A nightly runs every 24 h; two more hours allow for a long run or a queued one before anyone is woken."""
WATCHED_FLOWS = ("nightly", "rerun-cycle")
FAILED_AUTOMATION = "pekppp: nightly or rerun-cycle run failed"
OVERDUE_AUTOMATION = "pekppp: no nightly run completed"
NIGHTLY_DEPLOYMENT = "nightly/nightly"
SCHEDULE_ZONE = ZoneInfo("Asia/Jakarta")


class OperationsError(RuntimeError):
    """Alerts cannot be set up (no server, no block); the message says what to do."""


# ---------------------------------------------------------------- alerts as Prefect automations


def overdue_after() -> timedelta:
    raw = setting(OVERDUE_ENV)
    try:
        hours = float(raw) if raw else OVERDUE_HOURS_DEFAULT
    except ValueError:
        raise OperationsError(f"{OVERDUE_ENV}={raw!r} is not a number of hours") from None
    if hours * 3600 < 10:  # Prefect refuses proactive windows under 10 s
        raise OperationsError(f"{OVERDUE_ENV}={raw!r}: the window must be at least 10 seconds")
    return timedelta(hours=hours)


def automations(block_document_id: Any, overdue: timedelta) -> list[Any]:
    """The two automations, as Prefect objects (not yet on a server)."""
    from prefect.events.actions import SendNotification
    from prefect.events.schemas.automations import AutomationCore as Automation
    from prefect.events.schemas.automations import EventTrigger, Posture

    watched = {"prefect.resource.role": "flow", "prefect.resource.name": list(WATCHED_FLOWS)}
    failed = Automation(
        name=FAILED_AUTOMATION,
        description="A nightly or rerun-cycle flow run of pekppp failed, crashed or timed out.",
        trigger=EventTrigger(
            expect={"prefect.flow-run.Failed", "prefect.flow-run.Crashed", "prefect.flow-run.TimedOut"},
            match={"prefect.resource.id": "prefect.flow-run.*"}, match_related=watched,
            posture=Posture.Reactive, threshold=1, within=timedelta(0)),
        actions=[SendNotification(
            block_document_id=block_document_id,
            subject="pekppp: {{ flow.name }} run {{ flow_run.name }} {{ flow_run.state.name }}",
            body=("pekppp flow {{ flow.name }}, run {{ flow_run.name }} ({{ flow_run.id }}) ended "
                  "{{ flow_run.state.name }}: {{ flow_run.state.message }}\n"
                  "Parameters: {{ flow_run.parameters }}\n"
                  "Check with `pekppp status`, or the run's logs and artifacts in Prefect."))])
    hours = f"{overdue.total_seconds() / 3600:g}"
    late = Automation(
        name=OVERDUE_AUTOMATION,
        description=f"No run of the nightly flow completed within {hours} hours.",
        trigger=EventTrigger(
            expect={"prefect.flow-run.Completed"},
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related={"prefect.resource.role": "flow", "prefect.resource.name": "nightly"},
            posture=Posture.Proactive, threshold=1, within=overdue),
        actions=[SendNotification(
            block_document_id=block_document_id,
            subject=f"pekppp: no nightly run completed in {hours} hours",
            body=(f"No run of the pekppp nightly flow has completed in the last {hours} hours: the 01:00 WIB "
                  "run did not happen, is still running, or failed. Check the worker "
                  "(`prefect worker start --pool pekppp-process`), the server's scheduler and `pekppp status`."))])
    return [failed, late]


def alert_block_id(client: Any, reference: str) -> Any:
    """The document id of the notification block `<block-type-slug>/<name>`."""
    from prefect.exceptions import ObjectNotFound

    slug, _, name = reference.partition("/")
    if not name:
        raise OperationsError(f"{ALERT_BLOCK_ENV}={reference!r} must be <block-type-slug>/<name>, "
                              f"e.g. {ALERT_BLOCK_DEFAULT}")
    try:
        return client.read_block_document_by_name(name=name, block_type_slug=slug).id
    except ObjectNotFound:
        raise OperationsError(f"no notification block {reference} on the Prefect server: failures would reach "
                              "nobody; create it with `pekppp alerts --webhook URL` (or any notification block "
                              f"in the UI, named in {ALERT_BLOCK_ENV})") from None


def apply_automations(block_reference: str | None = None) -> list[str]:
    """Create or replace the two automations on the configured server; returns their names.

    Automations are matched by name, so applying twice leaves exactly one of each.
    """
    from prefect.client.orchestration import get_client

    reference = block_reference or setting(ALERT_BLOCK_ENV) or ALERT_BLOCK_DEFAULT
    overdue = overdue_after()
    with get_client(sync_client=True) as client:
        block_id = alert_block_id(client, reference)
        names = []
        for automation in automations(block_id, overdue):
            for old in client.read_automations_by_name(automation.name):
                client.delete_automation(old.id)
            client.create_automation(automation)
            names.append(automation.name)
    return names


def apply_automations_step() -> dict[str, Any]:
    """Build step of prefect.yaml: apply the alerts at deploy time.

    A missing block does not stop the deployments (the schedule matters most); it is printed loudly.
    """
    try:
        names = apply_automations()
    except OperationsError as err:
        print(f"WARNING pekppp alerts not applied: {err}")
        return {"alerts": "not applied"}
    print(f"pekppp alerts applied: {', '.join(names)}")
    return {"alerts": "applied"}


def save_webhook_block(url: str, reference: str | None = None) -> str:
    """Create (or overwrite) a Custom Webhook notification block that POSTs JSON {subject, body, text}."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    reference = reference or setting(ALERT_BLOCK_ENV) or ALERT_BLOCK_DEFAULT
    slug, _, name = reference.partition("/")
    if slug != "custom-webhook" or not name:
        raise OperationsError(f"--webhook makes a custom-webhook block; {reference!r} is not custom-webhook/<name>")
    CustomWebhookNotificationBlock(
        name="pekppp", url=url,
        json_data={"subject": "{{subject}}", "body": "{{body}}", "text": "{{subject}}\n{{body}}"},
    ).save(name, overwrite=True)
    return reference


# ---------------------------------------------------------------- each cycle's last run


def runs_dir(places: Places) -> Path:
    return places.runs


def record_run(places: Places, cycle: str, *, kind: str, outcome: str, message: str,
               started_at: datetime, release_id: str | None = None) -> None:
    """Keep what this run did to the cycle (atomically; the newest run wins)."""
    from prefect.runtime import flow_run

    record = {"cycle": cycle, "kind": kind, "outcome": outcome, "message": message,
              "started_at": started_at.isoformat(timespec="seconds"),
              "ended_at": datetime.now(UTC).isoformat(timespec="seconds"),
              "release_id": release_id, "flow_run_id": flow_run.id, "flow_run_name": flow_run.name}
    write_bytes_atomic(runs_dir(places) / f"{cycle}.json", json.dumps(record, indent=2).encode())


def last_run(places: Places, cycle: str) -> dict | None:
    path = runs_dir(places) / f"{cycle}.json"
    return json.loads(path.read_text()) if path.exists() else None


# ---------------------------------------------------------------- status


@dataclass
class CycleStatus:
    """One cycle as an operator sees it."""

    cycle: str
    is_open: bool
    closes_at: str | None
    release_id: str | None
    published_at: str | None
    units: int | None
    last_run: dict | None
    waiting: int
    received: int
    accepted: int
    rejected: int
    late: int
    superseded: int
    gap: str | None = None
    """Why the release readers see does not cover the ledger (a killed run); the next run repairs it."""


def cycle_status(places: Places, cycle: str) -> CycleStatus:
    """Release, last run, bundles waiting and ledger counts of one cycle, from the warehouse alone."""
    from flows.ingest import discover
    from flows.ledger import Ledger
    from flows.publish import current_release, release_gap

    methodology = load_methodology(cycle)
    manifest = current_release(places, cycle)
    ledger = Ledger(places, cycle)
    entries = ledger.load()
    counts = entries["status"].value_counts() if entries.height else None
    by_status = dict(zip(counts["status"].to_list(), counts["count"].to_list(), strict=True)) if counts is not None \
        else {}
    known = ledger.known_by_stat()
    waiting = sum((str(b.path), b.size, b.mtime_ns) not in known for b in discover(places.landing, cycle))
    closes_at = methodology.closes_at
    return CycleStatus(
        cycle=cycle, is_open=methodology.is_open, closes_at=str(closes_at) if closes_at else None,
        release_id=manifest["release_id"] if manifest else None,
        published_at=manifest.get("created_at") if manifest else None,
        units=manifest["tables"]["unit_scores"]["rows"] if manifest else None,
        last_run=last_run(places, cycle), waiting=waiting, received=entries.height,
        accepted=by_status.get("accepted", 0), rejected=by_status.get("rejected", 0),
        late=by_status.get("late", 0), superseded=by_status.get("superseded", 0), gap=release_gap(places, cycle))


def next_nightly() -> str:
    """The next scheduled `nightly` run on the configured server, as one line."""
    from prefect.settings import get_current_settings

    api = get_current_settings().api.url
    if not api:
        return "next nightly: no Prefect server configured (PREFECT_API_URL); runs only when started by hand"
    try:
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import (
            DeploymentFilter,
            DeploymentFilterId,
            FlowRunFilter,
            FlowRunFilterState,
            FlowRunFilterStateType,
        )
        from prefect.client.schemas.objects import StateType
        from prefect.client.schemas.sorting import FlowRunSort

        with get_client(sync_client=True) as client:
            deployment = client.read_deployment_by_name(NIGHTLY_DEPLOYMENT)
            runs = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
                flow_run_filter=FlowRunFilter(state=FlowRunFilterState(
                    type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))),
                sort=FlowRunSort.EXPECTED_START_TIME_ASC, limit=1)
    except Exception as err:  # status must print whatever the server's state
        return f"next nightly: cannot ask {api} ({type(err).__name__}: {' '.join(str(err).split())[:160]})"
    if not runs:
        paused = "" if deployment.schedules and all(s.active for s in deployment.schedules) else " (schedule inactive)"
        return f"next nightly: none scheduled on {api}{paused}: is the server's scheduler running?"
    when = runs[0].expected_start_time
    local = when.astimezone(SCHEDULE_ZONE)
    return f"next nightly: {local:%Y-%m-%d %H:%M} WIB ({when.astimezone(UTC):%Y-%m-%d %H:%M} UTC), run {runs[0].name}"


def status_cycles(places: Places, cycle: str | None) -> list[str]:
    """The cycle asked for, else every cycle with a methodology file that has a ledger, a landing folder or is open."""
    if cycle:
        load_methodology(cycle)
        return [cycle]
    return [c for c in known_cycles() if load_methodology(c).is_open or (places.ledger / c).exists()
            or (places.landing / c).is_dir()]


def status_lines(places: Places, cycle: str | None = None, *, with_server: bool = True) -> list[str]:
    """`pekppp status`: one short block per cycle, then the next scheduled run."""
    lines = [f"warehouse {places.warehouse}", f"landing   {places.landing}"]
    for c in status_cycles(places, cycle):
        s = cycle_status(places, c)
        state = "open" if s.is_open else f"closed{f' ({s.closes_at})' if s.closes_at else ''}"
        lines.append("")
        lines.append(f"cycle {s.cycle} [{state}]")
        if s.release_id:
            lines.append(f"  release   {s.release_id}, published {s.published_at}, {s.units} units")
        else:
            lines.append("  release   none published yet")
        run = s.last_run
        if run:
            lines.append(f"  last run  {run['kind']} {run['ended_at']}: {run['outcome'].upper()}: {run['message']}")
        else:
            lines.append("  last run  none recorded")
        lines.append(f"  bundles   {s.waiting} waiting in the landing zone; {s.received} received: {s.accepted} "
                     f"accepted, {s.rejected} rejected, {s.late} late, {s.superseded} superseded")
        if s.gap:
            lines.append(f"  GAP       {s.gap}; the next run publishes a repair release")
    if with_server:
        lines += ["", next_nightly()]
    return lines

