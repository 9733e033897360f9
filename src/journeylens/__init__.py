"""journeylens."""
