"""Example members (need extra packages: scikit-learn)."""
