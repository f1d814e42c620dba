"""Protocols (fast / moderate / precise) of the aiida-flexo WorkChains, in the style of aiida-quantumespresso.

Each WorkChain that supports ``get_builder_from_protocol`` has a YAML file ``<name>.yaml`` here::

    default_inputs: {...}            # inputs shared by every protocol
    default_protocol: moderate
    protocols:
        fast:     {description: ..., <overrides of default_inputs>}
        moderate: {description: ...}
        precise:  {description: ...}

Besides ``description``, a protocol may carry ``cost`` and ``accuracy`` (text for users: what it costs, measured or
extrapolated, and what accuracy it reached); these :data:`METADATA_KEYS` are never inputs. The docs' protocol table
and ``aiida-flexo quickstart --help`` are generated from them (:func:`protocol_table`).
"""

from __future__ import annotations

import copy
from importlib.resources import files
from typing import Any, ClassVar

import yaml


def recursive_merge(left: dict, right: dict) -> dict:
    """A copy of ``left`` updated with ``right``, merging nested dictionaries key by key."""
    merged = copy.deepcopy(left)
    for key, value in right.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = recursive_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


#: keys of a protocol that describe it and are not inputs
METADATA_KEYS = ('description', 'cost', 'accuracy')


def load_protocol_file(name: str) -> dict:
    """The parsed ``<name>.yaml`` of this folder."""
    return yaml.safe_load(files('aiida_flexo.workflows.protocols').joinpath(f'{name}.yaml').read_text())


def protocol_inputs(
    name: str, protocol: str | None = None, overrides: dict | None = None, owner: str | None = None
) -> dict[str, Any]:
    """The inputs of ``protocol`` (default: the file's default) of ``<name>.yaml`` with ``overrides`` merged on top.

    Readable without AiiDA: the CLI takes its defaults from here, so that they are the WorkChains' own.
    """
    data = load_protocol_file(name)
    protocol = protocol or data['default_protocol']
    if protocol not in data['protocols']:
        raise ValueError(
            f'unknown protocol "{protocol}" for {owner or name}: choose one of {sorted(data["protocols"])}'
        )
    chosen = {k: v for k, v in data['protocols'][protocol].items() if k not in METADATA_KEYS}
    inputs = recursive_merge(data.get('default_inputs', {}), chosen)
    return recursive_merge(inputs, overrides or {})


def protocol_table(name: str) -> list[dict[str, str]]:
    """One row per protocol of ``<name>.yaml`` (``name`` and its :data:`METADATA_KEYS`), the default marked."""
    data = load_protocol_file(name)
    rows = []
    for protocol, spec in data['protocols'].items():
        marked = f'{protocol} (default)' if protocol == data['default_protocol'] else protocol
        rows.append({'name': marked, **{key: str(spec.get(key, '')).strip() for key in METADATA_KEYS}})
    return rows


class ProtocolMixin:
    """Class methods to read a WorkChain's protocol file (``_protocol_name`` names it)."""

    _protocol_name: ClassVar[str]

    @classmethod
    def _load_protocol_file(cls) -> dict:
        return load_protocol_file(cls._protocol_name)

    @classmethod
    def get_default_protocol(cls) -> str:
        return cls._load_protocol_file()['default_protocol']

    @classmethod
    def get_available_protocols(cls) -> dict[str, dict]:
        """Protocol names with their descriptions."""
        data = cls._load_protocol_file()
        return {
            name: {key: spec[key] for key in METADATA_KEYS if key in spec}
            | {'description': spec.get('description', '')}
            for name, spec in data['protocols'].items()
        }

    @classmethod
    def get_protocol_inputs(
        cls, protocol: str | None = None, overrides: dict | None = None
    ) -> dict[str, Any]:
        """The inputs of ``protocol`` (default: the file's default) with ``overrides`` merged on top."""
        return protocol_inputs(cls._protocol_name, protocol, overrides, owner=cls.__name__)
