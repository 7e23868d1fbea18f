"""Long-running processes: bus consumers and their entry-point helpers."""
