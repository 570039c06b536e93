"""Settings of the repo_optimize steps: checkout caps, the baseline's phases and their limits, and (in AWS) the
package registries an install reaches."""

from __future__ import annotations

from pydantic import Field

from agentlab.workflow.deps import StepSettings


class RepoSettings(StepSettings):
    # Checkout (trusted side): the fetched pack and the unpacked tree are each capped.
    repo_max_checkout_mb: int = Field(default=200, ge=1)
    repo_max_files: int = Field(default=50_000, ge=1)
    repo_checkout_timeout_s: float = Field(default=120, gt=0)
    # The baseline: k benchmark runs (a repository's config may set its own), and each phase's limits. A phase runs
    # in one step invocation, so its timeout stays well below Lambda's 900 s.
    repo_bench_runs: int = Field(default=5, ge=1, le=50)
    repo_install_timeout_s: float = Field(default=600, gt=0, le=840)
    repo_phase_timeout_s: float = Field(default=600, gt=0, le=840)
    repo_bench_timeout_s: float = Field(default=300, gt=0, le=840)
    repo_phase_cpu_s: int = Field(default=1_200, ge=1)
    repo_phase_memory_mb: int = Field(default=2_048, ge=256)
    repo_phase_max_file_mb: int = Field(default=512, ge=1)
    repo_disk_mb: int = Field(default=4_096, ge=16)
    # Discover: at most this many candidate patches per run.
    repo_max_candidates: int = Field(default=20, ge=1, le=200)
    # AWS: installs reach CodeArtifact (npm and PyPI upstreams) behind VPC endpoints with a short-lived read-only
    # token got through this role; empty locally, where the install phase shares the host's network.
    codeartifact_domain: str = ""
    codeartifact_domain_owner: str = ""
    codeartifact_pypi_repository: str = ""
    codeartifact_npm_repository: str = ""
    repo_install_role_arn: str = ""
