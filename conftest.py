"""Test set-up for the whole repository (tests/ and the doctests in skclipens/)."""

import os

# No hub downloads in tests: a missing weight must fail at once, not after retries.
os.environ["HF_HUB_OFFLINE"] = "1"

# Lets scikit-learn's check_array_api_input run (on NumPy) instead of skipping;
# scipy reads it at import, so it is set before anything imports scipy.
os.environ.setdefault("SCIPY_ARRAY_API", "1")
