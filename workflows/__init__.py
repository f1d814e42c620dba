"""AiiDA WorkChains of aiida-flexo (installed as ``aiida_flexo.workflows``)."""
