"""A small AMQP 1.0 server that speaks enough Event Hubs for the azure-eventhub client (tests only)."""
