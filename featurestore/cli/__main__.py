"""`python -m featurestore.cli ...` runs the `featurestore` command."""
import sys

from featurestore.cli import main

sys.exit(main())
