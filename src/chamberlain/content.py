"""Rich results: an action may answer with content blocks instead of JSON data.

Some answers are not records: a product photo, a generated PDF, a sound. An action
declared ``-> Content`` returns blocks that MCP clients receive as native content
(text, image, audio, embedded resource) and REST clients as the same JSON.
Binary data travels base64-encoded, as in MCP.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["AudioBlock", "Block", "Content", "EmbeddedResource", "ImageBlock", "ResourceBlock", "TextBlock"]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)


class TextBlock(_Wire):
    type: Literal["text"] = "text"
    text: str


class ImageBlock(_Wire):
    type: Literal["image"] = "image"
    data: str = Field(description="Base64-encoded image.")
    mime_type: str = Field(alias="mimeType")


class AudioBlock(_Wire):
    type: Literal["audio"] = "audio"
    data: str = Field(description="Base64-encoded audio.")
    mime_type: str = Field(alias="mimeType")


class EmbeddedResource(_Wire):
    uri: str
    mime_type: str | None = Field(default=None, alias="mimeType")
    text: str | None = None
    blob: str | None = Field(default=None, description="Base64-encoded bytes.")


class ResourceBlock(_Wire):
    type: Literal["resource"] = "resource"
    resource: EmbeddedResource


Block = Annotated[TextBlock | ImageBlock | AudioBlock | ResourceBlock, Field(discriminator="type")]


class Content(_Wire):
    """What an action returns when its answer is content for a model, not data."""

    content: list[Block]
