"""Use cases the edges (API, CLI, workers) call, and the container that wires them."""
