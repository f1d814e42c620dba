"""Helpers of the daemon tests (importable: ``pythonpath = ["tests"]`` in pyproject.toml)."""

from __future__ import annotations


def describe_process(node) -> str:
    """Exit status, message, exception and report of a process and its descendants (for failed assertions)."""
    from aiida.cmdline.utils.common import get_workchain_report

    lines = [
        f'{node.process_label}<{node.pk}> [{node.exit_status}] {node.exit_message} {node.exception or ""}'
    ]
    for child in getattr(node, 'called_descendants', []):
        if not child.is_finished_ok:
            lines.append(
                f'  {child.process_label}<{child.pk}> [{child.exit_status}] {child.exit_message} {child.exception or ""}'
            )
            if not child.is_terminated:  # a process that never ends: where it stands, for the CI log
                job = (
                    f' job {child.get_job_id()} {child.get_scheduler_state()}'
                    if hasattr(child, 'get_job_id')
                    else ''
                )
                lines.append(f'    still {child.process_state}{job} {child.get_process_status() or ""}')
    if hasattr(node, 'called_descendants'):
        lines.append(get_workchain_report(node, 'REPORT'))
    return '\n'.join(lines)


def gpaw_available() -> bool:
    """Whether GPAW can be imported; where ``FLEXO_REQUIRE_GPAW=1`` (``.ci/run``) its absence is an error, so that
    a CI run cannot pass by skipping every DFT test."""
    import importlib.util
    import os

    found = importlib.util.find_spec('gpaw') is not None
    if not found and os.environ.get('FLEXO_REQUIRE_GPAW') == '1':
        raise RuntimeError('FLEXO_REQUIRE_GPAW=1 but GPAW is not installed: run bash scripts/install_gpaw.sh')
    return found


#: mark of the tests that run GPAW: skipped where it is missing, an error where FLEXO_REQUIRE_GPAW=1
GPAW_REASON = 'GPAW is not installed here: run scripts/install_gpaw.sh (CI requires it: FLEXO_REQUIRE_GPAW=1)'


def record_timings(node, what: str) -> None:
    """Append the wall time of ``node``'s descendants (s, by process) to the file $FLEXO_TEST_TIMINGS, if set: where
    a daemon test spends its time (CI time budget)."""
    import os
    from collections import defaultdict

    target = os.environ.get('FLEXO_TEST_TIMINGS')
    if not target:
        return
    totals: dict[str, list[float]] = defaultdict(list)
    for child in node.called_descendants:
        totals[child.process_label].append((child.mtime - child.ctime).total_seconds())
    lines = [f'{what}: {node.process_label}<{node.pk}> {(node.mtime - node.ctime).total_seconds():.0f} s']
    for label, times in sorted(totals.items(), key=lambda item: -sum(item[1])):
        lines.append(f'  {label:<32} n={len(times):<3} sum {sum(times):7.1f} s  max {max(times):6.1f} s')
    with open(target, 'a') as stream:
        stream.write('\n'.join(lines) + '\n')


def calc_node(
    code,
    exit_status: int,
    process_type: str,
    metrics: dict | None = None,
    remote: bool = True,
    outputs: dict | None = None,
    message: str | None = None,
):
    """A stored, finished CalcJobNode with ``exit_status`` (and ``message``) and, optionally, a remote folder,
    ``metrics`` and other ``outputs`` ({label: unstored Data}), as a restart handler sees it (no calculation runs)."""
    from aiida import orm
    from aiida.common.links import LinkType
    from plumpy import ProcessState

    node = orm.CalcJobNode(computer=code.computer, process_type=process_type)
    node.set_process_state(ProcessState.FINISHED)
    node.set_exit_status(exit_status)
    if message is not None:
        node.set_exit_message(message)
    node.store()
    if remote:
        folder = orm.RemoteData(computer=code.computer, remote_path='/tmp/flexo-previous-job')
        folder.base.links.add_incoming(node, link_type=LinkType.CREATE, link_label='remote_folder')
        folder.store()
    created = dict(outputs or {})
    if metrics is not None:
        created['metrics'] = orm.Dict(metrics)
    for label, data in created.items():
        data.base.links.add_incoming(node, link_type=LinkType.CREATE, link_label=label)
        data.store()
    return node


def model_restart_workchain(process_class, namespace: str, code, **extra):
    """A restart WorkChain around an MLIP CalcJob (relax or MD) on cubic BaTiO3 with SevenNet-0, instantiated and set
    up but not run, as a restart handler sees it; ``extra``: more inputs of the CalcJob namespace (Data nodes)."""
    from aiida import orm
    from aiida.engine.utils import instantiate_process
    from aiida.manage import get_manager

    from aiida_flexo.flexo.structures import builtin

    inputs = {
        namespace: {
            'code': code,
            'structure': orm.StructureData(ase=builtin('BaTiO3')),
            'model': orm.Str('sevennet-0'),
            **extra,
        }
    }
    process = instantiate_process(get_manager().get_runner(), process_class, **inputs)
    process.setup()
    return process
