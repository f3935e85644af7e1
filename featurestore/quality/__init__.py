"""Data quality: profiles of tables and feature views, drift between profiles, reports.

Nothing here imports pyspark or matplotlib at import time: Spark is imported by the
functions that compute or store profiles, matplotlib by the ones that plot.
"""
