"""The surface the official MCP conformance suite is run against.

Every tool and resource here is an ordinary Chamberlain action, so each request
of the suite passes the whole governed pipeline: grant, tenant, validation,
authorization, execution in a transaction and a call record.
"""

from __future__ import annotations

import base64

from pydantic import BaseModel

from chamberlain import ActionError, Surface
from chamberlain.content import AudioBlock, Content, EmbeddedResource, ImageBlock, ResourceBlock, TextBlock

surface = Surface("chamberlain-conformance", description="MCP conformance fixture served through Chamberlain's pipeline.")

# A 1x1 red PNG and a 1-sample silent WAV: minimal valid media.
RED_PIXEL_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)
SILENT_WAV = (
    b"RIFF"
    + (38).to_bytes(4, "little")
    + b"WAVEfmt "
    + (16).to_bytes(4, "little")
    + (1).to_bytes(2, "little")
    + (1).to_bytes(2, "little")
    + (8000).to_bytes(4, "little")
    + (16000).to_bytes(4, "little")
    + (2).to_bytes(2, "little")
    + (16).to_bytes(2, "little")
    + b"data"
    + (2).to_bytes(4, "little")
    + b"\x00\x00"
)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@surface.action("test_simple_text", risk="read")
async def simple_text() -> Content:
    """Returns one text block."""
    return Content(content=[TextBlock(text="This is a simple text response for testing.")])


@surface.action("test_image_content", risk="read")
async def image_content() -> Content:
    """Returns a 1x1 PNG image."""
    return Content(content=[ImageBlock(data=_b64(RED_PIXEL_PNG), mime_type="image/png")])


@surface.action("test_audio_content", risk="read")
async def audio_content() -> Content:
    """Returns a short WAV sound."""
    return Content(content=[AudioBlock(data=_b64(SILENT_WAV), mime_type="audio/wav")])


@surface.action("test_embedded_resource", risk="read")
async def embedded_resource() -> Content:
    """Returns an embedded text resource."""
    resource = EmbeddedResource(
        uri="test://embedded-resource", mime_type="text/plain", text="This is an embedded resource content."
    )
    return Content(content=[ResourceBlock(resource=resource)])


@surface.action("test_multiple_content_types", risk="read")
async def multiple_content_types() -> Content:
    """Returns text, an image and an embedded JSON resource."""
    return Content(
        content=[
            TextBlock(text="Multiple content types test:"),
            ImageBlock(data=_b64(RED_PIXEL_PNG), mime_type="image/png"),
            ResourceBlock(
                resource=EmbeddedResource(
                    uri="test://mixed-content-resource", mime_type="application/json", text='{"test":"data","value":123}'
                )
            ),
        ]
    )


@surface.action("test_error_handling", risk="read")
async def error_handling() -> Content:
    """Always refuses, to show how a tool error reaches the model."""
    raise ActionError("This tool intentionally returns an error for testing", code="intentional-error")


class address(BaseModel):  # noqa: N801 - the suite expects the $defs key "address"
    street: str | None = None
    city: str | None = None


@surface.action("json_schema_2020_12_tool", risk="read", description="Tool with JSON Schema 2020-12 features")
async def json_schema_tool(name: str | None = None, address: address | None = None) -> Content:
    return Content(content=[TextBlock(text=f"name={name} address={address}")])


@surface.action("static_text", risk="read", resource="test://static-text", mime_type="text/plain")
async def static_text() -> str:
    """A static text resource."""
    return "This is the content of the static text resource."


@surface.action("static_binary", risk="read", resource="test://static-binary", mime_type="image/png")
async def static_binary() -> bytes:
    """A static binary resource (a PNG)."""
    return RED_PIXEL_PNG


class TemplateData(BaseModel):
    id: str
    templateTest: bool
    data: str


@surface.action("template_data", risk="read", resource="test://template/{id}/data", mime_type="application/json")
async def template_data(id: str) -> TemplateData:
    """A resource template: the id in the URI is the action's argument."""
    return TemplateData(id=id, templateTest=True, data=f"Data for ID: {id}")
