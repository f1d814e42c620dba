"""The MLIP parsers on recorded outputs, and the MD restart handlers, without a daemon (aiida-quantumespresso's style).

The outputs are recorded here and now: ``aiida-flexo --status-file _flexo_status.json mlip relax|md ...`` runs with the
tiny Allegro model of the session in a folder, exactly as the CalcJob runs it; its files become the ``retrieved``
folder of a CalcJobNode with the CalcJob's process type, and the parser is called on that node.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tests_helpers import calc_node, model_restart_workchain

pytestmark = [pytest.mark.aiida]

RELAX = 'aiida.calculations:flexo.mlip.relax'
MD = 'aiida.calculations:flexo.mlip.md'


def _record(folder: Path, arguments: list[str]) -> int:
    """Run the executable's entry point as a CalcJob does (status file; the --json summary on stdout becomes
    aiida.out, stderr aiida.err); its exit status."""
    import contextlib
    import io

    from aiida_flexo.cli import run

    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            run(['--status-file', str(folder / '_flexo_status.json'), *arguments, '--json'])
        except SystemExit as exc:
            status = int(exc.code or 0)
    (folder / 'aiida.out').write_text(stdout.getvalue())
    (folder / 'aiida.err').write_text(stderr.getvalue())
    return status


def _node_with(code, process_type: str, folder: Path, names: list[str]):
    from aiida import orm
    from aiida.common.links import LinkType

    node = calc_node(code, 0, process_type, remote=False)
    retrieved = orm.FolderData()
    for name in [*names, 'aiida.out', 'aiida.err', '_flexo_status.json']:
        if (folder / name).is_file():
            retrieved.base.repository.put_object_from_file(str(folder / name), name)
    retrieved.base.links.add_incoming(node, link_type=LinkType.CREATE, link_label='retrieved')
    retrieved.store()
    return node


@pytest.fixture
def structure_file(tmp_path):
    from ase.io import write

    from aiida_flexo.flexo.structures import builtin

    atoms = builtin('BaTiO3').repeat((1, 1, 2))
    atoms.positions += np.random.default_rng(0).normal(scale=0.05, size=atoms.positions.shape)
    path = tmp_path / 'structure.xyz'
    write(path, atoms, format='extxyz')
    return path


def _relax(tmp_path, model, structure, *options):
    status = _record(
        tmp_path,
        ['mlip', 'relax', str(model), str(structure), '--out', str(tmp_path / 'relaxed.xyz'), '--trajectory',
         str(tmp_path / 'relax.traj'), '--summary', str(tmp_path / 'relax.json'), '--fix', 'Ba', *options],
    )  # fmt: skip
    return status


def test_relax_parser_on_a_converged_run(flexo_code, tiny_model, structure_file, tmp_path):
    from aiida_flexo.calcjobs.mlip import MlipRelaxParser

    assert _relax(tmp_path, tiny_model, structure_file, '--fmax', '0.3', '--max-steps', '200') == 0
    node = _node_with(flexo_code, RELAX, tmp_path, ['relaxed.xyz', 'relax.traj'])
    parser = MlipRelaxParser(node)
    assert parser.parse().status == 0
    outputs = parser.outputs
    summary = json.loads((tmp_path / 'aiida.out').read_text())
    assert outputs.max_force.value == summary['max_force_eV_A'] <= 0.3
    assert outputs.energy.value == pytest.approx(summary['energy_eV'])
    assert outputs.relaxed_structure.get_ase().get_chemical_formula() == 'Ba2O6Ti2'
    assert outputs.trajectory.numsteps == summary['n_steps'] + 1  # the start and every optimizer step


def test_relax_parser_keeps_an_unconverged_runs_files_and_says_403(
    flexo_code, tiny_model, structure_file, tmp_path
):
    from aiida_flexo.calcjobs.mlip import MlipRelaxParser
    from aiida_flexo.mlip.exit_codes import MLIP_EXIT

    status = _relax(
        tmp_path, tiny_model, structure_file, '--fmax', '1e-6', '--max-steps', '3', '--stall-steps', '0'
    )
    assert status == MLIP_EXIT.NOT_CONVERGED.status
    node = _node_with(flexo_code, RELAX, tmp_path, ['relaxed.xyz', 'relax.traj'])
    parser = MlipRelaxParser(node)
    code = parser.parse()
    assert code.status == 403 and 'not converged within 3 steps' in code.message
    # parsed anyway: the restart continues from the trajectory's last frame
    assert 'trajectory_file' in parser.outputs and 'relaxed_structure' in parser.outputs


def test_relax_parser_on_a_structure_the_model_does_not_know(flexo_code, tiny_model, tmp_path):
    from ase.build import bulk
    from ase.io import write

    from aiida_flexo.calcjobs.mlip import MlipRelaxParser

    write(tmp_path / 'si.xyz', bulk('Si', 'diamond', a=5.43), format='extxyz')
    assert _relax(tmp_path, tiny_model, tmp_path / 'si.xyz') == 5
    code = MlipRelaxParser(_node_with(flexo_code, RELAX, tmp_path, [])).parse()
    assert code.status == 305 and 'Si' in code.message


def test_md_parser_on_a_short_run(flexo_code, tiny_model, structure_file, tmp_path):
    from aiida_flexo.calcjobs.mlip import MlipMdParser

    status = _record(
        tmp_path,
        ['mlip', 'md', str(tiny_model), str(structure_file), '--schedule', '300:6', '--stride', '2', '--out',
         str(tmp_path / 'md.traj'), '--final', str(tmp_path / 'final.xyz'), '--summary', str(tmp_path / 'md.json')],
    )  # fmt: skip
    assert status == 0
    parser = MlipMdParser(_node_with(flexo_code, MD, tmp_path, ['md.traj', 'final.xyz']))
    assert parser.parse().status == 0
    trajectory = parser.outputs.trajectory
    assert list(trajectory.get_array('md_steps')) == [0, 2, 4, 6]
    assert parser.outputs.final_structure.get_ase().get_chemical_formula() == 'Ba2O6Ti2'


@pytest.fixture
def md_workchain(flexo_code):
    from aiida import orm

    from aiida_flexo.workflows.mlip_md import MlipMdWorkChain

    return model_restart_workchain(MlipMdWorkChain, 'md', flexo_code, schedule=orm.List([[300.0, 10]]))


@pytest.mark.parametrize('status', [400, 120, 140])
def test_md_killed_continues_from_its_trajectory(md_workchain, flexo_code, status):
    import io

    from aiida import orm

    trajectory = orm.SinglefileData(io.BytesIO(b'not read by the handler'), filename='md.traj')
    node = calc_node(flexo_code, status, MD, outputs={'trajectory_file': trajectory})
    assert md_workchain.handle_killed(node).exit_code.status == 0
    assert md_workchain.ctx.inputs.restart_trajectory.uuid == node.outputs.trajectory_file.uuid


def test_md_that_blew_up_stops_with_the_fix(md_workchain, flexo_code):
    from aiida_flexo.calcjobs.mlip import MlipMdCalculation

    status = MlipMdCalculation.exit_codes.ERROR_UNSTABLE.status
    node = calc_node(flexo_code, status, MD, message='temperature 9000 K above 3 x 300 K')
    report = md_workchain.handle_unstable(node)
    assert report.do_break and report.exit_code.status == 404
    assert 'smaller timestep_fs' in report.exit_code.message and '9000 K' in report.exit_code.message
