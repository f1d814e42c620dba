"""Bad input to the DFT-output, flexo, frames, setup and label commands: one clear ``Error:`` line, before any work.

The VASP files are truncated or corrupt copies, made in ``tmp_path``, of the real outputs in tests/fixtures/vasp
(see tests/fixtures/SOURCES.md).
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from aiida_flexo.cli import main

VASP = Path(__file__).parents[1] / 'fixtures' / 'vasp'
ZNPS_OUTCAR = (
    VASP / 'dfpt_lepsilon' / 'Zn3P2S8_aiida_vasp' / 'OUTCAR'
)  # 26 ions, Born block at lines 6969-7074
SIC_GZ = VASP / 'dfpt_lepsilon' / 'SiC_lepsilon' / 'OUTCAR.gz'
LA2GA2O6 = VASP / 'berry_phase' / 'La2Ga2O6_vasp6.3' / 'OUTCAR'  # dipoles at lines 3784-3789, footer at 3982
EXE = str(Path(sys.executable).parent / 'aiida-flexo')


@pytest.fixture(autouse=True)
def _error_logs_in_tmp(monkeypatch, tmp_path):
    """An unexpected error (a bug) writes its traceback log under tmp_path, not in the user's cache."""
    monkeypatch.setenv('AIIDA_FLEXO_LOG_DIR', str(tmp_path / 'error-logs'))


def invoke(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_clear_error(result: Result, *fragments: str) -> str:
    """Exit status 1, no traceback, exactly one ``Error:`` line holding every fragment; returns that line."""
    assert result.exit_code == 1, (result.output, result.exception)
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert 'Traceback' not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith('Error: ')]
    assert len(errors) == 1, result.output
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


def head_lines(source: Path, n_lines: int, target: Path, cut_chars: int = 0) -> Path:
    """The first ``n_lines`` lines of ``source`` (less ``cut_chars`` characters at the end) written to ``target``."""
    text = ''.join(source.read_text().splitlines(keepends=True)[:n_lines])
    target.write_text(text[: len(text) - cut_chars] if cut_chars else text)
    return target


def truncated_gzip(source: Path, target: Path) -> Path:
    """A gzip file cut in the middle of its compressed stream (an interrupted copy)."""
    data = source.read_bytes() if source.suffix == '.gz' else gzip.compress(source.read_bytes())
    target.write_bytes(data[: len(data) // 2])
    return target


def not_gzip(target: Path) -> Path:
    target.write_bytes(b'this is not gzip data\n' * 10)
    return target


# --------------------------------------------------------------------------- 1, 2, 3: born-charges on a bad OUTCAR

BORN_CASES: dict[str, tuple[Callable[[Path], Path], tuple[str, ...]]] = {
    # cut after the last row of ion 8 of 26: used to print 8 tensors, exit 0 (and spread 4.6 e over them with ASR)
    'cut_after_ion_8': (
        lambda d: head_lines(ZNPS_OUTCAR, 7002, d / 'OUTCAR'),
        ('Born charges for 8 ions but the run has 26 ions (NIONS)', 'OUTCAR is incomplete (job killed?)'),
    ),
    'cut_inside_ion_9': (
        lambda d: head_lines(ZNPS_OUTCAR, 7004, d / 'OUTCAR'),
        ('the file ends inside the Born-charge rows of ion 9', 'OUTCAR is incomplete (job killed?)'),
    ),
    'cut_inside_the_last_number': (
        lambda d: head_lines(ZNPS_OUTCAR, 7074, d / 'OUTCAR', cut_chars=4),
        ('the file ends right after the Born charges of ion 26', 'OUTCAR is incomplete (job killed?)'),
    ),
    'gz_not_gzip': (lambda d: not_gzip(d / 'OUTCAR.gz'), ('OUTCAR.gz is not a valid gzip file', 'gzip -t')),
    'gz_cut_short': (
        lambda d: truncated_gzip(SIC_GZ, d / 'OUTCAR.gz'),
        ('OUTCAR.gz is not a valid gzip file', 'copy it again'),
    ),
}


@pytest.mark.parametrize('asr', [[], ['--enforce-asr']], ids=['raw', 'enforce_asr'])
@pytest.mark.parametrize('case', sorted(BORN_CASES))
def test_born_charges_bad_outcar(tmp_path, case, asr):
    make, fragments = BORN_CASES[case]
    result = invoke('born-charges', make(tmp_path), '--json', *asr)
    assert_clear_error(result, *fragments)
    assert '"born_charges"' not in result.output  # no JSON printed, only the error


def test_born_charges_folder_with_corrupt_gzip(tmp_path):
    not_gzip(tmp_path / 'OUTCAR.gz')
    assert_clear_error(invoke('born-charges', tmp_path), 'OUTCAR.gz is not a valid gzip file')


def test_born_charges_complete_outcar_still_reads(tmp_path):
    """The checks leave a complete run alone (26 tensors, read from a copy without its POSCAR)."""
    import json

    result = invoke('born-charges', head_lines(ZNPS_OUTCAR, 10**6, tmp_path / 'OUTCAR'), '--json')
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.output)['born_charges']) == 26


