"""``flexo.mlip.distill``: a fast Allegro student from a slow, accurate teacher potential, with provenance.

Outline: the teacher labels MD and perturbed frames of the given structures (``flexo.mlip.sample``) → the student
trains on them (``flexo.mlip.train``, Allegro) → the student and the teacher are scored on held-out DFT frames
(``flexo.mlip.eval``, in parallel). When no DFT frames are given and the teacher is the output of a
``flexo.mlip.train`` CalcJob, its own training frames and the test frames of its split are used: the student's
error is then measured on DFT frames neither model was trained on, and the graph runs student → teacher frames →
teacher → its DFT frames.
"""

from __future__ import annotations

from aiida import orm
from aiida.common import AttributeDict
from aiida.engine import ToContext, WorkChain, if_

from aiida_flexo.calcjobs.base import scheduler_options
from aiida_flexo.calcjobs.mlip import MlipEvalCalculation, MlipSampleCalculation, MlipTrainCalculation
from aiida_flexo.nodes.frames import FramesData


class MlipDistillWorkChain(WorkChain):
    """Teacher frames → Allegro student → student and teacher against held-out DFT frames."""

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.expose_inputs(
            MlipSampleCalculation,
            namespace='sample',
            namespace_options={'help': 'The teacher (model), the structures and the sampling parameters.'},
        )
        spec.expose_inputs(
            MlipTrainCalculation,
            namespace='student',
            exclude=('frames',),
            namespace_options={'help': 'Training of the student (Allegro: no from_potential).'},
        )
        spec.input(
            'dft_frames',
            valid_type=FramesData,
            required=False,
            help='Held-out DFT frames (default: the test frames of the teacher training, when on record).',
        )
        spec.input('dft_indices', valid_type=orm.List, required=False, help='Use only these of `dft_frames`.')
        spec.outline(
            cls.sample,
            cls.inspect_sample,
            cls.train,
            cls.inspect_train,
            if_(cls.has_dft_frames)(cls.evaluate, cls.inspect_evaluate),
            cls.results,
        )
        spec.output('model', valid_type=orm.SinglefileData, help='The student potential.')
        spec.output('metrics', valid_type=orm.Dict, help='The student training metrics (vs teacher labels).')
        spec.output('teacher_frames', valid_type=FramesData, help='The teacher-labelled frames.')
        spec.output(
            'report',
            valid_type=orm.Dict,
            help='student_vs_teacher, student_vs_dft, teacher_vs_dft (force meV/Å, energy meV/atom, stress GPa).',
        )
        spec.exit_code(401, 'ERROR_SAMPLING_FAILED', message='the teacher sampling failed: {message}')
        spec.exit_code(402, 'ERROR_TRAINING_FAILED', message='the student training failed: {message}')
        spec.exit_code(
            403, 'ERROR_EVALUATION_FAILED', message='the evaluation on DFT frames failed: {message}'
        )
        spec.exit_code(
            404, 'ERROR_STUDENT_IS_FINETUNED', message='the student must be Allegro: remove from_potential'
        )

    def sample(self):
        parameters = self.inputs.student.get('parameters')
        if parameters is not None and parameters.get_dict().get('from_potential'):
            return self.exit_codes.ERROR_STUDENT_IS_FINETUNED
        inputs = AttributeDict(self.exposed_inputs(MlipSampleCalculation, namespace='sample'))
        inputs.metadata = AttributeDict(inputs.get('metadata', {}))
        inputs.metadata.call_link_label = 'sample'
        inputs.metadata.label = 'teacher frames'
        node = self.submit(MlipSampleCalculation, **inputs)
        self.report(f'the teacher labels MD and perturbed frames: {node.process_label}<{node.pk}>')
        return ToContext(sample=node)

    def inspect_sample(self):
        node = self.ctx.sample
        if not node.is_finished_ok:
            return self.exit_codes.ERROR_SAMPLING_FAILED.format(
                message=f'<{node.pk}> [{node.exit_status}] {node.exit_message}'
            )
        self.report(f'{node.outputs.frames.n_frames} teacher frames')
        return None

    def train(self):
        inputs = AttributeDict(self.exposed_inputs(MlipTrainCalculation, namespace='student'))
        inputs.frames = self.ctx.sample.outputs.frames
        inputs.metadata = AttributeDict(inputs.get('metadata', {}))
        inputs.metadata.call_link_label = 'train_student'
        inputs.metadata.label = 'student training'
        node = self.submit(MlipTrainCalculation, **inputs)
        self.report(f'training the Allegro student: {node.process_label}<{node.pk}>')
        return ToContext(student=node)

    def inspect_train(self):
        node = self.ctx.student
        if not node.is_finished_ok:
            return self.exit_codes.ERROR_TRAINING_FAILED.format(
                message=f'<{node.pk}> [{node.exit_status}] {node.exit_message}'
            )
        test = node.outputs.metrics.get_dict().get('test') or {}
        self.report(
            f'student vs teacher on held-out teacher frames: force MAE {test.get("force_mae_meV_A", float("nan")):.1f}'
            ' meV/Å'
        )
        return None

    def _teacher_dft_frames(self) -> tuple[FramesData, list[int]] | None:
        """The training frames and test indices of the teacher, when a flexo.mlip.train made it."""
        teacher = self.inputs.sample.model
        if isinstance(teacher, orm.Str):
            return None
        creator = teacher.base.links.get_incoming(link_label_filter='model').all()
        calcs = [link.node for link in creator if isinstance(link.node, orm.CalcJobNode)]
        if not calcs or calcs[0].process_type != 'aiida.calculations:flexo.mlip.train':
            return None
        calc = calcs[0]
        if 'split' not in calc.outputs:
            return None
        test = calc.outputs.split.get_dict().get('test') or []
        return (calc.inputs.frames, list(test)) if test else None

    def has_dft_frames(self):
        if 'dft_frames' in self.inputs:
            self.ctx.dft = (
                self.inputs.dft_frames,
                self.inputs.dft_indices.get_list() if 'dft_indices' in self.inputs else None,
            )
            return True
        found = self._teacher_dft_frames()
        if found is None:
            self.report(
                'no held-out DFT frames given or on record: the student is compared with the teacher only'
            )
            return False
        self.ctx.dft = found
        self.report(
            f'held-out DFT frames: test split of the teacher training ({len(found[1])} frames of <{found[0].pk}>)'
        )
        return True

    def evaluate(self):
        frames, indices = self.ctx.dft
        code = self.inputs.student.code
        options = scheduler_options(self.inputs.student.get('metadata', {}).get('options'))
        calcs = {}
        for key, model in (
            ('eval_student', self.ctx.student.outputs.model),
            ('eval_teacher', self.inputs.sample.model),
        ):
            inputs = {
                'code': code,
                'model': model,
                'frames': frames,
                'metadata': {'call_link_label': key, 'label': key},
            }
            if indices is not None:
                inputs['indices'] = orm.List(list(indices))
            if options:
                inputs['metadata']['options'] = options
            calcs[key] = self.submit(MlipEvalCalculation, **inputs)
        return ToContext(**calcs)

    def inspect_evaluate(self):
        for key in ('eval_student', 'eval_teacher'):
            node = self.ctx[key]
            if not node.is_finished_ok:
                return self.exit_codes.ERROR_EVALUATION_FAILED.format(
                    message=f'{key} <{node.pk}> [{node.exit_status}] {node.exit_message}'
                )
        return None

    def results(self):
        from aiida_flexo.calcjobs.functions.mlip import distillation_report

        student = self.ctx.student
        inputs = {'student': student.outputs.metrics, 'sampling': self.ctx.sample.outputs.summary}
        if 'eval_student' in self.ctx:
            inputs['student_dft'] = self.ctx.eval_student.outputs.metrics
            inputs['teacher_dft'] = self.ctx.eval_teacher.outputs.metrics
        report = distillation_report(**inputs, metadata={'call_link_label': 'report'})
        if 'student_vs_dft' in report.get_dict():
            self.report(
                f'on held-out DFT frames: student force MAE {report["student_vs_dft"]["force_mae_meV_A"]:.1f} meV/Å, '
                f'teacher {report["teacher_vs_dft"]["force_mae_meV_A"]:.1f} meV/Å'
            )
        self.out('model', student.outputs.model)
        self.out('metrics', student.outputs.metrics)
        self.out('teacher_frames', self.ctx.sample.outputs.frames)
        self.out('report', report)
