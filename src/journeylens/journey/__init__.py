"""The journey model: stage templates, the touchpoint catalog, and events placed on them."""
