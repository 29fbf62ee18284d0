"""The bridge's performance benchmark (outside the default test run): see README.md."""
