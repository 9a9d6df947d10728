"""Choosing providers: live (the default) or offline, GENOME_PROVIDER, the keys each job
kind needs (no silent switch to the offline provider), settings."""

from __future__ import annotations

import pytest

from agents.cli import main
from agents.providers.anthropic_review import ClaudeReviewer
from agents.providers.factory import (
    KEYS_BY_KIND,
    MissingProviderKey,
    Providers,
    load_providers,
    resolve_mode,
)
from agents.providers.gemini import GeminiImageModel, GeminiReviewer
from agents.providers.offline.hashembed import OfflineEmbedder
from agents.providers.offline.models import OfflineImageModel, OfflineReviewer
from agents.providers.openai_embed import OpenAIEmbedder
from agents.providers.settings import Price, ProviderSettings
from agents.runtime import PIPELINE_KINDS

KEYS = {"GEMINI_API_KEY": "g", "ANTHROPIC_API_KEY": "a", "OPENAI_API_KEY": "o"}


def test_offline_mode_gives_offline_providers() -> None:
    p = load_providers("offline", ProviderSettings.from_env(KEYS))
    assert isinstance(p, Providers) and p.mode == "offline"
    assert isinstance(p.image, OfflineImageModel)
    assert isinstance(p.reviewer, OfflineReviewer) and isinstance(
        p.second_reviewer, OfflineReviewer
    )
    assert p.reviewer.model != p.second_reviewer.model  # the second opinion is another reviewer
    assert isinstance(p.embedder, OfflineEmbedder)


def test_live_is_the_default_and_never_falls_back_to_offline() -> None:
    with pytest.raises(MissingProviderKey) as none:
        load_providers(settings=ProviderSettings.from_env({}))
    for name in ("GEMINI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_API_KEY"):
        assert name in str(none.value)
    partial = {k: v for k, v in KEYS.items() if k != "OPENAI_API_KEY"}
    with pytest.raises(MissingProviderKey, match="OPENAI_API_KEY") as one:
        load_providers(None, ProviderSettings.from_env(partial))
    assert "ANTHROPIC" not in str(one.value) and "--provider offline" in str(one.value)
    live = load_providers(None, ProviderSettings.from_env(KEYS))
    assert live.mode == "live"
    assert isinstance(live.image, GeminiImageModel)
    assert isinstance(live.reviewer, ClaudeReviewer)
    assert isinstance(live.second_reviewer, GeminiReviewer)  # the other model
    assert isinstance(live.embedder, OpenAIEmbedder)


def test_google_api_key_counts_as_the_gemini_key() -> None:
    env = {k: v for k, v in KEYS.items() if k != "GEMINI_API_KEY"} | {"GOOGLE_API_KEY": "g"}
    assert ProviderSettings.from_env(env).has_all_keys()


def test_auto_is_refused_not_guessed() -> None:
    with pytest.raises(ValueError, match="'auto' is gone"):
        load_providers("auto", ProviderSettings.from_env(KEYS))
    with pytest.raises(ValueError, match="auto, which switched to the offline provider"):
        ProviderSettings.from_env(KEYS | {"GENOME_PROVIDER": "auto"})


def test_each_job_kind_needs_only_its_own_keys() -> None:
    assert set(KEYS_BY_KIND) == set(PIPELINE_KINDS)
    gemini_openai = ProviderSettings.from_env({"GEMINI_API_KEY": "g", "OPENAI_API_KEY": "o"})
    p = load_providers("live", gemini_openai, kinds=["generate", "embed"])
    assert isinstance(p.image, GeminiImageModel) and isinstance(p.embedder, OpenAIEmbedder)
    # the reviewer it was not given refuses any call, naming the key
    with pytest.raises(MissingProviderKey, match="ANTHROPIC_API_KEY"):
        p.reviewer.review(b"", None, [], [])  # type: ignore[arg-type]
    # a review may describe and embed the image for its exemplars: all three keys
    with pytest.raises(MissingProviderKey, match="job kinds review need ANTHROPIC_API_KEY:"):
        load_providers("live", gemini_openai, kinds=["review"])
    with pytest.raises(MissingProviderKey, match="need GEMINI_API_KEY"):
        load_providers("live", ProviderSettings.from_env({}), kinds=["defect_scan"])
    assert load_providers("live", ProviderSettings.from_env({}), kinds=["noop"]).mode == "live"


