"""Brokers: where guarded order intents are executed (``simulated`` or ``alpaca``)."""

from app.execution.factory import create_broker
from app.execution.ports import Broker, BrokerCapability

__all__ = ["Broker", "BrokerCapability", "create_broker"]
