"""Spec files: schema (every field and default) and the validating loader."""
