"""Notifications: what to send to whom, the payloads, and their delivery with retries."""
