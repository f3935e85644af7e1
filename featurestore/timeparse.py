"""Moved to featurestore.cli.timeparse; kept because jobs/materialize.py imports it from here."""
from featurestore.cli.timeparse import parse_time

__all__ = ["parse_time"]
