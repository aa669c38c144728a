"""Quality scoring: one module per family of metrics, each checked against its reference implementation."""
