"""Large images kept for reading as resources: bounded, the oldest dropped first."""

from __future__ import annotations

import mcp_helpers  # noqa: F401  (skips the module without the mcp package)
import pytest

from silik_kernel.tools.base import Image


def test_the_kept_images_are_bounded_by_count_and_bytes(monkeypatch):
    from mcp.server.mcpserver.exceptions import ResourceNotFoundError

    from silik_kernel.mcp import content

    images = content.Images(max_bytes=10)
    uris = [images.content(Image(bytes([i]) * 11, "image/png"))[1].uri for i in range(25)]
    assert len(images.kept) == content.KEPT_IMAGES
    ids = [u.removeprefix(content.IMAGE_URI) for u in uris]
    with pytest.raises(ResourceNotFoundError, match="has expired"):
        images.get(ids[4])
    assert images.get(ids[5]).data == bytes([5]) * 11
    assert images.mime_of(uris[-1]) == "image/png" and images.mime_of("silik://x") is None
    monkeypatch.setattr(content, "KEPT_IMAGE_BYTES", 40)
    newer = images.content(Image(b"n" * 25, "image/jpeg"))[1]
    assert list(images.kept) == [ids[-1], newer.uri.removeprefix(content.IMAGE_URI)]
    # the newest is kept even when it alone is over the budget
    alone = images.content(Image(b"a" * 50, "image/gif"))[1]
    assert list(images.kept) == [alone.uri.removeprefix(content.IMAGE_URI)]
    assert images.get(list(images.kept)[0]).mime == "image/gif"
