"""Brokers: where guarded order intents are executed (``simulated`` or ``alpaca``).

The configured broker is built by the composition root (``app.bootstrap.build_broker``).
"""

from app.execution.ports import Broker, BrokerCapability

__all__ = ["Broker", "BrokerCapability"]
