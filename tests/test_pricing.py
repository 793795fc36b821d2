"""The price table, the offline token estimate and the cost formulas."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from vscbench.models.pricing import LOCAL_PRICE, ImageRule, PricesError, load_prices, shipped_prices
from vscbench.models.tokens import image_tokens, request_tokens, sent_size, text_tokens
from vscbench.schema import GenerationConfig, Message, Request
from vscbench.scoring.cost import precision_cost


def test_every_shipped_price_is_dated_and_sourced_and_models_are_found_by_name() -> None:
    table = shipped_prices()
    assert table.updated and len(table.models) >= 15
    for key, price in table.models.items():
        assert price.source and price.date and price.output >= price.input > 0, key
    assert table.key_for("openai:gpt-4o-mini") == "openai:gpt-4o-mini"
    assert table.key_for("openai:gpt-4o-mini-2024-07-18") == "openai:gpt-4o-mini"  # a dated snapshot
    assert table.key_for("openai:gpt-4o-2024-08-06@http://proxy:8000/v1") == "openai:gpt-4o"  # behind a custom URL
    assert table.key_for("anthropic:claude-sonnet-4-5-20250929") == "anthropic:claude-sonnet-4-5"
    assert table.price("openai:Qwen2-VL-7B@http://localhost:8000/v1") is None  # unknown: no made-up 0
    assert table.cost("openai:Qwen2-VL-7B@http://localhost:8000/v1", 10, 10) is None
    assert table.price("hf:llava-hf/llava-1.5-7b-hf") == LOCAL_PRICE and LOCAL_PRICE.local


def test_cost_is_priced_per_tier_with_cached_input() -> None:
    price = shipped_prices().price("openai:gpt-4o")
    assert price is not None
    assert price.cost(1_000_000, 1_000_000) == pytest.approx(2.50 + 10.00)
    assert price.cost(1_000_000, 1_000_000, batch=True) == pytest.approx((2.50 + 10.00) / 2)
    # half the prompt read from the cache: 0.5M at 2.50 + 0.5M at 1.25
    assert price.cost(1_000_000, 0, cached_tokens=500_000) == pytest.approx(1.25 + 0.625)
    # OpenAI's batch table publishes no cached rate for gpt-4o: cached input keeps the standard rate
    assert price.cost(1_000_000, 0, cached_tokens=1_000_000, batch=True) == pytest.approx(1.25)


def test_a_price_file_adds_and_replaces_entries_and_a_bad_one_is_named(tmp_path: Path) -> None:
    mine = tmp_path / "prices.json"
    mine.write_text(json.dumps({"format": "vscbench-prices/1", "models": {
        "openai:fake-vlm": {"input": 1.0, "output": 2.0, "batch_discount": 0.5, "source": "my contract", "date": "2026-12-01"},
        "openai:gpt-4o": {"input": 1.0, "output": 1.0}}}))  # fmt: skip
    table = load_prices(mine)
    assert table.cost("openai:fake-vlm@http://127.0.0.1:1/v1", 1_000_000, 1_000_000, batch=True) == pytest.approx(1.5)
    assert table.cost("openai:gpt-4o", 1_000_000, 0) == pytest.approx(1.0)
    assert table.price("openai:gpt-4o-mini") == shipped_prices().price("openai:gpt-4o-mini")  # kept
    assert str(mine) in table.describe()
    mine.write_text(json.dumps({"format": "vscbench-prices/1", "models": {"openai:x": {"input": -1, "output": 1}}}))
    with pytest.raises(PricesError, match=r"prices.json: models\.openai:x\.input"):
        load_prices(mine)
    mine.write_text(json.dumps({"format": "vscbench-prices/1", "models": {"gpt-4o": {"input": 1, "output": 1}}}))
    with pytest.raises(PricesError, match="not PROVIDER:MODEL"):
        load_prices(mine)
    mine.write_text("{not json")
    with pytest.raises(PricesError, match="is not JSON"):
        load_prices(mine)


def test_image_rules_reproduce_the_providers_worked_examples() -> None:
    tiles = ImageRule(rule="tiles", base=85, tile=170)
    assert image_tokens(tiles, 1024, 1024) == 765 and image_tokens(tiles, 2048, 4096) == 1105
    patches = ImageRule(rule="patches", multiplier=1.0)
    assert image_tokens(patches, 1024, 1024) == 1024 and image_tokens(patches, 1800, 2400) == 1452
    pixels = ImageRule(rule="pixels", pixels_per_token=750, max_long_edge=1568, max_tokens=1600)
    assert image_tokens(pixels, 200, 200) == 54 and image_tokens(pixels, 1000, 1000) == 1334
    assert image_tokens(pixels, 4000, 4000) <= 1600
    gemini = ImageRule(rule="gemini_tiles", tokens=258, small_side=384, tile_side=768)
    assert image_tokens(gemini, 300, 300) == 258 and image_tokens(gemini, 1024, 1024) == 1032


def test_requests_are_estimated_by_bytes_and_by_the_image_size_sent(tmp_path: Path) -> None:
    from PIL import Image

    assert text_tokens("abcd") == 1 and text_tokens("abcde") == 2 and text_tokens("日本") == 2  # 6 bytes
    image = tmp_path / "big.png"
    Image.new("RGB", (3000, 1500)).save(image)
    assert sent_size(image, 1024) == (1024, 512) and sent_size(image, 0) == (3000, 1500)
    request = Request(sample_id="s", messages=[Message.text("system", "x" * 40), Message.user("y" * 8, image, "h")],
                      config=GenerationConfig(max_image_side=1024))  # fmt: skip
    rule = shipped_prices().image_rule("openai:gpt-4o")
    assert rule is not None
    # 3 to prime the reply, 4 per message, 40 and 8 bytes of text, and the image at the size sent
    assert request_tokens(request, rule) == (3 + 8 + 10 + 2 + image_tokens(rule, 1024, 512), 0)
    assert request_tokens(request, None)[1] == 1  # a local model: the image is left uncounted, and said so


def test_one_point_of_precision_follows_the_square_root_rule() -> None:
    point = precision_cost(0.10, 100, 0.02)
    assert point is not None
    assert point["extra_samples"] == math.ceil(100 * (10 / 9) ** 2 - 100) == 24
    assert point["cost_usd"] == pytest.approx(24 * 0.02)
    assert precision_cost(0.009, 100, 0.02) is None  # already narrower than a point
    assert precision_cost(0.10, 100, None) is None  # price unknown
