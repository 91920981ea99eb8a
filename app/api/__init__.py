"""HTTP layer: routes, dependencies and the one place errors become responses."""
