"""AiiDA CalcJobs and parsers of aiida-flexo (installed as ``aiida_flexo.calcjobs``)."""
