"""Getting data in: file importers, identity stitching and sessions."""
