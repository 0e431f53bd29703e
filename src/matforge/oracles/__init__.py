"""matforge.oracles"""
