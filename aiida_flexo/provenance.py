"""Provenance queries: which DFT frames, codes, parameters and models produced a flexoelectric coefficient.

Works on the loaded AiiDA profile (QueryBuilder and graph traversal over data-provenance links: a data node's
creator and each calculation's inputs):

* :func:`list_coefficients`: every μ with its material, component, supercell size, strain and models' accuracy;
* :func:`trace_coefficient`: one μ back to its DFT frames, labelling calculations, codes, parameters and models;
* :func:`results_using`: every μ downstream of a node (a frame set, a model, a DFT calculation).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aiida import orm
from aiida.common.links import LinkType
from aiida.tools.graph.graph_traversers import traverse_graph

from aiida_flexo.gates import gate_verdict
from aiida_flexo.nodes.coefficient import FlexoCoefficientData
from aiida_flexo.nodes.frames import FramesData

#: data provenance: a data node <- the calculation that created it <- that calculation's inputs
_BACKWARD = (LinkType.CREATE, LinkType.INPUT_CALC)
_FORWARD = (LinkType.INPUT_CALC, LinkType.CREATE)
#: process types whose outputs carry a model's accuracy, by entry point
_MODEL_TRAINERS = {'flexo.gnn.train': 'dipole', 'flexo.mlip.train': 'mlip'}
_DFT_PROCESSES = ('flexo.gpaw', 'vasp.vasp')


def ancestors(node: orm.Node) -> list[orm.Node]:
    """All data and calculation nodes the node derives from (data provenance, backward)."""
    pks = traverse_graph([node.pk], links_backward=_BACKWARD)['nodes']
    return [orm.load_node(pk) for pk in sorted(pks) if pk != node.pk]


def descendants(node: orm.Node) -> list[orm.Node]:
    """All data and calculation nodes derived from the node (data provenance, forward)."""
    pks = traverse_graph([node.pk], links_forward=_FORWARD)['nodes']
    return [orm.load_node(pk) for pk in sorted(pks) if pk != node.pk]


def _entry_point(node: orm.Node) -> str | None:
    process_type = getattr(node, 'process_type', None) or ''
    return process_type.split(':', 1)[1] if ':' in process_type else None


def held_out_metrics(metrics: dict) -> dict:
    """The test-set metrics of a training run (nested ``test`` dict of the MLIP, flat ``test_*`` keys of the GNN);
    the validation set when there is no test set."""
    for subset in ('test', 'val'):
        nested = metrics.get(subset)
        if isinstance(nested, dict) and nested:
            return dict(nested)
        flat = {
            key[len(subset) + 1 :]: value for key, value in metrics.items() if key.startswith(f'{subset}_')
        }
        if flat:
            return flat
    return {}


def _model_metrics(nodes: list[orm.Node]) -> dict[str, dict]:
    """Accuracy of the models among ``nodes``: {'dipole': {...}, 'mlip': {...}} from their training calcs."""
    metrics = {}
    for node in nodes:
        kind = _MODEL_TRAINERS.get(_entry_point(node) or '')
        if kind and isinstance(node, orm.CalcJobNode) and 'metrics' in node.outputs:
            test = held_out_metrics(node.outputs.metrics.get_dict())
            metrics[kind] = {
                'training_calc': node.pk,
                'model': node.outputs.model.pk if 'model' in node.outputs else None,
            }
            for key in (
                'dipole_mae_eA',
                'bec_mae_e',
                'force_mae_meV_A',
                'energy_mae_meV_atom',
                'stress_mae_GPa',
            ):
                if key in test:
                    metrics[kind][key] = test[key]
    return metrics


@dataclass
class CoefficientRow:
    """One μ of the database, as ``aiida-flexo query list`` shows it."""

    pk: int
    formula: str
    component: str
    mu_fit: float | None
    mu_fit_stderr: float | None
    mu_two_point: float | None
    repeat: list
    max_strain: float | None
    relaxed: bool
    models: dict = field(default_factory=dict)
    #: the accuracy gate on the models' held-out errors (aiida_flexo.gates.PHYSICAL_GATES): passed True/False/None
    gate: dict = field(default_factory=dict)
    ctime: str = ''

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def list_coefficients(
    formula: str | None = None, component: str | None = None, with_models: bool = True
) -> list[CoefficientRow]:
    """Every flexo.coefficient node (newest last), optionally filtered by formula and component."""
    filters = {}
    if formula:
        filters['attributes.formula'] = formula
    if component:
        filters['attributes.component'] = component
    qb = (
        orm.QueryBuilder()
        .append(FlexoCoefficientData, filters=filters, tag='mu')
        .order_by({'mu': {'ctime': 'asc'}})
    )
    rows = []
    for (node,) in qb.iterall():
        attributes = node.base.attributes.all
        models = _model_metrics(ancestors(node)) if with_models else {}
        rows.append(
            CoefficientRow(
                pk=node.pk,
                formula=attributes.get('formula', ''),
                component=attributes.get('component', ''),
                mu_fit=attributes.get('mu_fit_nC_per_m'),
                mu_fit_stderr=attributes.get('mu_fit_stderr_nC_per_m'),
                mu_two_point=attributes.get('mu_two_point_nC_per_m'),
                repeat=attributes.get('repeat', []),
                max_strain=attributes.get('max_strain'),
                relaxed=bool(attributes.get('relaxed', False)),
                models=models,
                gate=gate_verdict(models) if with_models else {},
                ctime=node.ctime.isoformat(timespec='seconds'),
            )
        )
    return rows


def trace_coefficient(pk: int | str) -> dict:
    """Everything one μ came from, grouped: frames, DFT calculations, codes, parameters, models, other steps."""
    node = orm.load_node(pk)
    if not isinstance(node, FlexoCoefficientData):
        raise ValueError(f'node {pk} is a {type(node).__name__}, not a flexo.coefficient')
    nodes = ancestors(node)
    trace: dict = {
        'coefficient': {'pk': node.pk, 'uuid': node.uuid, **node.base.attributes.all},
        'frames': [],
        'dft_calculations': [],
        'codes': [],
        'parameters': [],
        'models': _model_metrics(nodes),
        'steps': [],
    }
    for other in nodes:
        if isinstance(other, FramesData):
            trace['frames'].append(
                {
                    'pk': other.pk,
                    'label': other.label,
                    'n_frames': other.n_frames,
                    'labels': other.labels,
                    'frames_hash': other.frames_hash,
                }
            )
        elif isinstance(other, orm.AbstractCode):
            trace['codes'].append({'pk': other.pk, 'label': other.full_label})
        elif isinstance(other, orm.ProcessNode):
            entry = _entry_point(other) or other.process_label
            record = {
                'pk': other.pk,
                'process': entry,
                'label': other.label,
                'exit_status': other.exit_status,
            }
            if entry in _DFT_PROCESSES:
                trace['dft_calculations'].append(record)
            else:
                trace['steps'].append(record)
        elif isinstance(other, orm.Dict) and not isinstance(other, FlexoCoefficientData):
            creator = other.creator
            if creator is None:  # an input the user gave, not an intermediate result
                trace['parameters'].append(
                    {'pk': other.pk, 'label': other.label, 'content': other.get_dict()}
                )
    return trace


def results_using(pk: int | str) -> list[CoefficientRow]:
    """Every μ derived from a node: a frame set, a trained model, a DFT calculation, a code..."""
    node = orm.load_node(pk)
    found = {other.pk for other in descendants(node) if isinstance(other, FlexoCoefficientData)}
    return [row for row in list_coefficients(with_models=False) if row.pk in found]
