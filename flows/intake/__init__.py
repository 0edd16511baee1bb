"""The ingest edge's guards: what a bundle may hold and how big it may be, decided before reading it.

`entries` looks at a bundle without following anything out of it (lstat, O_NOFOLLOW) and copies
only its regular files; `limits` checks a table's file against the intake limits before a reader
allocates for it. Settings (the limits and their defaults) live in `flows.settings.IntakeLimits`.
"""
