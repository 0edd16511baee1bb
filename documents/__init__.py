"""Documents people read, as pure functions returning text (see kit.py)."""
