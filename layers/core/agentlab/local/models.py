"""Which model the local stack uses when an agent asks for the platform default."""

from __future__ import annotations


def choose_model() -> tuple[str, str]:
    """(model ref, a line saying which and why) — Bedrock with credentials and a model id, an OpenAI-compatible
    server when its URL is set, else the built-in scripted stand-in."""
    try:
        from agentlab.llm.settings import ProviderSettings, default_model_ref
    except ImportError:
        return "scripted", "scripted (built-in deterministic stand-in for demos and tests)"
    import boto3

    settings = ProviderSettings()
    has_credentials = boto3.Session().get_credentials() is not None
    ref = default_model_ref(settings, has_credentials)
    if ref.startswith("bedrock:"):
        return ref, f"{ref} (Amazon Bedrock, region {settings.bedrock_region})"
    if ref.startswith("openai:"):
        return ref, f"{ref} (OpenAI-compatible server at {settings.openai_base_url})"
    return (
        "scripted",
        "scripted (built-in deterministic stand-in for demos and tests; set AGENTLAB_BEDROCK_MODEL_ID "
        "with AWS credentials, or AGENTLAB_OPENAI_BASE_URL, to use a real model)",
    )
