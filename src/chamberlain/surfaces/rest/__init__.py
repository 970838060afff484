"""The REST surface: RFC 9457 errors, OpenAPI 3.1 from the declared actions."""

from ._openapi import openapi_document
from ._problems import PROBLEM_JSON, problem_response
from ._routes import RestSurface

__all__ = ["PROBLEM_JSON", "RestSurface", "openapi_document", "problem_response"]
