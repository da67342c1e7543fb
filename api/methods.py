"""Which methods a path answers: ``OPTIONS`` on any route's path is 204 with an ``Allow``
header listing them, and a method the path does not answer is 405 with the same header.

Routing raises a 405 for a path some route matches with another method; it names only
that one route's methods, while one path often has several routes (``GET`` and ``POST
/v1/experiments``). ``api.errors`` hands every 405 to ``method_not_allowed``, which
collects the methods of every route matching the path.
"""

from __future__ import annotations

from fastapi import Request, Response, status
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts

METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """The methods of every route whose path matches the request's, and OPTIONS."""
    path, root_path = request.scope["path"], request.scope.get("root_path", "")
    path = path.removeprefix(root_path) if root_path else path  # the path routing matches
    methods = {"OPTIONS"}
    for route in iter_route_contexts(request.app.routes):
        regex = getattr(route, "path_regex", None)
        route_methods = route.methods
        if regex is not None and regex.match(path) and route_methods:
            methods |= route_methods
    return sorted(methods, key=lambda method: (METHOD_ORDER + (method,)).index(method))


def method_not_allowed(request: Request) -> Response:
    """OPTIONS: 204 with ``Allow``; any other method: 405 with ``Allow`` and a sentence."""
    allow = ", ".join(allowed_methods(request))
    if request.method == "OPTIONS":
        return Response(status_code=status.HTTP_204_NO_CONTENT, headers={"Allow": allow})
    return JSONResponse(
        {"detail": f"{request.method} is not a method of {request.url.path}; it answers {allow}."},
        status_code=status.HTTP_405_METHOD_NOT_ALLOWED,
        headers={"Allow": allow},
    )
