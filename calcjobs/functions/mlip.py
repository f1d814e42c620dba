"""Calcfunctions of the MLIP work chains: one trajectory from the pieces of a restarted MD run."""

from __future__ import annotations

from aiida import orm
from aiida.engine import calcfunction

from aiida_flexo.calcjobs.utils import md_trajectory_from_frames, read_ase_trajectory


@calcfunction
def merge_md_trajectories(**parts: orm.SinglefileData) -> orm.TrajectoryData:
    """The MD trajectory of a run that was continued after a kill, from its pieces (ase ``.traj`` files).

    ``parts`` are the ``trajectory_file`` outputs of the successive ``flexo.mlip.md`` calculations, by keys that sort
    in run order (``part_00``, ``part_01``, ...). Each continuation starts at the global MD step of the last frame of
    the previous piece; frames at or before a step already present are dropped, so the result has every frame once,
    in step order (array ``md_steps``), as an uninterrupted run would have written it.
    """
    frames = []
    last_step = -1
    for key in sorted(parts):
        for atoms in read_ase_trajectory(parts[key].get_content(mode='rb')):
            step = int(atoms.info.get('md_step', last_step + 1))
            if step > last_step:
                frames.append(atoms)
                last_step = step
    if not frames:
        raise ValueError('the MD trajectory pieces hold no frame')
    return md_trajectory_from_frames(frames)


@calcfunction
def distillation_report(**metrics: orm.Dict) -> orm.Dict:
    """The figures of a distillation from the outputs it used (provenance from each number to its calculation).

    Inputs (by key): ``student`` (the student's training metrics: its errors against held-out teacher frames),
    ``sampling`` (the teacher sampling summary) and, when held-out DFT frames were scored, ``student_dft`` and
    ``teacher_dft`` (``flexo.mlip.eval`` metrics).
    """
    from aiida_flexo.mlip.distill import compose_report

    return orm.Dict(
        compose_report(
            metrics['student'].get_dict(),
            metrics['sampling'].get_dict(),
            metrics['student_dft'].get_dict() if 'student_dft' in metrics else None,
            metrics['teacher_dft'].get_dict() if 'teacher_dft' in metrics else None,
        )
    )
