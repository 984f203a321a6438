"""Structured Hydra config schemas (plain dataclasses) and their ConfigStore registration."""
