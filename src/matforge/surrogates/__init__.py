"""matforge.surrogates"""
