"""Where the gateway settings are, read without importing the gateway client.

``new`` asks on every start whether the session has a default gateway: that
answer needs no pydantic models (config.py), tornado or jupyter_server (client.py).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from jupyter_core.paths import jupyter_config_dir

from silik_kernel.errors import SilikError

ENV_URL = "SILIK_GATEWAY_URL"
ENV_TOKEN = "SILIK_GATEWAY_TOKEN"
ENV_HEADERS = "SILIK_GATEWAY_HEADERS"
ENV_CONFIG = "SILIK_GATEWAY_CONFIG"
CONFIG_NAME = "silik_gateway.json"


def config_path(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    return env.get(ENV_CONFIG) or os.path.join(jupyter_config_dir(), CONFIG_NAME)


def read_config_file(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise SilikError(
            f"cannot read the gateway config {path}: {exc}",
            hint='it must be a JSON object such as {"url": "https://...", "token": "..."}',
        ) from None
    if not isinstance(data, dict):
        raise SilikError(f"the gateway config {path} must be a JSON object", hint=None)
    return data


def session_gateway_url(env: Mapping[str, str] | None = None) -> str | None:
    """The gateway `new` uses without --gateway: SILIK_GATEWAY_URL, else the file's url."""
    env = os.environ if env is None else env
    if env.get(ENV_URL):
        return env[ENV_URL]
    url = read_config_file(config_path(env)).get("url")
    return url if isinstance(url, str) and url else None


def configured_gateway_url(env: Mapping[str, str] | None = None) -> str | None:
    """:func:`session_gateway_url`, or None when the config file cannot be read (that
    is reported when a gateway is used)."""
    try:
        return session_gateway_url(env)
    except SilikError:
        return None
