"""matforge.report"""
