"""Shared building blocks of the mintrace services. Importable, never run."""
