"""Downloads under the ASGI server (uvicorn, ``make run`` and the Procfile) stream asynchronously.

Django serves a ``StreamingHttpResponse`` (a CSV export, a static file from WhiteNoise, an Excel file)
over ASGI by iterating it asynchronously; handed a synchronous iterator it warns "StreamingHttpResponse
must consume synchronous iterators" and reads the WHOLE body into memory before sending a byte. This
middleware gives every such response, under ASGI only, an asynchronous iterator that pulls one chunk
at a time in the request's own thread (``thread_sensitive``: the view's database connection, e.g. the
export's COPY), and closes the original iterator in that thread when the download ends or is
abandoned. Under WSGI (gunicorn, the test client) responses pass through untouched.

It sits before WhiteNoise in ``MIDDLEWARE`` so that static files get it too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse


async def async_chunks(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """``chunks`` as an asynchronous iterator, one ``next()`` at a time in the request's thread."""
    step = sync_to_async(next, thread_sensitive=True)
    try:
        while (chunk := await step(chunks, None)) is not None:
            yield chunk
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            await sync_to_async(close, thread_sensitive=True)()


def stream_for_asgi(get_response: Callable[[HttpRequest], HttpResponse]):
    """The middleware (see the module docstring)."""

    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        if (
            isinstance(request, ASGIRequest)
            and isinstance(response, StreamingHttpResponse)
            and not response.is_async
        ):
            response.streaming_content = async_chunks(iter(response.streaming_content))
        return response

    return middleware
