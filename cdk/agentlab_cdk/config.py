"""What a deployment is configured by (CDK context), and the named constants the constructs share."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs

REPO_ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS_DIR = REPO_ROOT / "functions"
STATEMACHINES_DIR = REPO_ROOT / "statemachines"
SANDBOX_TASK_DIR = REPO_ROOT / "sandbox-task"

RUNTIME = lambda_.Runtime.PYTHON_3_13
ARCHITECTURE = lambda_.Architecture.ARM_64
LOG_RETENTION = logs.RetentionDays.ONE_MONTH
API_TIMEOUT = Duration.seconds(29)  # API Gateway's integration timeout
# Lambda's maximum: the longest cell an agent may set, a task start and the result's upload fit in it (a template test
# checks it against MAX_CELL_TIMEOUT_S and SANDBOX_START_TIMEOUT_S).
STEP_TIMEOUT = Duration.minutes(15)
JANITOR_TIMEOUT = Duration.minutes(5)
JANITOR_RATE = Duration.minutes(5)
API_MEMORY_MB = 1_024
STEP_MEMORY_MB = 1_024
# The checkout downloads a repository's archive (size-capped by the step) and unpacks it in /tmp, beyond Lambda's
# default of 512 MB.
REPO_CHECKOUT_EPHEMERAL_STORAGE_MB = 2_048
# A fire loads its schedule, checks the budgets and starts one run (with a few retries of the start).
SCHEDULE_TRIGGER_TIMEOUT = Duration.minutes(1)
SCHEDULE_TRIGGER_MEMORY_MB = 512
# Scheduler invokes the trigger asynchronously: Lambda retries a failed fire (2 is its most; the run's idempotency key
# makes a retry safe), and a fire still failing, or older than this, goes to the schedules' dead-letter queue.
SCHEDULE_TRIGGER_RETRY_ATTEMPTS = 2
SCHEDULE_TRIGGER_MAX_EVENT_AGE = Duration.hours(1)
# A batch is delivered one message after another, each POST cut off after 10 s.
WEBHOOK_DELIVERY_TIMEOUT = Duration.minutes(2)
WEBHOOK_DELIVERY_MEMORY_MB = 512
WEBHOOK_BATCH_SIZE = 10
# SQS's advice for a queue that feeds a function: a visibility timeout of at least six times the function's timeout,
# so a batch that Lambda retries is not handed to a second invocation meanwhile.
WEBHOOK_VISIBILITY_TIMEOUT_FACTOR = 6
# Retries are new messages sent with a delay; a message received this often crashed its handler each time.
WEBHOOK_MAX_RECEIVE_COUNT = 5
DEAD_LETTER_RETENTION = Duration.days(14)  # SQS's longest
# Warm sandbox tasks kept ready per deployment (context `sandboxPoolSize`): none in dev, where a cold start is fine and
# an idle task costs, two in prod, so that a run's first cell does not wait for Fargate.
DEV_SANDBOX_POOL_SIZE = 0
PROD_SANDBOX_POOL_SIZE = 2
MAX_SANDBOX_POOL_SIZE = 50  # a typo must not start hundreds of tasks
# A warm task is replaced after this long, so the pool runs the current image and task definition.
SANDBOX_POOL_MAX_AGE = Duration.hours(1)
DEFAULT_BEDROCK_MODEL_IDS = ("us.anthropic.claude-sonnet-4-5-20250929-v1:0",)
CONFIG_JSON = "config.json"


class FrontendNotBuilt(RuntimeError):
    """The dashboard has not been built, so there is nothing to host."""


class LayerNotBuilt(RuntimeError):
    """The Lambda layer has not been built for the target platform."""


class InvalidPoolSize(ValueError):
    """The configured sandbox pool size is not a whole number within bounds."""


class ProfileRegionMismatch(ValueError):
    """A configured cross-region inference profile cannot be called from the stack's Region."""


def _as_list(value: Any, default: tuple[str, ...]) -> tuple[str, ...]:
    if value is None:
        return default
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return tuple(str(item) for item in value)


@dataclass(frozen=True)
class DeployConfig:
    """Context values (`cdk.json`, or `-c name=value`) that shape one deployment."""

    stage: str = "dev"
    layer_dir: Path = REPO_ROOT / "build" / "layer"
    frontend_dist: Path = REPO_ROOT / "frontend" / "dist"
    bedrock_model_ids: tuple[str, ...] = DEFAULT_BEDROCK_MODEL_IDS
    alarm_email: str | None = None
    api_rate_limit: int = 50
    api_burst_limit: int = 100
    sandbox_pool_size: int | None = None  # None: the stage's default

    @property
    def is_prod(self) -> bool:
        return self.stage == "prod"

    @property
    def pool_size(self) -> int:
        """Warm sandbox tasks the janitor keeps: the configured size, else the stage's default."""
        if self.sandbox_pool_size is not None:
            return self.sandbox_pool_size
        return PROD_SANDBOX_POOL_SIZE if self.is_prod else DEV_SANDBOX_POOL_SIZE

    @classmethod
    def from_context(cls, node: Any) -> DeployConfig:
        def get(name: str) -> Any:
            return node.try_get_context(name)

        def path(name: str, default: Path) -> Path:
            value = get(name)
            if not value:
                return default
            candidate = Path(str(value))
            return candidate if candidate.is_absolute() else REPO_ROOT / candidate

        return cls(
            stage=str(get("stage") or "dev"),
            layer_dir=path("layerDir", cls.layer_dir),
            frontend_dist=path("frontendDist", cls.frontend_dist),
            bedrock_model_ids=_as_list(get("bedrockModelIds"), DEFAULT_BEDROCK_MODEL_IDS),
            alarm_email=get("alarmEmail") or None,
            api_rate_limit=int(get("apiRateLimit") or cls.api_rate_limit),
            api_burst_limit=int(get("apiBurstLimit") or cls.api_burst_limit),
            sandbox_pool_size=_pool_size(get("sandboxPoolSize")),
        )


def _pool_size(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        size = int(str(value))
    except ValueError as exc:
        raise InvalidPoolSize(f"sandboxPoolSize must be a whole number, not {value!r}") from exc
    if not 0 <= size <= MAX_SANDBOX_POOL_SIZE:
        raise InvalidPoolSize(f"sandboxPoolSize must be between 0 and {MAX_SANDBOX_POOL_SIZE}, not {size}")
    return size
