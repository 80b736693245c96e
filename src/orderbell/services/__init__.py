"""Service layer: the use cases (submit, pay, remind, confirm, ...) over storage and broker."""
