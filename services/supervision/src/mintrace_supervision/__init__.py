"""Read-only supervision API: a province's reports, alerts and rollups, scoped by supervisor key."""
