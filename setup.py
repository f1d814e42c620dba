"""Package layout: ``calcjobs/`` and ``workflows/`` live at the top of the repository but install as
``aiida_flexo.calcjobs`` and ``aiida_flexo.workflows`` (both in editable installs and in wheels).

Everything else is declared in ``pyproject.toml``.
"""

from setuptools import find_packages, setup

packages = ['aiida_flexo'] + [f'aiida_flexo.{name}' for name in find_packages('aiida_flexo')]
package_dir = {'aiida_flexo': 'aiida_flexo'}
for top in ('calcjobs', 'workflows'):
    packages += [f'aiida_flexo.{top}'] + [f'aiida_flexo.{top}.{name}' for name in find_packages(top)]
    package_dir[f'aiida_flexo.{top}'] = top

setup(packages=packages, package_dir=package_dir)
