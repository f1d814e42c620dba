"""Calcfunctions of the polar-texture workflow (``flexo.textures``): build, frames, field, analysis, pictures.

They call :mod:`aiida_flexo.textures` (no science here beyond turning nodes into plain objects and back), so that
every skyrmion number in the database is linked to the field, the predicted dipoles, the MD and the superlattice it
came from.

The *grid* of a superlattice is an ArrayData with the fixed B-centred cell assignment of the undistorted structure
(see :mod:`aiida_flexo.textures.superlattice`): arrays ``cell_index`` (n_atoms, 3) int, ``site`` (n_atoms,) int,
``layer_heights_A`` (L,) and, for built superlattices, ``seed`` (Nx, Ny, L, 3); attributes ``grid_shape``
[Nx, Ny, L], ``cell_size_A`` [a_x, a_y, mean c], ``layer_materials`` and ``source``. MD keeps the atom order, so
the assignment of the reference holds for every frame.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
from aiida import orm
from aiida.engine import calcfunction

from aiida_flexo.calcjobs.utils import jsonable

#: keys of the ``superlattice`` Dict (the arguments of :func:`aiida_flexo.textures.build_superlattice`)
BUILD_KEYS = (
    'm',
    'n',
    'size',
    'materials',
    'a_inplane',
    'substrate',
    'c_out_of_plane',
    'seed',
    'seed_in',
    'displacement_B',
    'displacement_O',
    'stripe_width',
    'stripe_axis',
    'bubble_radius',
    'bubble_center',
)
#: keys of the ``grid`` Dict that goes with an explicit structure
GRID_KEYS = ('grid_shape', 'layer_heights', 'layer_materials')
#: keys of the analysis options (arguments of :func:`aiida_flexo.textures.analyse_texture`)
ANALYSIS_KEYS = ('layers', 'domain_method', 'zero_tol', 'domain_threshold', 'ising_threshold', 'max_profiles')
#: keys of the picture options
PICTURE_KEYS = ('html', 'plotlyjs', 'vtk', 'dpi')


def _check_keys(options: dict, allowed: tuple[str, ...], what: str) -> None:
    unknown = set(options) - set(allowed)
    if unknown:
        raise ValueError(f'unknown {what} {sorted(unknown)}; allowed: {list(allowed)}')


def superlattice_from_parameters(parameters: dict):
    """The :class:`~aiida_flexo.textures.Superlattice` of a ``superlattice`` Dict (ValueError naming the problem)."""
    from aiida_flexo.textures.superlattice import build_superlattice

    options = dict(parameters)
    _check_keys(options, BUILD_KEYS, 'superlattice parameters')
    missing = [key for key in ('m', 'n', 'size') if key not in options]
    if missing:
        raise ValueError(
            f'the superlattice needs {missing} (m, n: unit cells of each material; size: N or [Nx, Ny])'
        )
    size = options.pop('size')
    size = tuple(int(x) for x in size) if isinstance(size, list | tuple) else int(size)
    if 'bubble_center' in options:
        options['bubble_center'] = tuple(options['bubble_center'])
    return build_superlattice(options.pop('m'), options.pop('n'), size, **options)


def _grid_node(
    cell_index, site, grid_shape, cell_size, heights, materials, source, seed=None
) -> orm.ArrayData:
    grid = orm.ArrayData()
    grid.set_array('cell_index', np.asarray(cell_index, dtype=int))
    grid.set_array('site', np.asarray(site, dtype=int))
    grid.set_array('layer_heights_A', np.asarray(heights, dtype=float))
    if seed is not None:
        grid.set_array('seed', np.asarray(seed, dtype=float))
    grid.base.attributes.set_many(
        {
            'grid_shape': [int(x) for x in grid_shape],
            'cell_size_A': [float(x) for x in cell_size],
            'layer_materials': list(materials) if materials is not None else None,
            'source': source,
            'units': {'length': 'angstrom'},
        }
    )
    return grid


@calcfunction
def build_texture_superlattice(parameters: orm.Dict) -> dict:
    """An (A)m/(B)n perovskite superlattice (:func:`aiida_flexo.textures.build_superlattice`).

    ``parameters``: m, n, size (N or [Nx, Ny]), materials, a_inplane or substrate, c_out_of_plane, seed
    (none/uniform/stripes/bubble), seed_in (A/B/both), displacement_B, displacement_O, stripe_width, stripe_axis,
    bubble_radius, bubble_center. Outputs: ``structure`` (StructureData) and ``grid`` (ArrayData, see the module).
    """
    sl = superlattice_from_parameters(parameters.get_dict())
    atoms = sl.atoms.copy()
    for key in list(atoms.arrays):
        if key not in ('numbers', 'positions'):
            del atoms.arrays[key]
    atoms.info = {}
    grid = _grid_node(
        sl.cell_index,
        sl.site,
        sl.grid_shape,
        sl.cell_size_A(),
        sl.layer_heights,
        sl.layer_materials,
        'build_superlattice',
        seed=sl.seed,
    )
    grid.base.attributes.set('a_inplane_A', float(sl.a_inplane))
    return {'structure': orm.StructureData(ase=atoms), 'grid': grid}


@calcfunction
def assign_texture_grid(structure: orm.StructureData, grid: orm.Dict) -> dict:
    """The cell assignment of a given perovskite superlattice from its positions (``assign_cells``).

    ``grid``: grid_shape [Nx, Ny, L], layer_heights (Å, (L,); default equal layers), layer_materials (names, for
    the record). The structure must be orthorhombic, as built, with atoms within a/4 of their ideal sites.
    """
    from aiida_flexo.textures.superlattice import assign_cells

    options = grid.get_dict()
    _check_keys(options, GRID_KEYS, 'grid keys')
    if 'grid_shape' not in options or len(options['grid_shape']) != 3:
        raise ValueError('the grid needs grid_shape [Nx, Ny, L] (unit cells along a, b and c)')
    shape = tuple(int(x) for x in options['grid_shape'])
    atoms = structure.get_ase()
    index, site = assign_cells(atoms, shape, options.get('layer_heights'))
    lengths = atoms.cell.lengths()
    if options.get('layer_heights') is not None:
        heights = np.asarray(options['layer_heights'], dtype=float)
        heights = heights * lengths[2] / heights.sum()
    else:
        heights = np.full(shape[2], lengths[2] / shape[2])
    cell_size = [lengths[0] / shape[0], lengths[1] / shape[1], float(heights.mean())]
    return {
        'grid': _grid_node(
            index, site, shape, cell_size, heights, options.get('layer_materials'), 'assign_cells'
        )
    }


@calcfunction
def select_trajectory_frames(trajectory: orm.TrajectoryData, count: orm.Int) -> dict:
    """The last ``count`` frames of an MD trajectory as StructureData, keyed ``step_<global MD step>``."""
    n_frames = len(trajectory.get_stepids())
    number = int(count.value)
    if number < 1:
        raise ValueError(f'average_last must be at least 1, got {number}')
    number = min(number, n_frames)
    steps = (
        trajectory.get_array('md_steps') if 'md_steps' in trajectory.get_arraynames() else np.arange(n_frames)
    )
    return {
        f'step_{int(steps[i]):07d}': trajectory.get_step_structure(i)
        for i in range(n_frames - number, n_frames)
    }


def field_node_to_object(field: orm.ArrayData):
    """The :class:`~aiida_flexo.textures.PolarizationField` of a field ArrayData."""
    from aiida_flexo.textures.field import PolarizationField

    return PolarizationField(
        P=field.get_array('polarization'),
        cell_size_A=field.get_array('cell_size_A'),
        layer_heights_A=field.get_array('layer_heights_A'),
        n_frames=int(field.base.attributes.get('n_frames', 1)),
    )


@calcfunction
def texture_field(grid: orm.ArrayData, **dipoles: orm.ArrayData) -> dict:
    """The polarization field P (C/m², (Nx, Ny, L, 3)) from GNN per-atom dipoles of one or more frames.

    ``dipoles``: outputs of ``flexo.gnn.predict`` (array ``per_atom_dipoles``, e·Å), one per frame, all with the
    atoms of the grid in its order; their mean is summed per cell and divided by the reference cell volume
    a_x·a_y·c_k (:func:`aiida_flexo.textures.polarization_field`). Output ``field`` (ArrayData): ``polarization``,
    ``cell_size_A`` (a_x, a_y, mean c), ``layer_heights_A``, ``frame_mean_polarization`` ((n_frames, 3) C/m²) and
    ``cell_centres_{x,y,z}_A``; attributes grid_shape, n_frames, frames, layer_materials, mean_abs_P_C_per_m2.
    """
    from aiida_flexo.textures.field import cell_centres_A, polarization_field

    if not dipoles:
        raise ValueError('texture_field needs the dipoles of at least one frame')
    shape = tuple(grid.base.attributes.get('grid_shape'))
    cell_size = np.asarray(grid.base.attributes.get('cell_size_A'), dtype=float)
    heights = grid.get_array('layer_heights_A')
    cell_index = grid.get_array('cell_index')
    keys = sorted(dipoles)
    per_frame = np.array([dipoles[key].get_array('per_atom_dipoles') for key in keys])
    if per_frame.shape[1] != len(cell_index):
        raise ValueError(
            f'the dipoles are of {per_frame.shape[1]} atoms, the grid assigns {len(cell_index)}: predict on frames '
            'of the superlattice itself (same atoms, same order)'
        )
    volumes = cell_size[0] * cell_size[1] * heights
    P = polarization_field(per_frame.mean(axis=0), cell_index, shape, volumes)
    frame_means = np.array(
        [polarization_field(d, cell_index, shape, volumes).mean(axis=(0, 1, 2)) for d in per_frame]
    )
    field = orm.ArrayData()
    field.set_array('polarization', P)
    field.set_array('cell_size_A', cell_size)
    field.set_array('layer_heights_A', heights)
    field.set_array('frame_mean_polarization', frame_means)
    for axis, centres in zip('xyz', cell_centres_A(shape, cell_size, heights)):
        field.set_array(f'cell_centres_{axis}_A', centres)
    field.base.attributes.set_many(
        {
            'grid_shape': list(shape),
            'n_frames': len(keys),
            'frames': keys,
            'layer_materials': grid.base.attributes.get('layer_materials', None),
            'mean_abs_P_C_per_m2': float(np.linalg.norm(P, axis=-1).mean()),
            'mean_P_C_per_m2': P.mean(axis=(0, 1, 2)).tolist(),
            'units': {'polarization': 'C/m^2', 'length': 'angstrom'},
        }
    )
    return {'field': field}


@calcfunction
def analyse_texture_field(field: orm.ArrayData, options: orm.Dict | None = None) -> orm.Dict:
    """Skyrmion number per layer, domains, walls (type, width) and mean |P| of a field
    (:func:`aiida_flexo.textures.analyse_texture`; ``options``: layers, domain_method, zero_tol, domain_threshold,
    ising_threshold, max_profiles)."""
    from aiida_flexo.textures.analysis import analyse_texture

    kwargs = options.get_dict() if options is not None else {}
    _check_keys(kwargs, ANALYSIS_KEYS, 'analysis options')
    pfield = field_node_to_object(field)
    result = analyse_texture(pfield.P, pfield.cell_size_A, layer_heights_A=pfield.layer_heights_A, **kwargs)
    result['n_frames'] = pfield.n_frames
    return orm.Dict(jsonable(result))


def _file_node(path: Path) -> orm.SinglefileData:
    return orm.SinglefileData(io.BytesIO(path.read_bytes()), filename=path.name)


@calcfunction
def draw_texture_field(field: orm.ArrayData, analysis: orm.Dict, options: orm.Dict | None = None) -> dict:
    """Pictures of a field: ``layers`` (PNG, quiver over P_z per layer, Q in the titles), ``section_xz`` and
    ``section_yz`` (PNG), ``vtk`` (legacy VTK) and ``html`` (plotly 3D view). ``options``: vtk (default True),
    html (default True), plotlyjs ('cdn' (default, small file, needs the network to view) or 'embed'), dpi."""
    from aiida_flexo.textures import plots

    settings = {'vtk': True, 'html': True, 'plotlyjs': 'cdn', 'dpi': 120}
    settings.update(options.get_dict() if options is not None else {})
    _check_keys(settings, PICTURE_KEYS, 'picture options')
    pfield = field_node_to_object(field)
    result = analysis.get_dict()
    layers = result.get('layers', list(range(pfield.P.shape[2])))
    outputs = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        outputs['layers'] = plots.plot_layers(
            pfield.P,
            folder / 'layers.png',
            pfield.cell_size_A,
            layers=layers,
            skyrmion_numbers=result.get('skyrmion_number_per_layer'),
            dpi=int(settings['dpi']),
        )
        for plane in ('xz', 'yz'):
            outputs[f'section_{plane}'] = plots.plot_cross_section(
                pfield.P,
                folder / f'section_{plane}.png',
                pfield.cell_size_A,
                layer_heights_A=pfield.layer_heights_A,
                plane=plane,
            )
        if settings['vtk']:
            outputs['vtk'] = plots.write_vtk(
                folder / 'field.vtk', pfield.P, pfield.cell_size_A, layer_heights_A=pfield.layer_heights_A
            )
        if settings['html']:
            outputs['html'] = plots.write_html(
                folder / 'field.html',
                pfield.P,
                pfield.cell_size_A,
                layer_heights_A=pfield.layer_heights_A,
                include_plotlyjs=True if settings['plotlyjs'] == 'embed' else 'cdn',
            )
        return {name: _file_node(path) for name, path in outputs.items()}


@calcfunction
def check_anneal(
    trajectory: orm.TrajectoryData, final_structure: orm.StructureData, structure: orm.StructureData
):
    """Whether the anneal held (:func:`aiida_flexo.textures.health.anneal_check`): each stage's mean temperature
    over its second half against its target, and every atom of the final structure within 1 Å of its start site."""
    from aiida_flexo.textures.health import anneal_check

    names = trajectory.get_arraynames()
    if 'temperatures' not in names or 'target_temperatures' not in names:
        raise ValueError(
            'the MD trajectory has no temperatures or target temperatures to check the anneal with'
        )
    result = anneal_check(
        trajectory.get_array('temperatures'),
        trajectory.get_array('target_temperatures'),
        final_structure.get_ase(),
        structure.get_ase(),
    )
    return orm.Dict(jsonable(result))
