"""The API's request and response shapes, for /openapi.json and /docs ("Try it out" offers an
upload). The app builds its answers from ``Verdict.to_dict``; these models document them."""

from __future__ import annotations

from typing import Any, Optional

from pydantic import BaseModel, Field


class EvidenceModel(BaseModel):
    kind: str = Field(description="c2pa | metadata | xmp | watermark | input | model")
    detail: str
    weight: float = Field(description="1: decides the verdict alone; 0: informative; the model's is 2 P(ai) - 1")


class ImageModel(BaseModel):
    sha256: str
    width: int
    height: int
    format: Optional[str] = None


class ResultModel(BaseModel):
    path: str = Field(description="the upload's file name (a label, never used as a path)")
    verdict: Optional[str] = Field(description="ai | human | uncertain; null when the file could not be checked")
    p_ai: Optional[float] = Field(description="calibrated model probability that the image is AI-generated")
    reason: str
    evidence: list[EvidenceModel]
    model: dict[str, str]
    image: Optional[ImageModel] = None
    error: Optional[str] = Field(None, description="why the file could not be checked")
    family: Optional[str] = Field(None, description="the generator family it looks like (artcheck.families), or "
                                  "'unknown'; for ai and uncertain verdicts only, never part of the verdict")
    family_p: Optional[list[tuple[str, float]]] = Field(None, description="the three most probable families with "
                                                        "their probabilities (null when provenance names the model)")
    family_source: Optional[str] = Field(None, description="'model', or the provenance that names the model")


class SummaryModel(BaseModel):
    checked: int
    ai: int
    human: int
    uncertain: int
    error: int


class CheckResponse(BaseModel):
    results: list[ResultModel]
    summary: SummaryModel


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


UPLOAD_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["files"],
    "properties": {"files": {"type": "array", "items": {"type": "string", "format": "binary"},
                             "description": "one or more images (PNG, JPEG, WebP, GIF, BMP, TIFF, AVIF)"}}}}}}}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": what} for code, what in (
        (400, "not multipart, or no 'files' part"), (408, "the body did not arrive in time"),
        (413, "too many files, or a file or the body over the limit"), (415, "not multipart/form-data"),
        (422, "no upload could be read as an image"), (503, "busy: retry after Retry-After seconds"),
        (504, "checking took longer than the deadline"))}
