"""Generative models for compositions and crystal structures, behind one interface."""

from matforge.generators.base import Generator, load_generator

__all__ = ["Generator", "load_generator"]