# ---------------------------------------------------------------------------------- 8: polarization on a bad OUTCAR

POLARIZATION_CASES: dict[str, tuple[Callable[[Path], Path], tuple[str, ...]]] = {
    'cut_after_the_dipoles': (
        lambda d: head_lines(LA2GA2O6, 3790, d / 'OUTCAR'),
        ('truncated OUTCAR', 'the run did not finish'),
    ),
    'cut_before_the_dipoles': (
        lambda d: head_lines(LA2GA2O6, 3000, d / 'OUTCAR'),
        ('truncated OUTCAR without Berry-phase output', 'rerun it'),
    ),
    'gz_not_gzip': (lambda d: not_gzip(d / 'OUTCAR.gz'), ('OUTCAR.gz is not a valid gzip file',)),
    'gz_cut_short': (
        lambda d: truncated_gzip(LA2GA2O6, d / 'OUTCAR.gz'),
        ('OUTCAR.gz is not a valid gzip file', 'Compressed file ended'),
    ),
}


@pytest.mark.parametrize('case', sorted(POLARIZATION_CASES))
def test_polarization_bad_outcar(tmp_path, case):
    make, fragments = POLARIZATION_CASES[case]
    assert_clear_error(invoke('polarization', make(tmp_path)), *fragments)


# ------------------------------------------------------------------------------------- 4: flexo coefficient --out

FLEXO_ARGS = ('flexo', 'coefficient', '--bulk', 'builtin:BaTiO3', '--repeat', '6')


def _out_not_empty(d: Path) -> tuple[Path, tuple[str, ...]]:
    (d / 'run').mkdir()
    (d / 'run' / 'notes.txt').write_text('mine')
    return d / 'run', ('--dipole', 'synthetic:perovskite')


def _out_is_file(d: Path) -> tuple[Path, tuple[str, ...]]:
    (d / 'run').write_text('mine')
    return d / 'run', ('--dipole', 'synthetic:perovskite')


def _out_inside_file(d: Path) -> tuple[Path, tuple[str, ...]]:
    (d / 'afile').write_text('mine')
    return d / 'afile' / 'run', ('--dipole', 'synthetic:perovskite')


def _garbage_dipole(d: Path) -> tuple[Path, tuple[str, ...]]:
    (d / 'model.pt').write_text('garbage')
    return d / 'run', ('--dipole', d / 'model.pt')


def _garbage_mlip(d: Path) -> tuple[Path, tuple[str, ...]]:
    (d / 'model.nequip.zip').write_text('garbage')
    return d / 'run', ('--dipole', 'synthetic:perovskite', '--mlip', d / 'model.nequip.zip')


FLEXO_CASES: dict[str, tuple[Callable[[Path], tuple[Path, tuple]], tuple[str, ...]]] = {
    'out_not_empty': (_out_not_empty, ('exists and is not empty', '--overwrite')),
    'out_is_a_file': (_out_is_file, ('is a file, not a folder',)),
    'out_inside_a_file': (_out_inside_file, ('afile is a file, not a folder',)),
    'garbage_dipole_model': (_garbage_dipole, ('--dipole', 'is not an aiida-flexo GNN model file')),
    'garbage_mlip_model': (_garbage_mlip, ('--mlip', 'could not be loaded')),
}


@pytest.mark.parametrize('case', sorted(FLEXO_CASES))
def test_flexo_coefficient_bad_input(tmp_path, case):
    make, fragments = FLEXO_CASES[case]
    out, model_args = make(tmp_path)
    before = sorted(p.name for p in tmp_path.rglob('*'))
    assert_clear_error(invoke(*FLEXO_ARGS, *model_args, '--out', out), *fragments)
    assert sorted(p.name for p in tmp_path.rglob('*')) == before  # nothing written, nothing replaced


# --------------------------------------------------------------------------------------------- 5: frames export


@pytest.fixture
def frames_pk(aiida_profile) -> int:
    from aiida_flexo.data import read_frames
    from aiida_flexo.nodes.frames import FramesData
    from aiida_flexo.resources import bundled_path

    frames = read_frames(bundled_path('BaTiO3_qe_berry_bec.xyz'), index=':2')
    return FramesData.from_frames(frames, source='bad-input test').store().pk


EXPORT_CASES: dict[str, tuple[Callable[[Path], Path], tuple[str, ...]]] = {
    'existing_file': (lambda d: _write(d / 'frames.xyz', 'mine'), ('frames.xyz exists', '--overwrite')),
    'missing_folder': (lambda d: d / 'missing' / 'frames.xyz', ('missing does not exist', 'create it first')),
}


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.aiida
@pytest.mark.parametrize('case', sorted(EXPORT_CASES))
def test_frames_export_bad_output(tmp_path, frames_pk, case):
    make, fragments = EXPORT_CASES[case]
    path = make(tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.rglob('*') if p.is_file()}
    assert_clear_error(invoke('frames', 'export', frames_pk, path), *fragments)
    assert {p: p.read_bytes() for p in tmp_path.rglob('*') if p.is_file()} == before


