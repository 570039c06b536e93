"""Which model the local stack picks when an agent asks for the platform default."""

from __future__ import annotations

import pytest

from agentlab.local.models import choose_model


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "AGENTLAB_BEDROCK_MODEL_ID",
        "AGENTLAB_BEDROCK_PROFILE",
        "AGENTLAB_OPENAI_BASE_URL",
        "AGENTLAB_OPENAI_MODEL",
        "AWS_PROFILE",
    ):
        monkeypatch.delenv(name, raising=False)


def test_nothing_configured_means_the_labelled_scripted_stand_in() -> None:
    ref, note, _ = choose_model()
    assert ref == "scripted" and "stand-in" in note


def test_an_openai_compatible_server_when_its_url_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTLAB_OPENAI_BASE_URL", "http://127.0.0.1:11434/v1")
    monkeypatch.setenv("AGENTLAB_OPENAI_MODEL", "llama3.1")
    ref, note, _ = choose_model()
    assert ref == "openai:llama3.1" and "127.0.0.1:11434" in note


def test_bedrock_needs_a_profile_with_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.setenv("AGENTLAB_BEDROCK_MODEL_ID", "anthropic.claude-3-haiku-20240307-v1:0")
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    assert choose_model()[0] == "scripted"
    credentials = tmp_path / "credentials"  # type: ignore[operator]
    credentials.write_text("[work]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = secret\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_PROFILE", "work")
    ref, note, env = choose_model()
    assert ref == "bedrock:anthropic.claude-3-haiku-20240307-v1:0" and "Bedrock" in note
    assert env == {"AGENTLAB_BEDROCK_PROFILE": "work"}
