"""Tool results as MCP content: JSON text, and images under a byte cap; larger
images are kept a while and linked, the server serving them as resources."""

from __future__ import annotations

import base64
import json
import uuid
from collections import OrderedDict
from typing import Any

from mcp.server.mcpserver.exceptions import ResourceNotFoundError
from mcp.types import CallToolResult, ImageContent, ResourceLink, TextContent

from silik_kernel.tools.base import Image

DEFAULT_MAX_IMAGE_BYTES = 1_000_000
IMAGE_URI = "silik://images/"
KEPT_IMAGES = 20  # large images kept for reading, the oldest dropped first ...
KEPT_IMAGE_BYTES = 50_000_000  # ... and at most this many bytes of them


def as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


class Images:
    """Images as content: inline under ``max_bytes``, else a link to a resource
    of this server (big base64 images overflow clients and models' context)."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_IMAGE_BYTES) -> None:
        self.max_bytes = max_bytes
        self.kept: OrderedDict[str, Image] = OrderedDict()

    def content(self, image: Image) -> list[Any]:
        if len(image.data) <= self.max_bytes:
            data = base64.b64encode(image.data).decode()
            return [ImageContent(type="image", data=data, mime_type=image.mime)]
        uri = self.keep(image)
        note = (
            f"[an {image.mime} image of {len(image.data)} bytes is over the image cap of "
            f"{self.max_bytes} bytes (the server's --max-image-bytes), so it is not shown "
            f"inline: read the resource {uri} to get it (the last {KEPT_IMAGES} large "
            "images are kept), or draw it smaller (e.g. a lower dpi) to see it here]"
        )
        link = ResourceLink(
            type="resource_link",
            uri=uri,
            name=uri.removeprefix(IMAGE_URI),
            mime_type=image.mime,
            size=len(image.data),
            description="an image over the inline cap",
        )
        return [TextContent(type="text", text=note), link]

    def keep(self, image: Image) -> str:
        """Keep ``image`` (the newest always; older ones within the bounds); its URI."""
        image_id = uuid.uuid4().hex[:12]
        self.kept[image_id] = image
        size = sum(len(i.data) for i in self.kept.values())
        while len(self.kept) > 1 and (len(self.kept) > KEPT_IMAGES or size > KEPT_IMAGE_BYTES):
            _, dropped = self.kept.popitem(last=False)
            size -= len(dropped.data)
        return IMAGE_URI + image_id

    def get(self, image_id: str) -> Image:
        image = self.kept.get(image_id)
        if image is None:
            raise ResourceNotFoundError(
                f"no image {IMAGE_URI}{image_id}: it has expired (only the last "
                f"{KEPT_IMAGES} large images are kept) or never existed; run the code "
                "that draws it again for a new link"
            )
        return image

    def mime_of(self, uri: str) -> str | None:
        """The mime type of a kept image's URI (None for other URIs)."""
        image = self.kept.get(uri.removeprefix(IMAGE_URI)) if uri.startswith(IMAGE_URI) else None
        return image.mime if image is not None else None


def tool_result(value: Any, images: Images) -> CallToolResult:
    """A tool's return value (text, JSON-able data, or a list ending in images)."""
    items = (
        value if isinstance(value, list) and any(isinstance(v, Image) for v in value) else [value]
    )
    content: list[Any] = []
    for item in items:
        if isinstance(item, Image):
            content.extend(images.content(item))
        else:
            content.append(TextContent(type="text", text=as_text(item)))
    return CallToolResult(content=content)


def error_result(message: str) -> CallToolResult:
    """A failed call the model reads (isError), never a dropped connection."""
    return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)
