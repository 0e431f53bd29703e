"""Composition generators."""
