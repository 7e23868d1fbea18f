"""Event bus: one interface, three backends (local log, Redis Streams, Azure Event Hubs)."""
