"""Exit statuses of ``aiida-flexo mlip`` (:data:`MLIP_EXIT`): the commands return them, the ``flexo.mlip.*`` parsers
map them to exit codes and the restart WorkChains act on the recoverable ones (:mod:`aiida_flexo.exit_codes`)."""

from __future__ import annotations

from aiida_flexo.exit_codes import ExitStatus, ExitTable

MLIP_EXIT = ExitTable(
    'aiida-flexo mlip',
    # relax: not converged within --max-steps, or stalled; the structure, summary and trajectory are still written
    # (flexo.mlip.relax.base continues from the last frame)
    ExitStatus('NOT_CONVERGED', 3, 403, 'ERROR_NOT_CONVERGED', 'not converged: {message}', recoverable=True),
    # relax/md: NaN energies or forces, or an exploding MD run (temperature far above its target)
    ExitStatus('UNSTABLE', 4, 304, 'ERROR_UNSTABLE', 'NaN energies/forces or an exploding run: {message}'),
    # the structure contains species the model was not trained on (the message names them)
    ExitStatus(
        'MISSING_SPECIES',
        5,
        305,
        'ERROR_MISSING_SPECIES',
        'the structure has species the model lacks: {message}',
    ),
)
