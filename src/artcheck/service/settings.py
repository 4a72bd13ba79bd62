"""Service limits, each with a default that suits one small server; all overridable."""

from __future__ import annotations

from pydantic import BaseModel, Field

from artcheck.images import MAX_PIXELS


class ServiceSettings(BaseModel):
    max_file_bytes: int = Field(20 * 1024 * 1024, gt=0, description="largest single upload")
    max_request_bytes: int = Field(100 * 1024 * 1024, gt=0, description="largest request body")
    max_files: int = Field(32, gt=0, description="images per request")
    max_pixels: int = Field(MAX_PIXELS, gt=0, description="decoded pixel count per image")
    request_timeout_s: float = Field(60.0, gt=0, description="deadline for checking one request's images; past it "
                                     "the answer is 504 and (with process workers) the worker is recycled")
    body_timeout_s: float = Field(30.0, gt=0, description="the whole request body must arrive within this time, "
                                  "else 408 and the connection is closed (slow or stalled uploads)")
    max_concurrency: int = Field(2, gt=0, description="requests running inference at once (worker processes, each "
                                 "with its own copy of the model)")
    max_bytes_in_flight: int = Field(200 * 1024 * 1024, gt=0, description="request bodies held in memory at once, "
                                     "over all requests; a request that would go past it gets 503 before its body "
                                     "is read")
    max_queue: int = Field(8, ge=0, description="requests waiting for a slot before 503")
    retry_after_s: int = Field(2, gt=0)
