"""Reading an uploaded file with a size limit (rosters are small; a huge upload is a mistake)."""

from __future__ import annotations

from fastapi import UploadFile

from server.errors import InvalidInput

MAX_UPLOAD_BYTES = 10 * 1024 * 1024


async def read_upload(file: UploadFile, limit: int = MAX_UPLOAD_BYTES) -> bytes:
    data = await file.read(limit + 1)
    if len(data) > limit:
        mb = limit // (1024 * 1024)
        raise InvalidInput(
            f"文件过大（上限 {mb} MB）",
            f"file too large (limit {mb} MB)",
            code="file_too_large",
            details=[{"field": "file", "code": "file_too_large"}],
        )
    return data
