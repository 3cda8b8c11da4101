"""The operators' web dashboard (horilla-dashboard)."""
