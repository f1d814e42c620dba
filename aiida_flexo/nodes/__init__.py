"""AiiDA data plugins of aiida-flexo (entry points ``flexo.*`` in the ``aiida.data`` group)."""
