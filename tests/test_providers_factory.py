"""Choosing providers: live (the default) or offline, GENOME_PROVIDER, the keys each job
kind needs (no silent switch to the offline provider), settings."""

from __future__ import annotations

from datetime import date

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


def test_an_offline_agent_reads_only_genome_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/operations.md#start-up: the live models' settings do not stop an offline agent;
    a bad GENOME_PROVIDER still stops either."""
    monkeypatch.setenv("GENOME_PRICES", "not json")
    assert load_providers("offline").mode == "offline"
    with pytest.raises(ValueError, match="GENOME_PRICES is not JSON"):
        load_providers("live")
    monkeypatch.setenv("GENOME_PROVIDER", "offline")
    assert load_providers().mode == "offline"
    monkeypatch.setenv("GENOME_PROVIDER", "auto")
    with pytest.raises(ValueError, match="auto"):
        load_providers("offline")


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
        "GENOME_CLAUDE_REVIEW_MODEL": "claude-sonnet-5-5",
        "GENOME_TIMEOUT_S": "12.5",
        "GENOME_RETRY_ATTEMPTS": "6",
        "GENOME_RETRY_INITIAL_WAIT_S": "0.1",
    })  # fmt: skip
    assert s.claude_review_model == "claude-sonnet-5-5"
    assert s.timeout_s == 12.5 and s.retry.attempts == 6 and s.retry.initial_wait_s == 0.1
    assert s.openai_embedding_model == "text-embedding-3-small"
    assert "sk-" not in repr(ProviderSettings.from_env({"OPENAI_API_KEY": "sk-secret"}))


def test_default_prices_are_in_the_seeds_range_per_ad() -> None:
    s = ProviderSettings()
    on = date(2026, 12, 4)
    # a scan (~1.1k image + 0.4k prompt tokens in, ~60 out), a Claude review (~3.1k in, ~300
    # out), a second opinion (~2.5k in, ~650 out with thinking), a descriptor (~1.3k in, ~70 out)
    scan = s.price(s.gemini_scan_model, on).cost(1500, 60)
    review = s.price(s.claude_review_model, on).cost(3100, 300)
    second = s.price(s.gemini_review_model, on).cost(2500, 650)
    descriptor = s.price(s.gemini_descriptor_model, on).cost(1300, 80)
    image = s.price(s.gemini_image_model, on).cost(220, 1120)
    assert scan <= 0.002 and review <= 0.005 and second <= 0.008 and descriptor <= 0.001
    assert 0.05 <= image <= 0.08  # a 1K image at $60 per million image tokens
    assert Price(per_call=0.001, input_per_mtok=1, output_per_mtok=2).cost(
        1000, 500
    ) == pytest.approx(0.003)


def test_prices_follow_the_model_and_the_day() -> None:
    s = ProviderSettings.from_env({"GENOME_GEMINI_REVIEW_MODEL": "gemini-3.5-flash"})
    assert s.price(s.gemini_review_model).input_per_mtok == 1.50  # the row of the model called
    flash = ProviderSettings()
    assert flash.price("gemini-3.8-flash", date(2026, 12, 31)).input_per_mtok == 0.75
    assert flash.price("gemini-3.8-flash", date(2027, 1, 1)).input_per_mtok == 1.50
    with pytest.raises(KeyError, match="no price for model 'gemini-9'"):
        flash.price("gemini-9")


def test_prices_are_overridable_and_an_unpriced_live_model_refuses_to_start() -> None:
    env = {
        "GENOME_CLAUDE_REVIEW_MODEL": "claude-haiku-6",
        "GENOME_PRICES": '{"claude-haiku-6": {"input_per_mtok": 0.2, "output_per_mtok": 1}, '
        '"text-embedding-3-small": [{"input_per_mtok": 0.02}, '
        '{"input_per_mtok": 0.01, "since": "2027-02-01"}]}',
    }
    s = ProviderSettings.from_env(env)
    assert s.price("claude-haiku-6").cost(1000, 1000) == pytest.approx(0.0012)
    assert s.price("text-embedding-3-small", date(2027, 2, 1)).input_per_mtok == 0.01
    assert s.price("gemini-3.8-flash", date(2026, 12, 4)).input_per_mtok == 0.75  # kept
    unpriced = ProviderSettings.from_env({"GENOME_CLAUDE_REVIEW_MODEL": "claude-haiku-6", **KEYS})
    with pytest.raises(ValueError, match="no price for model\\(s\\) claude-haiku-6"):
        load_providers("live", unpriced)
    with pytest.raises(ValueError, match="GENOME_PRICES is not JSON"):
        ProviderSettings.from_env({"GENOME_PRICES": "{cheap}"})
    with pytest.raises(ValueError, match="input_per_mtok"):
        ProviderSettings.from_env({"GENOME_PRICES": '{"x": {"input_per_mtok": -1}}'})
    # offline agents record no priced calls: an unknown model does not stop them
    assert (
        ProviderSettings.from_env(
            {"GENOME_PROVIDER": "offline", "GENOME_CLAUDE_REVIEW_MODEL": "claude-haiku-6"}
        ).mode
        == "offline"
    )
