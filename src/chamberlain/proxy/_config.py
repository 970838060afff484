"""The proxy configuration file: which upstreams a gateway governs, and how.

    [[openapi]]
    name = "billing"                          # the upstream's name and its actions' namespace
    spec = "billing.yaml"                     # relative to this file
    base_url = "https://billing.internal"
    include = ["getInvoice", "POST /refunds"] # operationIds or "METHOD /path" globs; all if absent
    headers = { Authorization = "Bearer ${BILLING_TOKEN}" }
    risk = { createRefund = "money" }
    undo = { createRefund = "cancelRefund" }
    timeout_s = 5
    retries = 2

    [[mcp]]
    name = "weather"
    url = "http://127.0.0.1:9000/mcp"        # or: command = ["python", "server.py"]
    headers = { Authorization = "Bearer ${WEATHER_TOKEN}" }
    risk = { transfer = "money" }

TOML because it is in the standard library and reads well for people. Credentials are
never written in the file: ``${VAR}`` is replaced from the environment when the file is
read, and a missing variable stops the gateway at start rather than sending a request
without its credentials.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._upstream import UpstreamPolicy

__all__ = ["McpConfig", "OpenApiConfig", "ProxyConfig", "ProxyConfigError", "load_proxy_config"]

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_POLICY_KEYS = {"timeout_s", "retries", "backoff_s", "max_concurrency", "breaker_failures", "breaker_reset_s"}


class ProxyConfigError(ValueError):
    """The file is wrong; the message names the entry and the key."""


@dataclass(frozen=True)
class OpenApiConfig:
    name: str
    spec: Path
    base_url: str
    include: list[str] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    risk: dict[str, str] = field(default_factory=dict)
    undo: dict[str, str] = field(default_factory=dict)
    policy: UpstreamPolicy = field(default_factory=UpstreamPolicy)


@dataclass(frozen=True)
class McpConfig:
    name: str
    url: str | None = None
    command: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    risk: dict[str, str] = field(default_factory=dict)
    policy: UpstreamPolicy = field(default_factory=UpstreamPolicy)
    rediscover_s: float = 60.0
    """List the upstream's tools again at most this often (and whenever it says they changed)."""


@dataclass(frozen=True)
class ProxyConfig:
    openapi: list[OpenApiConfig] = field(default_factory=list)
    mcp: list[McpConfig] = field(default_factory=list)


def _expand(value: Any, where: str, environ: dict[str, str]) -> Any:
    if isinstance(value, str):

        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in environ:
                raise ProxyConfigError(f"{where}: environment variable {name} is not set")
            return environ[name]

        return _VAR.sub(fill, value)
    if isinstance(value, dict):
        return {k: _expand(v, where, environ) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, where, environ) for v in value]
    return value


def _policy(entry: dict[str, Any], where: str) -> UpstreamPolicy:
    values = {k: entry.pop(k) for k in list(entry) if k in _POLICY_KEYS}
    try:
        return UpstreamPolicy(**values)
    except TypeError as err:
        raise ProxyConfigError(f"{where}: {err}") from err


def _strings(entry: dict[str, Any], key: str, where: str) -> dict[str, str]:
    value = entry.pop(key, {})
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ProxyConfigError(f"{where}: {key} must be a table of strings")
    return dict(value)


def _entry_name(entry: dict[str, Any], where: str, seen: set[str]) -> str:
    name = entry.pop("name", None)
    if not isinstance(name, str) or not _NAME.match(name):
        raise ProxyConfigError(f"{where}: name must be lower-case letters, digits and _ (it is the actions' namespace)")
    if name in seen:
        raise ProxyConfigError(f"{where}: the name {name!r} is used twice")
    seen.add(name)
    return name


def load_proxy_config(path: Path, environ: dict[str, str] | None = None) -> ProxyConfig:
    env = dict(os.environ if environ is None else environ)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise ProxyConfigError(f"{path}: {err}") from err
    unknown = set(doc) - {"openapi", "mcp"}
    if unknown:
        raise ProxyConfigError(f"{path}: unknown sections {sorted(unknown)} (expected [[openapi]] and [[mcp]])")
    seen: set[str] = set()
    config = ProxyConfig()
    for n, raw in enumerate(doc.get("openapi", []), 1):
        where = f"{path} [[openapi]] #{n}"
        entry = _expand(dict(raw), where, env)
        name = _entry_name(entry, where, seen)
        policy = _policy(entry, where)
        spec, base_url = entry.pop("spec", None), entry.pop("base_url", None)
        if not isinstance(spec, str) or not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ProxyConfigError(f"{where}: spec (a file) and base_url (http or https) are required")
        include = entry.pop("include", None)
        item = OpenApiConfig(
            name,
            (path.parent / spec).resolve(),
            base_url,
            list(include) if include is not None else None,
            _strings(entry, "headers", where),
            _strings(entry, "risk", where),
            _strings(entry, "undo", where),
            policy,
        )
        if entry:
            raise ProxyConfigError(f"{where}: unknown keys {sorted(entry)}")
        config.openapi.append(item)
    for n, raw in enumerate(doc.get("mcp", []), 1):
        where = f"{path} [[mcp]] #{n}"
        entry = _expand(dict(raw), where, env)
        name = _entry_name(entry, where, seen)
        policy = _policy(entry, where)
        url, command = entry.pop("url", None), entry.pop("command", None)
        rediscover_s = entry.pop("rediscover_s", 60.0)
        if not isinstance(rediscover_s, int | float) or rediscover_s < 0:
            raise ProxyConfigError(f"{where}: rediscover_s must be a number of seconds")
        if (url is None) == (command is None):
            raise ProxyConfigError(f"{where}: give either url (Streamable HTTP) or command (stdio)")
        if command is not None and (not isinstance(command, list) or not all(isinstance(c, str) for c in command)):
            raise ProxyConfigError(f"{where}: command must be a list of strings")
        server = McpConfig(
            name,
            url,
            command,
            _strings(entry, "env", where),
            _strings(entry, "headers", where),
            _strings(entry, "risk", where),
            policy,
            float(rediscover_s),
        )
        if entry:
            raise ProxyConfigError(f"{where}: unknown keys {sorted(entry)}")
        config.mcp.append(server)
    return config
