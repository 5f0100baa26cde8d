"""Loads the checks' pytest plugin for every pytest run in the workbook (checks, tests, notebooks)."""

pytest_plugins = ["checks.plugin"]
