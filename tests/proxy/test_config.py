"""The proxy configuration file: upstreams, their policies, and secrets from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from chamberlain.proxy._config import ProxyConfigError, load_proxy_config

GOOD = """
[[openapi]]
name = "billing"
spec = "specs/billing.yaml"
base_url = "https://billing.internal"
include = ["getInvoice"]
headers = { Authorization = "Bearer ${BILLING_TOKEN}" }
risk = { createRefund = "money" }
undo = { createRefund = "cancelRefund" }
timeout_s = 2.5
retries = 0

[[mcp]]
name = "weather"
command = ["python", "weather.py"]
env = { API_KEY = "${WEATHER_KEY}" }
"""


def test_a_good_file_reads_with_secrets_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "proxy.toml"
    path.write_text(GOOD)
    config = load_proxy_config(path, {"BILLING_TOKEN": "s3cret", "WEATHER_KEY": "k"})
    (billing,) = config.openapi
    assert billing.spec == (tmp_path / "specs" / "billing.yaml").resolve()
    assert billing.headers == {"Authorization": "Bearer s3cret"} and billing.risk == {"createRefund": "money"}
    assert (billing.policy.timeout_s, billing.policy.retries, billing.policy.max_concurrency) == (2.5, 0, 32)
    (weather,) = config.mcp
    assert weather.command == ["python", "weather.py"] and weather.env == {"API_KEY": "k"} and weather.url is None


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (GOOD, "BILLING_TOKEN is not set"),
        ('[[openapi]]\nname = "Billing"\nspec = "x"\nbase_url = "https://x"', "name must be lower-case"),
        ('[[openapi]]\nname = "a"\nspec = "x"\nbase_url = "ftp://x"', "base_url (http or https)"),
        ('[[openapi]]\nname = "a"\nspec = "x"\nbase_url = "https://x"\nextra = 1', "unknown keys ['extra']"),
        ('[[mcp]]\nname = "a"\nurl = "http://x"\ncommand = ["y"]', "either url"),
        ('[[mcp]]\nname = "a"\nurl = "http://x"\n[[mcp]]\nname = "a"\nurl = "http://y"', "used twice"),
        ('[[mcp]]\nname = "a"\nurl = "http://x"\ntimeout = 3', "unknown keys ['timeout']"),
        ("[server]\nport = 1", "unknown sections"),
        ("not toml [", "proxy.toml"),
    ],
)
def test_a_wrong_file_stops_the_gateway_with_a_clear_message(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "proxy.toml"
    path.write_text(text)
    with pytest.raises(ProxyConfigError, match=says.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        load_proxy_config(path, {})
