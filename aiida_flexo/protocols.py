"""Protocols (fast / moderate / precise): YAML files in aiida-quantumespresso's format, read by one loader.

A protocol file ``<name>.yaml`` of a package::

    default_inputs: {...}            # inputs shared by every protocol
    default_protocol: moderate
    protocols:
        fast:     {description: ..., <overrides of default_inputs>}
        moderate: {description: ...}
        precise:  {description: ...}

Besides ``description``, a protocol may carry ``cost`` and ``accuracy`` (text for users: what it costs, measured or
extrapolated, and what accuracy it reached); these :data:`METADATA_KEYS` are never inputs. The WorkChains' files
live beside them (``workflows/protocols/``, :class:`aiida_flexo.workflows.protocols.ProtocolMixin`); the DFT
engines' numbers in ``aiida_flexo/engines/protocols/engine.yaml``. Overrides are merged key by key on top of the
chosen protocol; a top-level key the file does not know is refused, naming the known ones. This module imports no
AiiDA (the CLI and the engines read it).
"""

from __future__ import annotations

import copy
from functools import cache
from importlib.resources import files
from typing import Any

import yaml

#: keys of a protocol that describe it and are not inputs
METADATA_KEYS = ('description', 'cost', 'accuracy')


def recursive_merge(left: dict, right: dict) -> dict:
    """A copy of ``left`` updated with ``right``, merging nested dictionaries key by key."""
    merged = copy.deepcopy(left)
    for key, value in right.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = recursive_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


@cache
def _parsed(package: str, name: str) -> dict:
    return yaml.safe_load(files(package).joinpath(f'{name}.yaml').read_text())


def load_protocol_file(package: str, name: str) -> dict:
    """The parsed ``<name>.yaml`` of the package folder ``package`` (a copy: callers may change it)."""
    return copy.deepcopy(_parsed(package, name))


def known_keys(data: dict) -> set[str]:
    """The input keys a protocol file knows: those of its defaults and of every protocol."""
    keys = set(data.get('default_inputs', {}))
    for spec in data['protocols'].values():
        keys |= set(spec)
    return keys - set(METADATA_KEYS)


def inputs_of(
    data: dict,
    protocol: str | None = None,
    overrides: dict | None = None,
    owner: str = 'this workflow',
    ports: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The inputs of ``protocol`` (default: the file's default) of the parsed file ``data``, ``overrides`` on top.

    ``ports``: the input ports of the WorkChain that owns the file; an override may also name one of them (the
    namespace of a child whose own protocol it overrides, aiida-quantumespresso's way).
    Raises ``ValueError`` for an unknown protocol or an override key neither the file nor the ports know.
    """
    protocol = protocol or data['default_protocol']
    if protocol not in data['protocols']:
        raise ValueError(
            f'unknown protocol "{protocol}" for {owner}: choose one of {sorted(data["protocols"])}'
        )
    allowed = known_keys(data) | set(ports)
    unknown = sorted(set(overrides or {}) - allowed)
    if unknown:
        raise ValueError(
            f'unknown protocol override(s) {unknown} for {owner}: the keys it knows are {sorted(allowed)}'
        )
    chosen = {k: v for k, v in data['protocols'][protocol].items() if k not in METADATA_KEYS}
    inputs = recursive_merge(data.get('default_inputs', {}), chosen)
    return recursive_merge(inputs, overrides or {})


def table_of(data: dict) -> list[dict[str, str]]:
    """One row per protocol of the parsed file ``data`` (``name`` and its :data:`METADATA_KEYS`), the default
    marked."""
    rows = []
    for protocol, spec in data['protocols'].items():
        marked = f'{protocol} (default)' if protocol == data['default_protocol'] else protocol
        rows.append({'name': marked, **{key: str(spec.get(key, '')).strip() for key in METADATA_KEYS}})
    return rows
