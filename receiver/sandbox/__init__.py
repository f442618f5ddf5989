"""Loopback emulators of the Alibaba Cloud services vodhook talks to, for tests and local runs."""
