"""A request body size limit that answers 413 in JSON, like every other error.

A declared Content-Length over the limit is refused before the body is read; a body
sent without one (chunked) is counted as it arrives and refused when it passes the limit.
"""

from __future__ import annotations

import json

from fastapi import HTTPException, status
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    def _detail(self) -> str:
        return (
            f"The request body is larger than {self.max_body_bytes} bytes "
            "(ADAMLAB_MAX_BODY_BYTES); an experiment spec needs far less."
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            body = json.dumps({"detail": self._detail()}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": status.HTTP_413_CONTENT_TOO_LARGE,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"connection", b"close"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    # Raised inside the app's body read: FastAPI passes an HTTPException
                    # on to the JSON error handler.
                    raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, self._detail())
            return message

        await self.app(scope, counting_receive, send)
