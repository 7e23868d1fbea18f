"""Azure Event Hubs bus: the official azure-eventhub SDK with blob checkpoints."""

from app.bus.eventhubs.client import EventHubsBus, EventHubsConsumer
from app.bus.eventhubs.config import EventHubsConfig

__all__ = ["EventHubsBus", "EventHubsConfig", "EventHubsConsumer"]
