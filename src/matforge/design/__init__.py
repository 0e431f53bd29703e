"""matforge.design"""
