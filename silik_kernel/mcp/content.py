"""Tool results as MCP content: JSON text, and images under a byte cap."""

from __future__ import annotations

import base64
import json
from typing import Any

from mcp.types import CallToolResult, ImageContent, TextContent

from silik_kernel.tools.base import Image

DEFAULT_MAX_IMAGE_BYTES = 1_000_000


def as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def image_content(image: Image, max_bytes: int) -> ImageContent | TextContent:
    """The image for the model to look at, or a note when it is over the cap
    (big base64 images overflow clients and models' context)."""
    if len(image.data) > max_bytes:
        return TextContent(
            type="text",
            text=(
                f"[an {image.mime} image of {len(image.data)} bytes was left out: over the "
                f"image cap of {max_bytes} bytes (the server's --max-image-bytes); draw it "
                "smaller (e.g. a lower dpi) to see it]"
            ),
        )
    return ImageContent(
        type="image", data=base64.b64encode(image.data).decode(), mime_type=image.mime
    )


def tool_result(value: Any, max_image_bytes: int) -> CallToolResult:
    """A tool's return value (text, JSON-able data, or a list ending in images)."""
    items = (
        value if isinstance(value, list) and any(isinstance(v, Image) for v in value) else [value]
    )
    content: list[Any] = []
    for item in items:
        if isinstance(item, Image):
            content.append(image_content(item, max_image_bytes))
        else:
            content.append(TextContent(type="text", text=as_text(item)))
    return CallToolResult(content=content)


def error_result(message: str) -> CallToolResult:
    """A failed call the model reads (isError), never a dropped connection."""
    return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)
