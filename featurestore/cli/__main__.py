"""`python -m featurestore.cli ...` runs the `featurestore` command."""
from featurestore.cli import run

run()
