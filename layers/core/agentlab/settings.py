"""Settings shared by every function. Each function reads its settings model once, at its first invocation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field, NonNegativeFloat, PositiveInt
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from agentlab.llm.pricing import PriceTable

# Lambda answers a synchronous invocation, which is how API Gateway's HTTP API calls it, with at most 6 MB
# ("Invocation payload (request and response)", https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html);
# an org export is answered inline up to 5 MiB, leaving room for the headers and the response envelope.
EXPORT_INLINE_MAX_BYTES = 5 * 1_048_576


class CoreSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AGENTLAB_", extra="ignore")

    region: str = Field(default="us-east-1", validation_alias="AWS_REGION")
    table_name: str = "agentlab"
    bucket_name: str = "agentlab-data"
    agent_run_state_machine_arn: str = ""
    repo_optimize_state_machine_arn: str = ""
    # The local stack may connect repositories by file:// path (tests, demos); AWS never does.
    allow_local_repos: bool = False
    # Presigned URLs are made against this endpoint when set (the local stack serves S3 under its own origin).
    s3_presign_endpoint_url: str | None = None
    environment: str = "local"

    # Prices (USD per million input and output tokens) for models the built-in table lacks, or to replace its figures:
    # {"openai:llama3.1:8b": [0, 0], "bedrock:<model id>": [3.0, 15.0]}, as JSON in AGENTLAB_MODEL_PRICES.
    model_prices: dict[str, tuple[NonNegativeFloat, NonNegativeFloat]] = Field(default_factory=dict)

    max_body_bytes: int = 1_048_576
    max_prompt_chars: int = 50_000
    max_upload_bytes: int = 20 * 1_048_576
    # An org export larger than this is written to S3 and answered with a link (api/admin_routes.py).
    export_inline_max_bytes: PositiveInt = EXPORT_INLINE_MAX_BYTES
    presign_expiry_s: int = 900
    idempotency_ttl_s: int = 86_400

    # Schedules: the stack's EventBridge Scheduler group, the trigger function and the role Scheduler assumes to
    # invoke it (empty locally, where the ticker fires schedules).
    scheduler_group_name: str = ""
    schedule_trigger_arn: str = ""
    scheduler_role_arn: str = ""
    schedule_dead_letter_queue_arn: str = ""
    # Webhooks: the queue deliveries go through (empty: events are recorded, nothing is sent).
    webhook_queue_url: str = ""

    def price_table(self) -> PriceTable:
        from agentlab.llm.pricing import Price, PriceTable

        return PriceTable({ref: Price(*figures) for ref, figures in self.model_prices.items()})


class ProviderSecretSettings(BaseSettings):
    """Where the model provider credentials are kept in AWS (set on the functions that call models)."""

    model_config = SettingsConfigDict(env_prefix="AGENTLAB_", extra="ignore")

    provider_secret_arn: str | None = None
    region: str = Field(default="us-east-1", validation_alias="AWS_REGION")
