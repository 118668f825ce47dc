"""Apps that the worker process tests run under ``python -m conveyor worker``."""
