"""Long-running processes: bus consumers, the scheduler and its job bodies, entry-point helpers."""
