"""Stand-in for upstream Horilla's project package (see ../README.md)."""
