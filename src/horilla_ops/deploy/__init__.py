"""Management commands the horilla role runs at each deploy (horilla-manage ...)."""
