"""Silicon end to end through the daemon: flexo.pipeline with GPAW on diamond Si, tiny settings.

The seed's second material has no Born charges (Z* = 0 by symmetry), so everything rests on the Berry-phase
dipoles: GPAW labels them (spin-paired Si: charge quantum 2 e), the ideal cell is its own reference, the GNN trains on
the dipoles alone, and μ3113 comes from the GNN with one sublattice held; the Born-charge route is skipped with a
note, and the result names the component's symmetry. Real DFT at minimal settings (250 eV, 2×2×2 k), no MD.
"""

from __future__ import annotations

import numpy as np
import pytest
from tests_helpers import GPAW_REASON, gpaw_available
from tests_helpers import describe_process as describe

# not heavy: when both sessions run side by side this pipeline runs in the embedded session, the BaTiO3 one
# (tests/aiida/test_pipeline.py) in the production session
pytestmark = [
    pytest.mark.aiida,
    pytest.mark.daemon,
    pytest.mark.slow,
    pytest.mark.skipif(not gpaw_available(), reason=GPAW_REASON),
]


@pytest.fixture(scope='module')
def silicon_pipeline(flexo_code_module, submit_and_await_module):
    from aiida import orm

    from aiida_flexo.flexo.structures import builtin
    from aiida_flexo.workflows.pipeline import FlexoPipelineWorkChain

    silicon = orm.StructureData(ase=builtin('Si-conventional'))
    options = {'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': 1}, 'max_wallclock_seconds': 1800}
    builder = FlexoPipelineWorkChain.get_builder_from_protocol(
        flexo_code_module,
        {'Si': silicon},
        protocol='fast',
        references={'Si_ideal': silicon},
        overrides={
            'components': ['3113'],
            'sampling': {
                'temperatures': [],
                'perturbations': {'n_frames': 4, 'displacement': 0.05, 'strain': 0.01},
            },
            'label': {'engine_inputs': {'cutoff': 250.0, 'kpoints': [2, 2, 2]}},
            'gnn': {'epochs': 3, 'seed': 1, 'threads': 1},
            'potential_route': 'allegro',
            'mlip': {'epochs': 1, 'seed': 1, 'model_size': 'tiny'},
            'flexo': {
                'supercell': {
                    'repeat': 4,
                    'max_strain': 0.0005,
                    'fix': 'sublattice:0',
                    'shape': 'cosine',
                    'transverse_repeat': 2,
                },
                'relax_parameters': {'fmax': 0.5, 'max_steps': 3},
            },
            'convergence_repeats': [],
            'thresholds': {'max_dipole_mae_eA': 100.0, 'max_force_mae_meV_A': 1e4},
            'verify': {'enabled': False},
        },
        options={name: options for name in ('sampling', 'gnn', 'mlip', 'flexo', 'label')},
    )
    builder.metadata.label = 'tiny silicon pipeline'
    return submit_and_await_module(FlexoPipelineWorkChain, timeout=1200, **builder._inputs(prune=True))


def test_silicon_frames_carry_berry_phase_dipoles_on_one_branch(silicon_pipeline):
    node = silicon_pipeline
    assert node.is_finished_ok, describe(node)
    frames = node.outputs.frames.get_frames()
    assert len(frames) == 5  # the ideal reference + 4 displaced/strained cells
    assert 'born_charges' not in node.outputs.frames.labels
    assert all(atoms.info['charge_quantum'] == 2.0 for atoms in frames)  # spin-paired Si, even valence
    reference = next(atoms for atoms in frames if atoms.info.get('path_fraction') == 0.0)
    dipoles = np.array([atoms.info['dipole'] for atoms in frames])
    # the ideal cell sits on 0 (or ½ of a 2 e·a quantum); displaced cells stay close to it: second order in u
    assert np.abs(dipoles - reference.info['dipole']).max() < 0.5


def test_silicon_gnn_trains_on_dipoles_alone_and_mu_comes_from_it(silicon_pipeline):
    from aiida import orm

    from aiida_flexo.flexo.crystal_symmetry import ZERO_BORN_CHARGES_NOTE

    node = silicon_pipeline
    assert node.is_finished_ok, describe(node)
    reports = '\n'.join(log.message for log in orm.Log.collection.get_logs_for(node))
    assert 'no Born charges: the GNN trains on the Berry-phase dipoles alone' in reports
    result = node.outputs.results['mu3113'].get_dict()
    assert np.isfinite(result['mu_nC_per_m']['fit'])
    assert 'bec' not in result  # Z* = 0 by symmetry: no Born-charge number
    assert ZERO_BORN_CHARGES_NOTE in result['notes']
    assert result['symmetry']['status'] == 'equal' and result['symmetry']['relative_to'] == '1221'
    assert result['supercell']['n_atoms'] == 8 * 2 * 4
    assert len(result['supercell']['fixed_indices']) == 8 * 4  # one sublattice of 64
