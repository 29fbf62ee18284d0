"""The durable spool: settings, the SQLite file and store, and the publisher that answers from it."""
