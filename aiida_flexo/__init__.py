"""aiida-flexo: flexoelectric coefficients and local polarization maps at ab initio accuracy.

The science core (``aiida_flexo.units``, ``aiida_flexo.polarization``, ``aiida_flexo.data``, ``aiida_flexo.gnn``,
``aiida_flexo.mlip``, ``aiida_flexo.flexo``, ``aiida_flexo.textures``) imports no AiiDA code; the AiiDA layer lives in
``aiida_flexo.nodes``, ``aiida_flexo.calcjobs`` and ``aiida_flexo.workflows``.
"""

__version__ = '0.1.0'
