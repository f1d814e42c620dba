"""Label one frame with VASP through aiida-vasp: ``flexo.vasp.label`` (and its restart layer ``flexo.vasp.base``).

:class:`VaspLabelWorkChain` takes a structure and engine-neutral inputs
(:class:`aiida_flexo.engines.inputs.EngineInputs` as a ``Dict``), maps them to INCAR/KPOINTS with
:mod:`aiida_flexo.engines.vasp`, runs one :class:`FlexoVaspWorkChain` per VASP run that the frame needs (in
parallel: the single point or Berry-phase run, and the Born-charge run), and turns the retrieved files into
labelled-frame pieces with the calcfunctions of :mod:`aiida_flexo.calcjobs.functions.vasp_outputs`:

====================  ==============================================================================================
output                content
====================  ==============================================================================================
``frames``            ``flexo.frames`` node: the labelled frame (or the MD frames), in the input atom order
``properties``        Dict: energy (sigma->0) and free energy (eV), stress (eV/Å³, ase sign), max force
``forces``            ArrayData ``forces`` (n, 3) eV/Å
``polarization``      Dict: Berry-phase dipole (e·Å, physics sign; folded and raw), its parts, charge quantum (1 e)
``born_charges``      ArrayData: ``born_charges`` (n, 3, 3) e, ``epsilon_inf`` (3, 3), ``asr_residual`` (3, 3)
``trajectory``        TrajectoryData of an MD run (positions, cells, forces, energy, free_energy, stress,
                      temperature), stitched over wall-time restarts; ``md``: Dict summary
====================  ==============================================================================================

:class:`FlexoVaspWorkChain` is aiida-vasp's ``vasp.vasp`` (``VaspWorkChain``, a ``BaseRestartWorkChain``) plus the
handlers it lacks. What aiida-vasp 5.1 already handles (kept as they are):

* ``handler_calculation_did_not_run`` (1100, exit 333): resubmit once;
* ``handler_misc_not_exist`` (1000): abort when the parser produced no ``misc``;
* ``handler_unfinished_calc_ionic`` (910) / ``handler_unfinished_calc_generic`` (900), exit 700: relaxations go on
  from the last structure; other runs are resubmitted once *with the same inputs* (no WAVECAR, MD from scratch);
* ``handler_electronic_conv`` (800, exits 700/701/702): SCF non-convergence: ALGO Fast/VeryFast → Normal, then
  NELM → 150 (when below 100), then AMIX 0.4 → 0.2 → 0.1 → 0.05 (NELM + 20), then ALGO = All, restarting from the
  WAVECAR when there is one;
* ``handler_ionic_conv`` (505, exit 702): continue a relaxation;
* ``handler_vasp_critical_error`` (400, exit 703): abort on a critical VASP error (sub-space, ZHEGV, BRMIX, ...);
* ``check_misc_output``/``check_calc_is_finished``/``check_electronic_converged``/``check_ionic_converged`` (5-2).

Added here (priority above the aiida-vasp handler they must precede):

* :meth:`FlexoVaspWorkChain.handle_out_of_walltime` (950; exit 700 ``ERROR_DID_NOT_FINISH`` and 120
  ``ERROR_SCHEDULER_OUT_OF_WALLTIME``): a single point restarts from its WAVECAR (``ISTART = 1``, the remote folder
  is copied); an MD run goes on from the positions of its CONTCAR (or, without one, from its last finished step)
  with the remaining ``NSW`` steps — VASP draws new velocities at ``TEBEG``, as aiida-vasp's POSCAR carries none —
  and its finished steps are kept as ``md_segments``, stitched into one trajectory by ``flexo.vasp.label``;
* :meth:`FlexoVaspWorkChain.handle_zbrent` (460, any exit): "ZBRENT: fatal error in bracketing" → ``IBRION = 1``,
  ``EDIFF`` / 10, from the last structure (custodian's fix);
* :meth:`FlexoVaspWorkChain.handle_subspace_matrix` (450, any exit: a sub-space or ZHEGV error among aiida-vasp's
  notifications or, case-insensitively, in the retrieved stdout — parsevasp looks for "not Hermitian in DAV" while
  VASP prints "Sub-Space-Matrix is not hermitian in DAV", so aiida-vasp alone misses it and the run passes as
  finished): EDDDAV/EDDRMM ZHEGV, PSSYEVX, PDSYEVX → ``LREAL = .FALSE.``, then ``ALGO = All`` (or ``Normal`` from
  Fast/VeryFast for EDDRMM), then ``PREC = Accurate``, from fresh wave functions; then aiida-vasp's critical-error
  handler aborts (exit 703) or the run is accepted.
* :meth:`FlexoVaspWorkChain.prepare_inputs` fixes aiida-vasp 5.1's restart step, which never set ``restart_folder``
  (an ``isinstance`` test on a class), so that its own SCF handler's WAVECAR restarts work too.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import numpy as np
from aiida import orm
from aiida.common import AttributeDict
from aiida.engine import ProcessHandlerReport, WorkChain, if_, process_handler
from aiida_vasp.calcs.vasp import VaspCalculation
from aiida_vasp.workchains.v2.vasp import VaspWorkChain

from aiida_flexo.calcjobs.functions.vasp_outputs import (
    EXIT_NO_BERRY_PHASE,
    EXIT_NO_BORN_CHARGES,
    read_md_frames,
    retrieved_files,
    vasp_berry_phase,
    vasp_born_charges,
    vasp_labelled_frames,
    vasp_md_trajectory,
    vasp_scf_labels,
    vasp_sort_structure,
)
from aiida_flexo.engines.inputs import EngineInputs, InputsError
from aiida_flexo.engines.vasp import md_exploded, vasp_runs
from aiida_flexo.nodes.frames import FramesData

#: Notifications (aiida-vasp / parsevasp names) that :meth:`FlexoVaspWorkChain.handle_subspace_matrix` handles.
SUBSPACE_ERRORS = ('not_hermitian', 'edddav_zhegv', 'eddrmm_zhegv', 'pssyevx', 'pdsyevx')
#: Parser settings of every run: we need no relaxation check and read only what each task needs.
_PARSER_SETTINGS: dict[str, Any] = {
    'check_completeness': False,
    'check_ionic_convergence': False,
    'required_quantity': ['run_status'],
}
#: aiida-vasp 5.1 takes the run status (finished, SCF converged) from the OUTCAR only, so every run needs it.
_CRITICAL_FILES = ['OUTCAR']


@functools.cache
def _aiida_vasp_potential_mapping() -> tuple[tuple[str, str], ...]:
    return tuple(VaspWorkChain.get_protocol_inputs()['potential_mapping'].items())


def default_potential_mapping() -> dict[str, str]:
    """aiida-vasp's default element → POTCAR symbol mapping (VASP's recommended PBE set, e.g. Ba → Ba_sv)."""
    return dict(_aiida_vasp_potential_mapping())


def _notification_names(node: orm.CalcJobNode) -> set[str]:
    if 'misc' not in node.outputs:
        return set()
    return {item.get('name') for item in node.outputs.misc.get_dict().get('notifications', [])}


#: VASP's own spelling of the sub-space errors (parsevasp's pattern "not Hermitian in DAV" misses VASP's lower-case
#: "Sub-Space-Matrix is not hermitian in DAV", so the retrieved stdout is also searched, ignoring case).
_STDOUT_ERRORS = {
    'not_hermitian': re.compile(r'Sub-Space-Matrix is not hermitian', re.IGNORECASE),
    'edddav_zhegv': re.compile(r'Error EDDDAV: Call to ZHEGV failed', re.IGNORECASE),
    'eddrmm_zhegv': re.compile(r'WARNING in EDDRMM: call to ZHEGV failed', re.IGNORECASE),
    'pssyevx': re.compile(r'Error in subspace rotation PSSYEVX', re.IGNORECASE),
    'pdsyevx': re.compile(r'ERROR in subspace rotation PDSYEVX', re.IGNORECASE),
}


def _stdout_errors(node: orm.CalcJobNode) -> set[str]:
    """Names of the sub-space errors found in the retrieved VASP stdout (``vasp_output``)."""
    try:
        text = node.outputs.retrieved.base.repository.get_object_content('vasp_output', mode='r')
    except Exception:  # noqa: BLE001 - no retrieved stdout
        return set()
    return {name for name, pattern in _STDOUT_ERRORS.items() if pattern.search(text)}


def _is_false(value: Any) -> bool:
    return value is False or str(value).strip().strip('.').upper() in ('FALSE', 'F')


class FlexoVaspWorkChain(VaspWorkChain):
    """``vasp.vasp`` with the wall-time, ZBRENT and sub-space handlers it lacks (see the module docstring)."""

    _max_walltime_restarts = 3

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.output_namespace(
            'md_segments',
            valid_type=orm.FolderData,
            dynamic=True,
            required=False,
            help='Retrieved folders of MD runs stopped by the wall-time limit, whose finished steps precede the '
            'final run (keys segment_0, segment_1, ...).',
        )

    def setup(self) -> None:
        super().setup()
        self.ctx.walltime_restarts = 0
        self.ctx.md_segments = []
        self.ctx.subspace_fixes = []

    def prepare_inputs(self) -> None:
        """Restart from the remote folder chosen by a handler (``_setup_restart``).

        aiida-vasp 5.1 tests ``isinstance(restart_calc.process_class, VaspCalculation)``, which is never true (a class
        is not an instance of itself), so its restarts never copied the WAVECAR; this does what it meant to.
        """
        restart = self.ctx.restart_calc
        if restart is not None and issubclass(restart.process_class, self._process_class):
            self.ctx.inputs.restart_folder = restart.outputs.remote_folder
            parameters = dict(self.ctx.inputs.parameters)
            objects = self.ctx.last_calc_remote_objects
            if self.ctx.use_wavecar and 'WAVECAR' in objects:
                parameters['istart'] = 1
            else:
                parameters['istart'] = 0
            if 'CHGCAR' in objects and 'icharg' in parameters:
                parameters['icharg'] = 1
            self.ctx.inputs.parameters = parameters
            self.report(f'restarting from the remote folder of {restart} (ISTART = {parameters["istart"]})')
        self.ctx.last_calc_remote_objects = []
        self.ctx.restart_calc = None

    def results(self):
        exit_code = super().results()
        for index, retrieved in enumerate(self.ctx.md_segments):
            self.out(f'md_segments.segment_{index}', retrieved)
        return exit_code

    def _incar(self) -> dict[str, Any]:
        return dict(self.ctx.inputs.parameters)

    @process_handler(
        priority=950,
        exit_codes=[
            VaspCalculation.exit_codes.ERROR_DID_NOT_FINISH,
            VaspCalculation.exit_codes.ERROR_SCHEDULER_OUT_OF_WALLTIME,
        ],
    )
    def handle_out_of_walltime(self, node: orm.CalcJobNode) -> ProcessHandlerReport | None:
        """A run stopped before its end (wall time): go on from its WAVECAR, or from its last MD step."""
        if self.ctx.walltime_restarts >= self._max_walltime_restarts:
            self.report(f'{node} did not finish, {self.ctx.walltime_restarts} restarts already: leaving it')
            return None
        incar = self._incar()
        is_md = int(incar.get('ibrion', -1)) == 0 and int(incar.get('nsw', 0)) > 0
        if is_md:
            done, following = self._md_progress(node)
            if done:
                # CONTCAR holds the positions of the next step (VASP writes it after every ionic step); without
                # it the last finished step is recomputed, and the stitching drops the repeated frame
                start = following if following is not None else done[-1]
                self.ctx.inputs.structure = orm.StructureData(ase=start)
                incar['nsw'] = int(incar['nsw']) - len(done) + (0 if following is not None else 1)
                self.ctx.md_segments.append(node.outputs.retrieved)
                where = 'its CONTCAR' if following is not None else 'its last finished step'
                self.report(
                    f'{node} stopped after {len(done)} MD steps: going on from {where} with NSW = {incar["nsw"]}'
                )
                if incar['nsw'] < 1:
                    return None
        if not is_md:
            if self._setup_restart(node) and 'WAVECAR' in self.ctx.last_calc_remote_objects:
                self.report(f'{node} did not finish (wall time?): restarting from its WAVECAR')
            else:
                self.report(f'{node} did not finish (wall time?) and left no WAVECAR: restarting it')
        self.ctx.inputs.parameters = incar
        self.ctx.walltime_restarts += 1
        return ProcessHandlerReport(do_break=True)

    @staticmethod
    def _md_progress(node: orm.CalcJobNode) -> tuple[list, Any]:
        """The finished MD steps of a stopped run, and the structure of its next step (CONTCAR) or None."""
        import ase.io

        try:
            with retrieved_files(node.outputs.retrieved, ('vasprun.xml', 'OUTCAR', 'CONTCAR')) as folder:
                frames, _, _ = read_md_frames(folder)
                following = None
                contcar = folder / 'CONTCAR'
                if contcar.is_file() and contcar.stat().st_size > 0:
                    following = ase.io.read(contcar, format='vasp')
        except Exception:  # noqa: BLE001 - nothing readable: no finished step
            return [], None
        if following is not None and following.get_chemical_symbols() != frames[-1].get_chemical_symbols():
            following = None
        return frames, following

    @process_handler(priority=460)
    def handle_zbrent(self, node: orm.CalcJobNode) -> ProcessHandlerReport | None:
        """ "ZBRENT: fatal error in bracketing": IBRION = 1 with EDIFF / 10 from the last structure."""
        if 'zbrent' not in _notification_names(node):
            return None
        incar = self._incar()
        if int(incar.get('ibrion', -1)) == 1 and self.ctx.get('zbrent_fixed'):
            return None
        incar['ibrion'] = 1
        incar['ediff'] = float(incar.get('ediff', 1e-4)) / 10
        if 'structure' in node.outputs:
            self.ctx.inputs.structure = node.outputs.structure
        self.ctx.inputs.parameters = incar
        self.ctx.zbrent_fixed = True
        self.report(
            f'ZBRENT error in {node}: IBRION = 1, EDIFF = {incar["ediff"]:.1e}, from the last structure'
        )
        return ProcessHandlerReport(do_break=True)

    @process_handler(priority=450)
    def handle_subspace_matrix(self, node: orm.CalcJobNode) -> ProcessHandlerReport | None:
        """Sub-space rotation / ZHEGV failures: LREAL = .FALSE., then ALGO = All (Normal), then PREC = Accurate."""
        found = sorted((_notification_names(node) & set(SUBSPACE_ERRORS)) | _stdout_errors(node))
        if not found:
            return None
        incar = self._incar()
        algo = str(incar.get('algo', 'normal')).lower()
        if not _is_false(incar.get('lreal', False)):
            change = {'lreal': False}
        elif 'eddrmm_zhegv' in found and algo in ('fast', 'veryfast'):
            change = {'algo': 'normal'}
        elif algo != 'all':
            change = {'algo': 'all'}
        elif str(incar.get('prec', 'normal')).lower() != 'accurate':
            change = {'prec': 'accurate'}
        else:
            return None  # nothing left to try: aiida-vasp's critical-error handler aborts
        incar.update(change, istart=0)
        self.ctx.inputs.parameters = incar
        self.ctx.subspace_fixes.append(change)
        self.report(f'{", ".join(found)} in {node}: setting {change} and starting from fresh wave functions')
        return ProcessHandlerReport(do_break=True)


class VaspLabelWorkChain(WorkChain):
    """Label one frame (energy, forces, stress, Berry-phase dipole, Born charges, or an MD trajectory) with VASP."""

    _vasp_workchain = FlexoVaspWorkChain

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('structure', valid_type=orm.StructureData, help='The frame to label (3D periodic).')
        spec.input(
            'engine_inputs',
            valid_type=orm.Dict,
            serializer=orm.to_aiida_type,
            help='Engine-neutral inputs (aiida_flexo.engines.inputs.EngineInputs.to_dict()).',
        )
        spec.input('code', valid_type=orm.AbstractCode, help='The VASP code.')
        spec.input(
            'potential_family', valid_type=orm.Str, serializer=orm.to_aiida_type, help='POTCAR family.'
        )
        spec.input(
            'potential_mapping',
            valid_type=orm.Dict,
            serializer=orm.to_aiida_type,
            required=False,
            help="Element → POTCAR symbol (default: aiida-vasp's recommended set, e.g. Ba → Ba_sv).",
        )
        spec.input(
            'options',
            valid_type=orm.Dict,
            serializer=orm.to_aiida_type,
            required=False,
            help='metadata.options of the VASP calculations (resources, max_wallclock_seconds, withmpi, ...).',
        )
        spec.input(
            'settings',
            valid_type=orm.Dict,
            serializer=orm.to_aiida_type,
            required=False,
            help='Extra aiida-vasp settings, merged into those this work chain sets.',
        )
        spec.input(
            'max_iterations', valid_type=orm.Int, serializer=orm.to_aiida_type, default=lambda: orm.Int(5)
        )
        spec.input(
            'clean_workdir',
            valid_type=orm.Bool,
            serializer=orm.to_aiida_type,
            default=lambda: orm.Bool(False),
        )
        spec.outline(
            cls.setup,
            cls.run_vasp,
            cls.inspect_vasp,
            if_(cls.is_md)(cls.parse_md).else_(cls.parse_single_point),
            cls.results,
        )
        spec.output(
            'frames', valid_type=FramesData, required=False, help='flexo.frames: the labelled frame(s).'
        )
        spec.output('properties', valid_type=orm.Dict, required=False)
        spec.output('forces', valid_type=orm.ArrayData, required=False)
        spec.output('polarization', valid_type=orm.Dict, required=False)
        spec.output('born_charges', valid_type=orm.ArrayData, required=False)
        spec.output('trajectory', valid_type=orm.TrajectoryData, required=False)
        spec.output('md', valid_type=orm.Dict, required=False)
        spec.exit_code(300, 'ERROR_INVALID_INPUTS', message='invalid engine inputs: {message}')
        spec.exit_code(301, 'ERROR_NON_PERIODIC', message='the structure cannot be run with VASP: {message}')
        spec.exit_code(
            302,
            'ERROR_MISSING_POTENTIALS',
            message='no POTCAR for {species} in the family {family!r}: {message}',
        )
        spec.exit_code(401, 'ERROR_VASP_FAILED', message='the VASP {task} run failed: {message}')
        spec.exit_code(
            410,
            'ERROR_NO_BERRY_PHASE',
            message='the OUTCAR of the Berry-phase run has no LCALCPOL output: {message}',
        )
        spec.exit_code(411, 'ERROR_OUTPUT_UNREADABLE', message='the {task} output cannot be read: {message}')
        spec.exit_code(412, 'ERROR_NO_BORN_CHARGES', message='no Born charges in the VASP output: {message}')
        spec.exit_code(
            420,
            'ERROR_MD_EXPLODED',
            message='the MD exploded: {message} (the trajectory so far is in the outputs)',
        )

    @classmethod
    def get_builder_from_protocol(
        cls,
        code: orm.AbstractCode,
        structure: orm.StructureData,
        protocol: str = 'moderate',
        overrides: dict[str, Any] | None = None,
        options: dict[str, Any] | None = None,
        potential_family: str = 'PBE.54',
        potential_mapping: dict[str, str] | None = None,
    ):
        """A builder with engine inputs of ``protocol`` (fast, moderate, precise) updated by ``overrides``.

        ``overrides`` are EngineInputs fields, e.g. ``{'berry_phase': True, 'born_charges': {'enabled': True,
        'method': 'dfpt'}}``; VASP's protocol numbers are :data:`aiida_flexo.engines.vasp.VASP_PROTOCOLS`.
        """
        engine_inputs = EngineInputs.from_dict({'protocol': protocol, **(overrides or {})})
        builder = cls.get_builder()
        builder.code = code
        builder.structure = structure
        builder.engine_inputs = orm.Dict(engine_inputs.to_dict())
        builder.potential_family = orm.Str(potential_family)
        if potential_mapping:
            builder.potential_mapping = orm.Dict(potential_mapping)
        builder.options = orm.Dict(
            {'resources': {'num_machines': 1}, 'max_wallclock_seconds': 3600, **(options or {})}
        )
        return builder

    # ------------------------------------------------------------------------------------------------ steps
    def setup(self):
        """Validate the inputs, sort the atoms by species, check the POTCARs, build the INCARs."""
        try:
            self.ctx.engine_inputs = EngineInputs.from_dict(self.inputs.engine_inputs.get_dict())
        except InputsError as exc:
            return self.exit_codes.ERROR_INVALID_INPUTS.format(message=str(exc))
        atoms = self.inputs.structure.get_ase()
        if not all(atoms.pbc) or abs(float(np.linalg.det(atoms.cell[:]))) < 1e-6:
            return self.exit_codes.ERROR_NON_PERIODIC.format(
                message=f'pbc = {atoms.pbc.tolist()}, cell volume = {abs(float(np.linalg.det(atoms.cell[:]))):.3g} Å³; '
                'VASP needs three lattice vectors and pbc = True (add vacuum for slabs or molecules)'
            )
        family = self.inputs.potential_family.value
        mapping = default_potential_mapping()
        if 'potential_mapping' in self.inputs:
            mapping.update(self.inputs.potential_mapping.get_dict())
        species = sorted(set(atoms.get_chemical_symbols()))
        exit_code, zval = self._check_potentials(family, mapping, species)
        if exit_code is not None:
            return exit_code
        self.ctx.potential_mapping = {s: mapping[s] for s in species}
        sorted_nodes = vasp_sort_structure(self.inputs.structure)
        self.ctx.vasp_structure = sorted_nodes['structure']
        self.ctx.permutation = sorted_nodes['permutation']
        try:
            self.ctx.runs = vasp_runs(self.ctx.engine_inputs, self.ctx.vasp_structure.get_ase(), zval=zval)
        except InputsError as exc:
            return self.exit_codes.ERROR_INVALID_INPUTS.format(message=str(exc))
        return None

    def _check_potentials(self, family: str, mapping: dict[str, str], species: list[str]):
        from aiida_vasp.data.potcar import PotcarData

        group = PotcarData.get_potcar_group(family)
        if group is None:
            return (
                self.exit_codes.ERROR_MISSING_POTENTIALS.format(
                    species=species,
                    family=family,
                    message='the family does not exist: upload it with `verdi data vasp-potcar uploadfamily` or '
                    'give an existing potential_family',
                ),
                None,
            )
        nodes = {node.symbol: node for node in group.nodes}
        missing = [s for s in species if mapping.get(s) not in nodes]
        if missing:
            wanted = {s: mapping.get(s) for s in missing}
            return (
                self.exit_codes.ERROR_MISSING_POTENTIALS.format(
                    species=missing,
                    family=family,
                    message=f'looked for {wanted} among {sorted(nodes)}; upload them or set potential_mapping',
                ),
                None,
            )
        zval = {}
        for s in species:
            text = nodes[mapping[s]].find_file_node().get_content().decode(errors='replace')
            match = re.search(r'ZVAL\s*=\s*([-\d.]+)', text)
            if match:
                zval[s] = float(match.group(1))
        return None, (zval if len(zval) == len(species) else None)

    def is_md(self) -> bool:
        return 'md' in self.ctx.runs

    def _vasp_inputs(self, task: str, native: dict[str, Any]) -> AttributeDict:
        inputs = AttributeDict()
        inputs.code = self.inputs.code
        inputs.structure = self.ctx.vasp_structure
        inputs.parameters = orm.Dict({'incar': {k.lower(): v for k, v in native['incar'].items()}})
        kpoints = orm.KpointsData()
        kpoints.set_cell_from_structure(self.ctx.vasp_structure)
        kpoints.set_kpoints_mesh(native['kpoints']['mesh'], offset=native['kpoints']['offset'])
        inputs.kpoints = kpoints
        inputs.potential_family = self.inputs.potential_family
        inputs.potential_mapping = orm.Dict(self.ctx.potential_mapping)
        settings = {
            'parser_settings': {
                **_PARSER_SETTINGS,
                'critical_objects': _CRITICAL_FILES,
            },
            'CHECK_IONIC_CONVERGENCE': False,
        }
        if 'settings' in self.inputs:
            extra = self.inputs.settings.get_dict()
            settings['parser_settings'].update(extra.pop('parser_settings', {}))
            settings.update(extra)
        inputs.settings = orm.Dict(settings)
        inputs.max_iterations = self.inputs.max_iterations
        inputs.clean_workdir = self.inputs.clean_workdir
        options = {'resources': {'num_machines': 1}, 'max_wallclock_seconds': 3600}
        if 'options' in self.inputs:
            options.update(self.inputs.options.get_dict())
        inputs.calc = {'metadata': {'options': options}}
        inputs.metadata = {'label': f'{task}', 'call_link_label': f'vasp_{task}'}
        return inputs

    def run_vasp(self):
        """Submit one FlexoVaspWorkChain per VASP run of the frame (they run in parallel)."""
        futures = {}
        for task, native in self.ctx.runs.items():
            node = self.submit(self._vasp_workchain, **self._vasp_inputs(task, native))
            self.report(f'submitted {self._vasp_workchain.__name__}<{node.pk}> for the {task} run')
            futures[task] = node
        return self.to_context(**futures)

    def inspect_vasp(self):
        """Record which runs finished; a failed run is reported and its task skipped (its exit code comes last)."""
        self.ctx.failed = []
        for task in self.ctx.runs:
            node = self.ctx[task]
            if not node.is_finished_ok:
                message = (
                    f'{node.process_label}<{node.pk}> exit status {node.exit_status}: {node.exit_message}'
                )
                self.report(f'the {task} run failed: {message}')
                self.ctx.failed.append((task, message))

    def _ok(self, task: str) -> bool:
        return task in self.ctx.runs and all(t != task for t, _ in self.ctx.failed)

    def parse_single_point(self):
        """Energy, forces, stress (+ Berry phase) from the first run; Born charges from the second."""
        pieces: dict[str, orm.Data] = {}
        self.ctx.parse_error = None
        first = 'berry_phase' if 'berry_phase' in self.ctx.runs else 'scf'
        if self._ok(first):
            retrieved = self.ctx[first].outputs.retrieved
            result, node = vasp_scf_labels.run_get_node(retrieved, self.ctx.permutation)
            if node.is_finished_ok:
                pieces.update(result)
            else:
                self.ctx.parse_error = self.exit_codes.ERROR_OUTPUT_UNREADABLE.format(
                    task=first, message=node.exit_message
                )
            if first == 'berry_phase':
                result, node = vasp_berry_phase.run_get_node(retrieved)
                if node.is_finished_ok:
                    pieces.update(result)
                elif node.exit_status == EXIT_NO_BERRY_PHASE:
                    self.ctx.parse_error = self.exit_codes.ERROR_NO_BERRY_PHASE.format(
                        message=node.exit_message
                    )
                else:
                    self.ctx.parse_error = self.exit_codes.ERROR_OUTPUT_UNREADABLE.format(
                        task=first, message=node.exit_message
                    )
        if self._ok('born_charges'):
            child = self.ctx.born_charges
            parsed = {
                name: child.outputs[name] for name in ('born_charges', 'dielectrics') if name in child.outputs
            }
            result, node = vasp_born_charges.run_get_node(
                child.outputs.retrieved, self.ctx.permutation, **parsed
            )
            if node.is_finished_ok:
                pieces.update(result)
            elif node.exit_status == EXIT_NO_BORN_CHARGES:
                self.ctx.parse_error = self.exit_codes.ERROR_NO_BORN_CHARGES.format(message=node.exit_message)
            else:
                self.ctx.parse_error = self.exit_codes.ERROR_OUTPUT_UNREADABLE.format(
                    task='born_charges', message=node.exit_message
                )
        self.ctx.pieces = pieces

    def parse_md(self):
        """The trajectory of the MD run (all its segments) and the exploded-MD check."""
        self.ctx.pieces = {}
        self.ctx.parse_error = None
        if not self._ok('md'):
            return
        child = self.ctx.md
        segments = {}
        if 'md_segments' in child.outputs:
            for key in sorted(child.outputs.md_segments, key=lambda k: int(k.rsplit('_', 1)[-1])):
                segments[f'segment_{len(segments)}'] = child.outputs.md_segments[key]
        segments[f'segment_{len(segments)}'] = child.outputs.retrieved
        md = self.ctx.engine_inputs.md
        result, node = vasp_md_trajectory.run_get_node(
            self.ctx.permutation, orm.Float(md.timestep), **segments
        )
        if not node.is_finished_ok:
            self.ctx.parse_error = self.exit_codes.ERROR_OUTPUT_UNREADABLE.format(
                task='md', message=node.exit_message
            )
            return
        self.ctx.pieces = {**result, 'interval': orm.Int(md.interval)}
        problem = md_exploded(
            result['trajectory'].get_array('temperature'), md.temperature, md.max_temperature_factor
        )
        if problem:
            self.ctx.parse_error = self.exit_codes.ERROR_MD_EXPLODED.format(message=problem)

    def results(self):
        """Attach what was computed, then return the first problem met (finished pieces are always kept)."""
        pieces = dict(self.ctx.get('pieces', {}))
        for name, node in pieces.items():
            if name in ('properties', 'forces', 'polarization', 'born_charges', 'trajectory', 'md'):
                self.out(name, node)
        labelled = {
            k: v
            for k, v in pieces.items()
            if k in ('properties', 'forces', 'polarization', 'born_charges', 'trajectory', 'interval')
        }
        if ('properties' in labelled and 'forces' in labelled) or 'trajectory' in labelled:
            self.out('frames', vasp_labelled_frames(self.inputs.structure, **labelled)['frames'])
        if self.ctx.failed:
            task, message = self.ctx.failed[0]
            return self.exit_codes.ERROR_VASP_FAILED.format(task=task, message=message)
        return self.ctx.get('parse_error')
