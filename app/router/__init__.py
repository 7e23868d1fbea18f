"""The order router: a LangGraph graph from bars to a guarded, published, executed order."""

from app.router.graph import NODE_NAMES, build_graph, compiled_graph, run_router
from app.router.schemas import RouterRunRequest, RouterRunResult

__all__ = ["NODE_NAMES", "RouterRunRequest", "RouterRunResult", "build_graph", "compiled_graph", "run_router"]
