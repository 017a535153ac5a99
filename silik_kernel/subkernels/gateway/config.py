"""The settings of one gateway, from defaults, the config file and the environment.

Most specific wins:

1. defaults of :class:`GatewayConfig`;
2. the top level of ``silik_gateway.json`` in the Jupyter config dir (or the
   file named by ``SILIK_GATEWAY_CONFIG``), for its ``url`` (or every gateway
   when it names none);
3. ``SILIK_GATEWAY_TOKEN`` / ``SILIK_GATEWAY_HEADERS`` (JSON), for
   ``SILIK_GATEWAY_URL`` (or every gateway when that is unset);
4. the file's ``"gateways"`` entry for the URL (or name) given to ``--gateway``.

Apart from :mod:`settings` (where the file is, whether a gateway is configured)
because pydantic is imported here, which a session without a gateway does not
pay for.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from silik_kernel.errors import SilikError
from silik_kernel.subkernels.gateway.settings import (
    ENV_HEADERS,
    ENV_TOKEN,
    ENV_URL,
    config_path,
    read_config_file,
    session_gateway_url,
)


class GatewayConfig(BaseModel):
    """How to reach one gateway."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="http(s) base URL of the gateway, e.g. https://eg.example.com")
    ws_url: str | None = Field(None, description="websocket base URL (default: url with ws/wss)")
    token: str | None = Field(None, repr=False, description="sent as `Authorization: token T`")
    auth_scheme: str = Field("token", description="the word before the token, e.g. Bearer")
    headers: dict[str, str] = Field(default_factory=dict, description="extra HTTP headers")
    validate_cert: bool = True
    connect_timeout: float = Field(10.0, gt=0, description="TCP/TLS connection, seconds")
    request_timeout: float = Field(30.0, gt=0, description="REST calls other than a start")
    launch_timeout: float = Field(120.0, gt=0, description="starting or restarting a kernel")
    reconnect_grace: float = Field(
        3.0,
        ge=0,
        description="how long a dropped websocket may take to come back before the running cell fails",
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value

    @field_validator("ws_url")
    @classmethod
    def _ws_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().rstrip("/")
        if urlsplit(value).scheme not in ("ws", "wss"):
            raise ValueError(f"{value!r} is not a ws:// or wss:// URL")
        return value

    @property
    def host(self) -> str:
        """``host:port`` as shown in the tree."""
        return urlsplit(self.url).netloc

    @property
    def websocket_base(self) -> str:
        if self.ws_url:
            return self.ws_url
        scheme, rest = self.url.split("://", 1)
        return ("wss" if scheme == "https" else "ws") + "://" + rest


def _same_url(a: str, b: str) -> bool:
    return a.strip().rstrip("/").lower() == b.strip().rstrip("/").lower()


def load_gateway_config(
    target: str | None = None, env: Mapping[str, str] | None = None
) -> GatewayConfig:
    """The settings for ``target`` (a URL or a name from the config file; None: the session's)."""
    env = os.environ if env is None else env
    path = config_path(env)
    data = read_config_file(path)
    entries = data.get("gateways") or {}
    if not isinstance(entries, dict):
        raise SilikError(f'"gateways" in {path} must map URLs or names to settings', hint=None)
    top = {k: v for k, v in data.items() if k != "gateways"}
    target = target or session_gateway_url(env)
    if not target:
        raise SilikError(
            "no gateway is configured",
            hint=f'give --gateway URL, or set {ENV_URL} (or "url" in {path})',
        )
    entry = next((v for k, v in entries.items() if _same_url(k, target)), None)
    if entry is not None and not isinstance(entry, dict):
        raise SilikError(f"the entry for {target} in {path} must be a JSON object", hint=None)
    url = (entry or {}).get("url") or target
    if "://" not in url:
        raise SilikError(
            f"unknown gateway {target!r}",
            hint=f'give an http(s):// URL, or a name from "gateways" in {path}',
        )
    settings: dict[str, Any] = {}
    if not top.get("url") or _same_url(top["url"], url):
        settings.update(top)
    if not env.get(ENV_URL) or _same_url(env[ENV_URL], url):
        if env.get(ENV_TOKEN):
            settings["token"] = env[ENV_TOKEN]
        if env.get(ENV_HEADERS):
            try:
                headers = json.loads(env[ENV_HEADERS])
            except ValueError:
                headers = None
            if not isinstance(headers, dict):
                raise SilikError(
                    f"{ENV_HEADERS} must be a JSON object of header names to values",
                    hint=f"""e.g. {ENV_HEADERS}='{{"X-User": "me"}}'""",
                )
            settings["headers"] = {**settings.get("headers", {}), **headers}
    if entry:
        settings.update(entry)
    settings["url"] = url
    try:
        return GatewayConfig.model_validate(settings)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise SilikError(f"bad gateway settings for {target}: {problems}", hint=None) from None
