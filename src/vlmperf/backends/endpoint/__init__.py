"""The endpoint backend: OpenAI-compatible chat completions over aiohttp; never imports torch."""
