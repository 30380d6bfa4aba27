"""The options of ``mnist-flow app``, as a pydantic model the command line is generated from.

Imports neither Prefect nor the web stack: building the parser stays cheap.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

# Above this a body is refused unread (413): a phone photo of a digit is 2-5 MB.
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
# h11's own default; a request line plus headers above it gets 431 before any route runs.
DEFAULT_MAX_HEADER_BYTES = 16 * 1024


class AppOptions(BaseModel):
    """Where ``mnist-flow app`` listens and what it accepts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field("127.0.0.1", min_length=1, description="Address to listen on; "
                      "0.0.0.0 opens it to the network (there is no authentication).")
    port: int = Field(8000, ge=0, le=65535, description="TCP port to listen on (0: any free "
                      "port, printed at start).")
    max_body_bytes: int = Field(DEFAULT_MAX_BODY_BYTES, ge=1024, le=256 * 1024 * 1024,
                                description="Largest request body accepted; larger ones get "
                                "413 unread.")
    max_header_bytes: int = Field(DEFAULT_MAX_HEADER_BYTES, ge=1024, le=1024 * 1024,
                                  description="Largest request line plus headers; larger "
                                  "ones get 431.")
