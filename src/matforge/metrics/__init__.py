"""matforge.metrics"""
