"""Test configuration: AiiDA's pytest fixtures and the choice of profile kind (see tests/aiida_profiles.py)."""

pytest_plugins = ['aiida.tools.pytest_fixtures']
