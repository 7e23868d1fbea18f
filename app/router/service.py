"""The router as a use case the API, CLI and scheduler call: one context per process, one run per call."""

from __future__ import annotations

from app.router.graph import compiled_graph, run_router
from app.router.schemas import RouterRunRequest, RouterRunResult
from app.router.state import RouterContext

__all__ = ["RouterService"]


class RouterService:
    """Runs the router graph with the process's clients.

    The composition root (``app.bootstrap.Container.router``) builds one per process with its
    :class:`RouterContext`; the container, not the service, closes the bus and the broker.
    """

    def __init__(self, context: RouterContext) -> None:
        self.context = context
        compiled_graph()  # compile at start-up, not on the first request

    def run(self, request: RouterRunRequest) -> RouterRunResult:
        """Run the graph once for ``request``."""
        return run_router(request, self.context)
