"""The Pocket API: an httpx client, and parsers that turn payloads into models."""
