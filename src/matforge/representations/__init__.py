"""Reversible encodings of compositions and crystals, and descriptors built on them."""