@pytest.mark.aiida
def test_frames_export_overwrite_replaces(tmp_path, frames_pk):
    path = _write(tmp_path / 'frames.xyz', 'mine')
    result = invoke('frames', 'export', frames_pk, path, '--overwrite')
    assert result.exit_code == 0, result.output
    from aiida_flexo.data import read_frames

    assert (
        len(read_frames(path)) == 2
    )  # replaced whole (written beside it, then moved: no temporary file left)
    assert [p.name for p in tmp_path.iterdir()] == ['frames.xyz']


# ----------------------------------------------------------------------------------------------- 6: setup --profile


@pytest.mark.parametrize('name', ['a b/c', '../elsewhere', 'semi;colon', '-dash-first', ''])
def test_setup_refuses_a_bad_profile_name(tmp_path, name):
    """Run in a subprocess on an empty AIIDA_PATH: nothing may be created there, not even the config folder."""
    env = {**os.environ, 'AIIDA_PATH': str(tmp_path / 'aiida')}
    (tmp_path / 'aiida').mkdir()
    done = subprocess.run(
        [EXE, 'setup', '--profile', name], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 1, done.stderr
    assert 'Traceback' not in done.stderr
    assert done.stderr.strip().splitlines() == [
        f'Error: invalid profile name {name!r}: use only letters, digits, "-", "_" and "." (starting with a letter '
        'or digit), e.g. --profile flexo-2; nothing was created'
    ]
    assert list((tmp_path / 'aiida').iterdir()) == []


# ----------------------------------------------------------------------------------------- 7: label without daemon


def _stored_frames() -> int:
    from aiida.orm import QueryBuilder

    from aiida_flexo.nodes.frames import FramesData

    return QueryBuilder().append(FramesData).count()


@pytest.mark.aiida
@pytest.mark.parametrize('broker', ['daemon_not_running', 'no_broker'])
def test_label_without_a_daemon(tmp_path, aiida_profile, stopped_daemon_client, monkeypatch, broker):
    """The session's temporary test profile with its daemon stopped: nothing stored, nothing submitted."""
    from aiida.manage import get_manager
    from ase.build import bulk
    from ase.io import write

    name = aiida_profile.name
    assert not get_manager().get_daemon_client().is_daemon_running
    if broker == 'no_broker':
        monkeypatch.setattr(
            type(get_manager().get_profile()), 'process_control_backend', property(lambda _: None)
        )
        fragments: tuple[str, ...] = (f'profile {name} has no broker', 'nothing was submitted')
    else:
        fragments = (f'the daemon of profile {name} is not running: `verdi -p {name} daemon start`',)
    path = tmp_path / 'sic.xyz'
    write(path, [bulk('SiC', 'zincblende', a=4.36)], format='extxyz')
    before = _stored_frames()
    assert_clear_error(invoke('label', path, '--profile', name), *fragments)
    assert _stored_frames() == before


@pytest.mark.aiida
def test_rabbitmq_profiles_queue_without_a_daemon(aiida_profile, stopped_daemon_client, monkeypatch):
    """With RabbitMQ the task waits for a daemon (as on a cluster): no refusal, a warning naming the command."""
    from aiida.manage import get_manager

    from aiida_flexo.cli.frames import require_daemon

    name = aiida_profile.name
    monkeypatch.setattr(
        type(get_manager().get_profile()), 'process_control_backend', property(lambda _: 'core.rabbitmq')
    )
    assert require_daemon('the labelling') == (
        f'the daemon of profile {name} is not running: the labelling waits in RabbitMQ until you run '
        f'`verdi -p {name} daemon start`'
    )


@pytest.mark.aiida
def test_frames_export_follows_a_process_to_its_frames(tmp_path, frames_pk):
    """The pk a `label`/`sampling` command printed is a process: export writes its frames output, and says which."""
    from aiida import orm

    from aiida_flexo.calcjobs.functions.frames import gather_frames
    from aiida_flexo.data import read_frames

    _, process = gather_frames.run_get_node(first=orm.load_node(frames_pk), second=orm.load_node(frames_pk))
    result = invoke('frames', 'export', process.pk, tmp_path / 'out.xyz')
    assert result.exit_code == 0, result.output
    assert f'of gather_frames<{process.pk}>' in result.output
    assert len(read_frames(tmp_path / 'out.xyz')) == 4
    assert_clear_error(
        invoke('frames', 'export', orm.Int(3).store().pk, tmp_path / 'x.xyz'), 'not a flexo.frames'
    )
    no_frames = orm.CalcFunctionNode().store()
    assert_clear_error(
        invoke('frames', 'export', no_frames.pk, tmp_path / 'y.xyz'), 'has no flexo.frames output'
    )
