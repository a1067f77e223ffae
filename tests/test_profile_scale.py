"""Issue 13 item 6: big profiles stay fast — errors are placed on lines in one pass, only for those shown,
and the lines of a tomli-w-written profile (`[endpoint.price]` sub-tables) are found too."""

from __future__ import annotations

import pytest

from orcli.errors import ProfileError
from orcli.profile import lines as profile_mod
from orcli.profile.parse import parse_profile
from orcli.profile.write import profile_text


def _big(n: int, bad_price: bool) -> str:
    lines = ['[providers.p]\nbase_url = "https://p.example/v1"\n']
    for i in range(n):
        prompt = -1 if bad_price else 0.5
        lines.append(f'[[endpoint]]\nmodel = "m{i}"\nprovider = "p"\nprice = {{ prompt = {prompt}, completion = 1 }}\n')
    return "\n".join(lines)


@pytest.fixture
def header_scans(monkeypatch):
    """How many times the validator scanned the text for table headers."""
    count = {"n": 0}
    real = profile_mod.TableHeaders

    def counting(text):
        count["n"] += 1
        return real(text)

    monkeypatch.setattr(profile_mod, "TableHeaders", counting)
    return count


def test_a_valid_profile_is_never_scanned_for_lines(header_scans):
    parse_profile(_big(500, bad_price=False), "big.toml")
    assert header_scans["n"] == 0


def test_a_thousand_errors_scan_the_file_once_and_are_all_shown(header_scans):
    with pytest.raises(ProfileError) as info:
        parse_profile(_big(1000, bad_price=True), "big.toml")
    assert header_scans["n"] == 1
    message = info.value.message
    assert message.startswith("invalid profile: big.toml:7: endpoint[1].price.prompt: expected a finite number >= 0")
    assert "big.toml:12: endpoint[2].price.prompt" in message
    assert "big.toml:5002: endpoint[1000].price.prompt" in message
    assert message.count("expected a finite number >= 0") == 1000 and "more)" not in message


PARAMS = ["temperature", "top_p", "max_tokens", "stop", "seed", "tools", "tool_choice", "response_format"]


def test_errors_in_a_written_profile_point_at_the_sub_table_line():
    data = {
        "providers": {"p": {"base_url": "https://p.example/v1"}},
        "endpoint": [
            {"model": "a", "provider": "p", "price": {"prompt": 1, "completion": 1}, "parameters": PARAMS},
            {"model": "b", "provider": "p", "price": {"prompt": 1, "completion": 1}, "parameters": PARAMS},
        ],
    }
    text = profile_text(data, "w.toml")
    assert "[endpoint.price]" in text  # too long for tomli-w's inline style: tables and sub-tables
    lines = text.splitlines()
    broken_at = max(i for i, line in enumerate(lines) if line.startswith("prompt ="))
    lines[broken_at] = "prompt = -3"
    with pytest.raises(ProfileError) as info:
        parse_profile("\n".join(lines) + "\n", "w.toml")
    assert f"w.toml:{broken_at + 1}: endpoint[2].price.prompt" in info.value.message


def test_quoted_provider_headers_are_located():
    text = '[providers."deepinfra/turbo"]\nbase_url = "https://x.example/v1"\nzdr = "yes"\n'
    with pytest.raises(ProfileError) as info:
        parse_profile(text, "q.toml")
    assert "q.toml:3: providers.deepinfra/turbo.zdr: expected true or false" in info.value.message
