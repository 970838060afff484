"""The MCP conformance suite's fixture server, as an upstream: FastMCP over stdio.

Written from the "Server Implementation Requirements" each scenario of
``@modelcontextprotocol/conformance`` states (``conformance list --server``): the same
tools, resources and prompts, with the same names and answers. The gateway is put in
front of it (``test_conformance_through_gateway.py``) and the suite is run against the
gateway, so what passes, passes through the governed pipeline.
"""

from __future__ import annotations

import asyncio
import base64
import json

import mcp_types
from fastmcp import Context, FastMCP
from fastmcp.exceptions import ToolError
from fastmcp.prompts import Message
from fastmcp.tools import Tool
from pydantic import BaseModel, Field

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
WAV = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAIA+AAACABAAZGF0YQIAAAAAAA=="

server = FastMCP("conformance-fixture", dereference_schemas=False)  # the suite checks $defs are kept
content = {"output_schema": None, "annotations": {"readOnlyHint": True}}


@server.tool(**content)  # type: ignore[call-overload]
def test_simple_text() -> list[mcp_types.ContentBlock]:
    """Tests simple text content response"""
    return [mcp_types.TextContent(type="text", text="This is a simple text response for testing.")]


@server.tool(**content)  # type: ignore[call-overload]
def test_image_content() -> list[mcp_types.ContentBlock]:
    """Tests image content response"""
    return [mcp_types.ImageContent(type="image", data=PNG, mime_type="image/png")]


@server.tool(**content)  # type: ignore[call-overload]
def test_audio_content() -> list[mcp_types.ContentBlock]:
    """Tests audio content response"""
    return [mcp_types.AudioContent(type="audio", data=WAV, mime_type="audio/wav")]


def _text_resource(uri: str, mime_type: str, text: str) -> mcp_types.EmbeddedResource:
    return mcp_types.EmbeddedResource(
        type="resource", resource=mcp_types.TextResourceContents(uri=uri, mime_type=mime_type, text=text)
    )


@server.tool(**content)  # type: ignore[call-overload]
def test_embedded_resource() -> list[mcp_types.ContentBlock]:
    """Tests embedded resource content response"""
    return [_text_resource("test://embedded-resource", "text/plain", "This is an embedded resource content.")]


@server.tool(**content)  # type: ignore[call-overload]
def test_multiple_content_types() -> list[mcp_types.ContentBlock]:
    """Tests response with multiple content types (text, image, resource)"""
    return [
        mcp_types.TextContent(type="text", text="Multiple content types test:"),
        mcp_types.ImageContent(type="image", data=PNG, mime_type="image/png"),
        _text_resource("test://mixed-content-resource", "application/json", '{"test":"data","value":123}'),
    ]


@server.tool(**content)  # type: ignore[call-overload]
def test_error_handling() -> list[mcp_types.ContentBlock]:
    """Tests error response handling"""
    raise ToolError("This tool intentionally returns an error for testing")


def _schema_tool(name: str | None = None, address: dict[str, str] | None = None) -> list[mcp_types.ContentBlock]:
    return [mcp_types.TextContent(type="text", text=f"name={name} address={address}")]


server.add_tool(
    Tool.from_function(
        _schema_tool,
        name="json_schema_2020_12_tool",
        description="Tool with JSON Schema 2020-12 features",
        output_schema=None,
        annotations=mcp_types.ToolAnnotations(read_only_hint=True),
    ).model_copy(
        update={
            "parameters": {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "$defs": {
                    "address": {"type": "object", "properties": {"street": {"type": "string"}, "city": {"type": "string"}}}
                },
                "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"}},
                "additionalProperties": False,
            }
        }
    )
)


# What needs the upstream to reach the suite's client in the middle of a call: the gateway
# does not pass it through (see docs/how-to/govern-an-mcp-server.md).


@server.tool(**content)  # type: ignore[call-overload]
async def test_tool_with_logging(ctx: Context) -> list[mcp_types.ContentBlock]:
    """Tests tool that emits log messages during execution"""
    for message in ("Tool execution started", "Tool processing data", "Tool execution completed"):
        await ctx.info(message)
        await asyncio.sleep(0.05)
    return [mcp_types.TextContent(type="text", text="Tool with logging executed successfully")]


@server.tool(**content)  # type: ignore[call-overload]
async def test_tool_with_progress(ctx: Context) -> list[mcp_types.ContentBlock]:
    """Tests tool that reports progress notifications"""
    for step in (0, 50, 100):
        await ctx.report_progress(progress=step, total=100, message=f"Completed step {step} of 100")
        await asyncio.sleep(0.05)
    return [mcp_types.TextContent(type="text", text="Progress reported")]


@server.tool(**content)  # type: ignore[call-overload]
async def test_sampling(prompt: str, ctx: Context) -> list[mcp_types.ContentBlock]:
    """Tests server-initiated sampling (LLM completion request)"""
    try:
        reply = await ctx.session.create_message(
            messages=[mcp_types.SamplingMessage(role="user", content=mcp_types.TextContent(type="text", text=prompt))],
            max_tokens=100,
        )
        text = getattr(reply.content, "text", "No response")
    except Exception as err:
        text = f"Sampling not supported or error: {err}"
    return [mcp_types.TextContent(type="text", text=f"LLM response: {text}")]


class UserResponse(BaseModel):
    response: str = Field(description="User's response")


@server.tool(**content)  # type: ignore[call-overload]
async def test_elicitation(message: str, ctx: Context) -> list[mcp_types.ContentBlock]:
    """Tests server-initiated elicitation (user input request)"""
    return await _elicit(ctx, message)


@server.tool(**content)  # type: ignore[call-overload]
async def test_elicitation_sep1034_defaults(ctx: Context) -> list[mcp_types.ContentBlock]:
    """Tests elicitation with default values for all primitive types (SEP-1034)"""
    return await _elicit(ctx, "Please provide user information")


@server.tool(**content)  # type: ignore[call-overload]
async def test_elicitation_sep1330_enums(ctx: Context) -> list[mcp_types.ContentBlock]:
    """Tests elicitation with enum schema variations per SEP-1330"""
    return await _elicit(ctx, "Please select values using different enum schema types")


async def _elicit(ctx: Context, message: str) -> list[mcp_types.ContentBlock]:
    try:
        result = await ctx.elicit(message=message, response_type=UserResponse)
        text = f"Elicitation result: action={result.action}"
    except Exception as err:
        text = f"Elicitation not supported or error: {err}"
    return [mcp_types.TextContent(type="text", text=text)]


# Resources and prompts: not proxied by the gateway.


@server.resource("test://static-text", mime_type="text/plain")
def static_text() -> str:
    """A static text resource for testing"""
    return "This is the content of the static text resource."


@server.resource("test://static-binary", mime_type="image/png")
def static_binary() -> bytes:
    """A static binary resource (image) for testing"""
    return base64.b64decode(PNG)


@server.resource("test://template/{id}/data", mime_type="application/json")
def template_data(id: str) -> str:
    """A resource template with parameter substitution"""
    return json.dumps({"id": id, "templateTest": True, "data": f"Data for ID: {id}"})


@server.prompt
def test_simple_prompt() -> list[Message]:
    """A simple prompt without arguments"""
    return [Message("This is a simple prompt for testing.")]


@server.prompt
def test_prompt_with_arguments(arg1: str, arg2: str) -> list[Message]:
    """A prompt with required arguments"""
    return [Message(f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'")]


if __name__ == "__main__":
    server.run(transport="stdio", show_banner=False, log_level="warning")
