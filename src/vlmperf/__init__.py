"""vlmperf: measure what a vision-language model costs and how well it answers."""

__version__ = "0.1.0"
