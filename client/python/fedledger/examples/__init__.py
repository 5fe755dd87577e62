"""Example members (some need extra packages: scikit-learn for sklearn_member, torch and opacus for torch_member)."""
