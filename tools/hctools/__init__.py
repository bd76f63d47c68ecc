"""Development tools for waggle.honeycomb (not part of the built collection)."""
