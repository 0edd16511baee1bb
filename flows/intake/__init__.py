"""The intake of bundles: what a bundle may hold and how big it may be, its safe opening, one reader per format.

`entries` looks at a bundle without following anything out of it (lstat, O_NOFOLLOW) and copies
only its regular files; `limits` checks a table's file against the intake limits before a reader
allocates for it. Settings (the limits and their defaults) live in `flows.settings.IntakeLimits`.
`bundles` opens a bundle (folder or zip) safely and derives its submission id; `tables` reads one
table's file, whatever its format, into an all-text frame (Excel sheets through `xlsx_child`).
`flows.readers` puts these together: a bundle into typed tables and its problems.
"""
