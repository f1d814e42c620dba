"""``aiida-flexo engine``: the DFT engine executables that CalcJobs run on the target computer.

``aiida-flexo engine gpaw input.json`` labels ``structure.xyz`` with GPAW in the current directory (see
:mod:`aiida_flexo.engines.gpaw_driver` for outputs and exit statuses); ``aiida-flexo engine inputs`` writes an
``input.json`` to start from.
"""

from __future__ import annotations

import os

# One serial DFT process per core: BLAS/FFT threads would oversubscribe the cores. This must happen before numpy
# (and its OpenBLAS) is loaded, hence at import time of this module, which the lazy CLI imports first.
for _variable in ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ.setdefault(_variable, '1')

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import click  # noqa: E402


@click.group('engine')
def engine() -> None:
    """DFT engine executables (run inside a CalcJob's work directory)."""


@engine.command('gpaw')
@click.argument('input_file', default='input.json', type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    '--structure',
    'structure_file',
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help='extxyz structure (default: structure.xyz beside INPUT_FILE).',
)
@click.option(
    '--workdir',
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help='Where outputs go (default: the current directory).',
)
@click.option('--no-resume', is_flag=True, help='Ignore results.json of an earlier run of the same input.')
def gpaw(input_file: Path, structure_file: Path | None, workdir: Path | None, no_resume: bool) -> None:
    """Label one structure with GPAW: SCF, Berry phase, Born charges, MD as INPUT_FILE asks.

    Writes results.json and labelled.xyz (plus displaced.xyz, md.xyz and GPAW logs). Exit statuses: 0 ok,
    10 invalid input, 11 non-periodic structure, 12 missing PAW setup, 13 GPAW not installed, 20 SCF not converged,
    21 Berry phase without a band gap, 30 MD exploded.
    """
    from aiida_flexo.engines.exit_codes import EngineError
    from aiida_flexo.engines.gpaw_driver import run_gpaw

    try:
        results = run_gpaw(input_file, structure_file, workdir, resume=not no_resume)
    except EngineError as error:
        click.echo(f'Error: {error}', err=True)
        sys.exit(int(error.exit_code))
    click.echo(
        f'finished: energy {results["energy"]:.6f} eV; results in {(workdir or Path.cwd()) / "results.json"}'
    )


@engine.command('inputs')
@click.option(
    '--protocol', type=click.Choice(['fast', 'moderate', 'precise']), default='moderate', show_default=True
)
@click.option('--berry-phase', is_flag=True, help='Compute the Berry-phase cell dipole.')
@click.option(
    '--born-charges', is_flag=True, help='Compute Born charges (central differences of the Berry phase).'
)
@click.option('--born-atoms', default=None, help='Comma-separated atom indices to displace (default: all).')
@click.option('--born-directions', default='xyz', show_default=True, help='Directions to displace along.')
@click.option('--md-steps', type=int, default=0, show_default=True, help='MD steps (0: no MD).')
@click.option('--md-temperature', type=float, default=300.0, show_default=True, help='K.')
@click.option('--md-timestep', type=float, default=1.0, show_default=True, help='fs.')
@click.option('--kpoints', default=None, help='Explicit k-mesh "n1,n2,n3" (overrides the protocol density).')
@click.option('--cutoff', type=float, default=None, help='Plane-wave cutoff in eV (overrides the protocol).')
@click.option(
    '-o', '--output', type=click.Path(dir_okay=False, path_type=Path), default=None, help='Write here.'
)
def inputs(
    protocol: str,
    berry_phase: bool,
    born_charges: bool,
    born_atoms: str | None,
    born_directions: str,
    md_steps: int,
    md_temperature: float,
    md_timestep: float,
    kpoints: str | None,
    cutoff: float | None,
    output: Path | None,
) -> None:
    """Print (or write with -o) an engine-neutral input.json."""
    from aiida_flexo.cli import echo_json, fail
    from aiida_flexo.engines.inputs import BornChargesSpec, EngineInputs, InputsError, MDSpec

    try:
        data = EngineInputs(
            protocol=protocol,
            cutoff=cutoff,
            kpoints=[int(n) for n in kpoints.split(',')] if kpoints else None,
            berry_phase=berry_phase,
            born_charges=BornChargesSpec(
                enabled=born_charges,
                atoms=[int(i) for i in born_atoms.split(',')] if born_atoms else None,
                directions=born_directions,
            ),
            md=MDSpec(steps=md_steps, temperature=md_temperature, timestep=md_timestep),
        ).validate()
    except (InputsError, ValueError) as exc:
        fail(str(exc))
    if output:
        data.to_json(output)
        click.echo(f'wrote {output}')
    else:
        echo_json(data.to_dict())
