"""Protocols (fast / moderate / precise) of the aiida-flexo WorkChains, in the style of aiida-quantumespresso.

Each WorkChain that supports ``get_builder_from_protocol`` has a YAML file ``<name>.yaml`` here, in the format of
:mod:`aiida_flexo.protocols` (the one loader, shared with the DFT engines' numbers); parents call their children's
``get_builder_from_protocol``. The docs' protocol table and ``aiida-flexo quickstart --help`` are generated from
the files (:func:`protocol_table`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from aiida_flexo.protocols import (  # noqa: F401 (the WorkChains and the CLI import them from here)
    METADATA_KEYS,
    inputs_of,
    recursive_merge,
    table_of,
)
from aiida_flexo.protocols import (
    load_protocol_file as _load,
)

PACKAGE = 'aiida_flexo.workflows.protocols'


def load_protocol_file(name: str) -> dict:
    """The parsed ``<name>.yaml`` of this folder."""
    return _load(PACKAGE, name)


def protocol_inputs(
    name: str, protocol: str | None = None, overrides: dict | None = None, owner: str | None = None
) -> dict[str, Any]:
    """The inputs of ``protocol`` (default: the file's default) of ``<name>.yaml`` with ``overrides`` merged on top
    (:func:`aiida_flexo.protocols.inputs_of`: unknown protocols and override keys are refused).

    Readable without AiiDA: the CLI takes its defaults from here, so that they are the WorkChains' own.
    """
    return inputs_of(load_protocol_file(name), protocol, overrides, owner=owner or name)


def protocol_table(name: str) -> list[dict[str, str]]:
    """One row per protocol of ``<name>.yaml`` (``name`` and its :data:`METADATA_KEYS`), the default marked."""
    return table_of(load_protocol_file(name))


def builder_inputs(builder, exclude: tuple[str, ...] = ()) -> dict:
    """The inputs set on a child's builder, its empty namespaces left out (as aiida-core prunes them when a builder
    is submitted) and the ``exclude`` ports dropped: what a parent puts in the namespace where it exposes the child
    (``builder.sampling = builder_inputs(SamplingWorkChain.get_builder_from_protocol(...), ('structures',))``)."""
    from aiida.engine.processes.builder import ProcessBuilderNamespace

    def prune(namespace) -> dict:
        kept = {}
        for key, value in namespace.items():
            if isinstance(value, ProcessBuilderNamespace):
                value = prune(value)
                if not value:
                    continue
            elif value is None:
                continue
            kept[key] = value
        return kept

    return {key: value for key, value in prune(builder).items() if key not in exclude}


def set_namespace(namespace, values: dict) -> None:
    """Set ``values`` (e.g. :func:`builder_inputs` of a child's builder) on a builder namespace leaf by leaf, as one
    sets ``builder.flexo.predict.code = code``: each leaf is validated when it is set, and the namespace's defaults
    (scheduler resources) are filled at submission as for any builder."""
    from aiida.engine.processes.builder import ProcessBuilderNamespace

    for key, value in values.items():
        target = namespace.get(key, None)
        if isinstance(value, dict) and isinstance(target, ProcessBuilderNamespace):
            set_namespace(target, value)
        else:
            setattr(namespace, key, value)


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
        """The inputs of ``protocol`` (default: the file's default) with ``overrides`` merged on top; an override
        key must be one of the file's or an input port of the WorkChain (a child's namespace)."""
        return inputs_of(
            load_protocol_file(cls._protocol_name),
            protocol,
            overrides,
            owner=cls.__name__,
            ports=tuple(cls.spec().inputs.keys()),
        )