def test_agents_run_refuses_to_start_without_its_keys(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in (*KEYS, "GOOGLE_API_KEY", "GENOME_PROVIDER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "a")
    # refused before it touches the database (nothing listens at this URL)
    url = "postgresql://nobody@127.0.0.1:9/none"
    assert main(["agents", "run", "--url", url, "--kinds", "second_opinion"]) == 2
    err = capsys.readouterr().err
    assert "not started" in err and "GEMINI_API_KEY" in err and "OPENAI_API_KEY" in err
    assert "ANTHROPIC_API_KEY" not in err
    monkeypatch.setenv("GENOME_PROVIDER", "auto")
    assert main(["agents", "run", "--url", url]) == 2
    assert "auto" in capsys.readouterr().err


def test_genome_provider_sets_the_mode_but_not_over_an_explicit_one() -> None:
    assert (
        load_providers(None, ProviderSettings.from_env(KEYS | {"GENOME_PROVIDER": "offline"})).mode
        == "offline"
    )
    assert (
        load_providers(
            settings=ProviderSettings.from_env(KEYS | {"GENOME_PROVIDER": "Offline"})
        ).mode
        == "offline"
    )
    assert resolve_mode("live", ProviderSettings.from_env({"GENOME_PROVIDER": "offline"})) == "live"
    assert (
        resolve_mode("offline", ProviderSettings.from_env(KEYS | {"GENOME_PROVIDER": "live"}))
        == "offline"
    )


def test_live_without_keys_fails_clearly() -> None:
    with pytest.raises(MissingProviderKey, match="ANTHROPIC_API_KEY") as exc:
        load_providers("live", ProviderSettings.from_env({"GEMINI_API_KEY": "g"}))
    assert "OPENAI_API_KEY" in str(exc.value) and "GEMINI" not in str(exc.value)
    with pytest.raises(MissingProviderKey):
        load_providers(None, ProviderSettings.from_env({"GENOME_PROVIDER": "live"}))


def test_bad_modes_are_refused() -> None:
    with pytest.raises(ValueError, match="provider mode"):
        load_providers("online", ProviderSettings())
    with pytest.raises(ValueError):
        ProviderSettings.from_env({"GENOME_PROVIDER": "sometimes"})


def test_settings_from_env_read_models_timeouts_and_retries() -> None:
    s = ProviderSettings.from_env({
        "GENOME_CLAUDE_REVIEW_MODEL": "claude-sonnet-4-5",
        "GENOME_TIMEOUT_S": "12.5",
        "GENOME_RETRY_ATTEMPTS": "6",
        "GENOME_RETRY_INITIAL_WAIT_S": "0.1",
    })  # fmt: skip
    assert s.claude_review_model == "claude-sonnet-4-5"
    assert s.timeout_s == 12.5 and s.retry.attempts == 6 and s.retry.initial_wait_s == 0.1
    assert s.openai_embedding_model == "text-embedding-3-small"
    assert "sk-" not in repr(ProviderSettings.from_env({"OPENAI_API_KEY": "sk-secret"}))


def test_default_prices_are_in_the_seeds_range_per_ad() -> None:
    s = ProviderSettings()
    # a scan (~1.3k image + 0.4k prompt tokens in, ~60 out) and a review (~2.2k in, ~300 out)
    scan = s.price_gemini_scan.cost(1700, 60)
    review = s.price_claude_review.cost(2200, 300)
    descriptor = s.price_gemini_descriptor.cost(1400, 80)
    assert scan <= 0.002 and 0.002 <= review <= 0.008 and descriptor <= 0.001
    assert Price(per_call=0.001, input_per_mtok=1, output_per_mtok=2).cost(
        1000, 500
    ) == pytest.approx(0.003)
