"""Which model the local stack uses when an agent asks for the platform default."""

from __future__ import annotations

import os


def choose_model() -> tuple[str, str, dict[str, str]]:
    """(model ref, a line saying which and why, environment the step functions need for it).

    Bedrock with a profile's credentials and a model id, an OpenAI-compatible server when its URL is set, else the
    built-in scripted stand-in."""
    try:
        from agentlab.llm.settings import ProviderSettings, default_model_ref
    except ImportError:
        return "scripted", "scripted (built-in deterministic stand-in for demos and tests)", {}
    import boto3

    settings = ProviderSettings()
    # In-process AWS replaces credentials in the environment with fakes, so Bedrock uses a named profile.
    profile = settings.bedrock_profile or os.environ.get("AWS_PROFILE")
    has_credentials = False
    if profile:
        from botocore.exceptions import ProfileNotFound

        try:
            has_credentials = boto3.Session(profile_name=profile).get_credentials() is not None
        except ProfileNotFound:
            has_credentials = False
    ref = default_model_ref(settings, has_credentials)
    if ref.startswith("bedrock:"):
        return ref, f"{ref} (Amazon Bedrock, profile {profile})", {"AGENTLAB_BEDROCK_PROFILE": str(profile)}
    if ref.startswith("openai:"):
        return ref, f"{ref} (OpenAI-compatible server at {settings.openai_base_url})", {}
    note = (
        "scripted (built-in deterministic stand-in for demos and tests; set AGENTLAB_BEDROCK_MODEL_ID with an AWS "
        "profile (AWS_PROFILE), or AGENTLAB_OPENAI_BASE_URL, to use a real model)"
    )
    return "scripted", note, {}
