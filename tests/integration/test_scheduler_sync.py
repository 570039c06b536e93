"""The EventBridge Scheduler mirror on moto: the API creates, updates, disables and deletes one Scheduler schedule per
record; reconciliation puts drift right; without a group nothing is mirrored."""

from __future__ import annotations

import json
from typing import Any

import pytest
from apiclient import EventClient
from moto_platform import Platform

from agentlab.aws import AwsClients
from agentlab.schedules.scheduler import MAX_NAME_LENGTH, SchedulerSync, reconcile, schedule_name
from agentlab.settings import CoreSettings
from agentlab.store.schedules import ScheduleStore

GROUP = "agentlab-schedules"
TRIGGER_ARN = "arn:aws:lambda:us-east-1:123456789012:function:agentlab-schedule-trigger"
ROLE_ARN = "arn:aws:iam::123456789012:role/agentlab-scheduler"
DLQ_ARN = "arn:aws:sqs:us-east-1:123456789012:agentlab-schedule-dlq"


@pytest.fixture
def mirrored(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> CoreSettings:
    """A deployment with a Scheduler group, as the stack configures the API."""
    env = {
        "AGENTLAB_SCHEDULER_GROUP_NAME": GROUP,
        "AGENTLAB_SCHEDULE_TRIGGER_ARN": TRIGGER_ARN,
        "AGENTLAB_SCHEDULER_ROLE_ARN": ROLE_ARN,
        "AGENTLAB_SCHEDULE_DEAD_LETTER_QUEUE_ARN": DLQ_ARN,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    platform.clients.scheduler.create_schedule_group(Name=GROUP)
    return CoreSettings()


def scheduler_schedule(platform: Platform, org_id: str, schedule_id: str) -> dict[str, Any]:
    return dict(platform.clients.scheduler.get_schedule(Name=schedule_name(org_id, schedule_id), GroupName=GROUP))


def names_in_group(platform: Platform) -> set[str]:
    listed = platform.clients.scheduler.list_schedules(GroupName=GROUP)["Schedules"]
    return {s["Name"] for s in listed if s.get("GroupName", GROUP) == GROUP}


def new_schedule(api: EventClient, **fields: Any) -> dict[str, Any]:
    agent = api.post("/v1/agents", {"name": f"a-{len(fields)}", "models": {"reasoning": ["scripted"]}}).json()["id"]
    body = {"name": "digest", "agent_id": agent, "prompt": "go", "expression": "cron(0 9 * * ? *)", **fields}
    response = api.post("/v1/schedules", body)
    assert response.status == 201, response.text
    return dict(response.json())


def test_the_api_mirrors_each_change_to_scheduler(
    platform: Platform, mirrored: CoreSettings, api: EventClient, org: tuple[str, str]
) -> None:
    # Given a schedule created through the API
    schedule = new_schedule(api, timezone="Europe/Paris")

    # Then its Scheduler schedule targets the trigger with the schedule and the scheduled time
    mirror = scheduler_schedule(platform, org[0], schedule["id"])
    assert mirror["ScheduleExpression"] == "cron(0 9 * * ? *)"
    assert mirror["ScheduleExpressionTimezone"] == "Europe/Paris"
    assert mirror["State"] == "ENABLED" and mirror["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = mirror["Target"]
    assert target["Arn"] == TRIGGER_ARN and target["RoleArn"] == ROLE_ARN
    assert target["DeadLetterConfig"] == {"Arn": DLQ_ARN} and target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    assert json.loads(target["Input"]) == {
        "org_id": org[0],
        "schedule_id": schedule["id"],
        "scheduled_time": "<aws.scheduler.scheduled-time>",
    }

    # When its expression changes, the mirror follows
    api.request("PATCH", f"/v1/schedules/{schedule['id']}", {"expression": "rate(1 hour)", "timezone": "UTC"})
    mirror = scheduler_schedule(platform, org[0], schedule["id"])
    assert (mirror["ScheduleExpression"], mirror["ScheduleExpressionTimezone"]) == ("rate(1 hour)", "UTC")

    # When it is paused or disabled, the mirror is disabled; resumed, enabled again
    api.post(f"/v1/schedules/{schedule['id']}/pause")
    assert scheduler_schedule(platform, org[0], schedule["id"])["State"] == "DISABLED"
    api.post(f"/v1/schedules/{schedule['id']}/resume")
    assert scheduler_schedule(platform, org[0], schedule["id"])["State"] == "ENABLED"
    api.request("PATCH", f"/v1/schedules/{schedule['id']}", {"enabled": False})
    assert scheduler_schedule(platform, org[0], schedule["id"])["State"] == "DISABLED"

    # When it is deleted, so is the mirror
    assert api.delete(f"/v1/schedules/{schedule['id']}").status == 200
    assert names_in_group(platform) == set()


def test_reconcile_creates_missing_fixes_drift_and_deletes_orphans(
    platform: Platform, mirrored: CoreSettings, api: EventClient, org: tuple[str, str]
) -> None:
    # Given two mirrored schedules, one whose mirror was lost and one whose mirror drifted, and an orphan
    lost, drifted = new_schedule(api), new_schedule(api, name="second", timezone="Asia/Tokyo")
    scheduler = platform.clients.scheduler
    scheduler.delete_schedule(Name=schedule_name(org[0], lost["id"]), GroupName=GROUP)
    drifted_mirror = scheduler_schedule(platform, org[0], drifted["id"])
    scheduler.update_schedule(
        Name=drifted_mirror["Name"],
        GroupName=GROUP,
        ScheduleExpression="rate(5 minutes)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target=drifted_mirror["Target"],
        State="DISABLED",
    )
    scheduler.create_schedule(
        Name="orphan",
        GroupName=GROUP,
        ScheduleExpression="rate(1 day)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": TRIGGER_ARN, "RoleArn": ROLE_ARN},
    )

    # When the records are reconciled
    report = reconcile(ScheduleStore(platform.table), SchedulerSync(mirrored, AwsClients(mirrored)))

    # Then the group matches the records again
    assert report.created == [schedule_name(org[0], lost["id"])]
    assert report.updated == [schedule_name(org[0], drifted["id"])]
    assert report.deleted == ["orphan"]
    assert names_in_group(platform) == {schedule_name(org[0], s["id"]) for s in (lost, drifted)}
    fixed = scheduler_schedule(platform, org[0], drifted["id"])
    assert (fixed["ScheduleExpression"], fixed["ScheduleExpressionTimezone"], fixed["State"]) == (
        "cron(0 9 * * ? *)",
        "Asia/Tokyo",
        "ENABLED",
    )
    # And a second pass finds nothing to do
    again = reconcile(ScheduleStore(platform.table), SchedulerSync(mirrored, AwsClients(mirrored)))
    assert (again.created, again.updated, again.deleted) == ([], [], [])


def test_without_a_group_nothing_is_mirrored(platform: Platform, api: EventClient) -> None:
    platform.clients.scheduler.create_schedule_group(Name=GROUP)

    schedule = new_schedule(api)

    assert schedule["status"] == "active"
    assert names_in_group(platform) == set()
    assert reconcile(ScheduleStore(platform.table), SchedulerSync(platform.settings, platform.clients)).created == []


def test_names_stay_within_schedulers_limit() -> None:
    schedule_id = "01J9Z8Q3V4W5X6Y7Z8A9B0C1S1"
    assert schedule_name("default", schedule_id) == f"default-{schedule_id}"
    long_name = schedule_name("o" * 64, schedule_id)
    assert len(long_name) == MAX_NAME_LENGTH and long_name.endswith(schedule_id)
    assert long_name != schedule_name("p" * 64, schedule_id)
