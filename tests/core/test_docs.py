"""The documentation says what the code does: every command line in it exists, every guide is runnable, the protocol
table is complete. (The site itself is built with warnings as errors by tools/docs.sh, in tools/test.sh.)"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import click
import pytest

from aiida_flexo.cli import main

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / 'docs'
CODE_BLOCK = re.compile(r'^```(bash|console)\n(.*?)^```', re.S | re.M)
HEREDOC = re.compile(r"<<'?(\w+)'?\n.*?^\1$", re.S | re.M)


def _documents() -> list[Path]:
    return [ROOT / 'README.md', *sorted(DOCS.rglob('*.md'))]


def command_lines(text: str) -> list[str]:
    """The ``aiida-flexo ...`` invocations of the bash/console blocks of a Markdown text (continuations joined)."""
    found = []
    for _, block in CODE_BLOCK.findall(text):
        block = HEREDOC.sub('', block).replace('\\\n', ' ')
        for line in block.splitlines():
            line = line.strip().removeprefix('$ ').split(' #')[0]
            for piece in re.split(r'\|\||&&|;|\||\$\(|\)', line):
                piece = piece.strip()
                if piece.startswith('aiida-flexo '):
                    found.append(' '.join(piece.split(' > ')[0].split(' 2>')[0].split()))
    return found


def check_command_line(line: str) -> None:
    """Resolve the subcommands of ``line`` and check each of its options exists there."""
    tokens = shlex.split(line.replace('$', ''))[1:]
    command: click.Command = main
    path = ['aiida-flexo']
    while isinstance(command, click.Group) and tokens and not tokens[0].startswith('-'):
        sub = command.get_command(click.Context(command), tokens[0])
        assert sub is not None, f'`{line}`: `{" ".join(path)}` has no subcommand `{tokens[0]}`'
        command, path = sub, [*path, tokens.pop(0)]
    known = {name for param in command.params for name in (*param.opts, *param.secondary_opts)}
    known |= {'-h', '--help'}
    for token in tokens:
        if token.startswith('-') and not re.fullmatch(r'-\d.*', token):
            name = token.split('=')[0]
            assert name in known, (
                f'`{line}`: `{" ".join(path)}` has no option {name} (it has {sorted(known)})'
            )


@pytest.mark.parametrize('document', _documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_documented_command_line_exists(document):
    for line in command_lines(document.read_text()):
        check_command_line(line)


def test_the_checker_catches_a_wrong_command_line():
    with pytest.raises(AssertionError, match='no option --no-such-option'):
        check_command_line('aiida-flexo frames from-vasp run --out x.xyz --no-such-option')
    with pytest.raises(AssertionError, match='no subcommand `frobnicate`'):
        check_command_line('aiida-flexo frames frobnicate x')
    assert command_lines(
        "```bash\nR=$(python -c 'x')\naiida-flexo wait $PK \\\n    --timeout 5 > log\n```\n"
    ) == ['aiida-flexo wait $PK --timeout 5']


def test_every_guide_has_commands_the_runner_runs():
    sys.path.insert(0, str(ROOT / 'tools'))
    try:
        import run_howtos
    finally:
        sys.path.pop(0)
    listed = run_howtos.guides()
    on_disk = sorted(p.stem for p in (DOCS / 'howto').glob('*.md') if p.stem != 'index')
    assert sorted(listed) == on_disk
    for guide in listed:
        assert run_howtos.script_of(guide).startswith('set -euo pipefail\n')


def test_protocol_table_is_complete_and_in_the_quickstart_help():
    from click.testing import CliRunner

    from aiida_flexo.workflows.protocols import METADATA_KEYS, protocol_inputs, protocol_table

    rows = protocol_table('pipeline')
    assert [row['name'].split()[0] for row in rows] == ['fast', 'moderate', 'precise']
    for row in rows:
        for key in METADATA_KEYS:
            assert row[key], f'protocol {row["name"]} of flexo.pipeline has no {key}'
        assert 'measured' in row['cost'] or 'extrapolated' in row['cost'], row['cost']
        assert not set(METADATA_KEYS) & set(protocol_inputs('pipeline', row['name'].split()[0]))
    help_text = ' '.join(CliRunner().invoke(main, ['quickstart', '--help']).output.split())
    for row in rows:
        assert ' '.join(row['cost'].split())[:60] in help_text
