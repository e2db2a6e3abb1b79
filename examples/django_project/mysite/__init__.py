"""The h2push example project."""
