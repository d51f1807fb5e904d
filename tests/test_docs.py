"""The documentation: the site builds with warnings as errors, and every command the README and
the pages show is one of the project's own that exists and takes every option shown (checked
against its ``--help``), or an external tool listed here with the reason it is not run."""
import glob
import os
import os.path as osp
import re
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
PAGES = ['README.md', 'configs/fcn/README.md'] + sorted(
    osp.relpath(p, REPO) for p in glob.glob(osp.join(REPO, 'docs', '*.md')))
#: Programs shown in the docs that are not the project's, and why the suite does not run them.
EXTERNAL = {
    'atc': "CANN's model converter: runs on the Ascend host only",
    'amct_onnx': "Ascend's quantizer: CANN's, not installable here",
    'pip': 'package installation on a host (tools/setup_env.sh does the same for the tests)',
    'ruff': 'the linter (pyproject.toml configures it)',
    'mkdocs': 'this site: test_the_site_builds_with_warnings_as_errors runs it',
}


def shown_commands():
    """``[(page, command line)]`` of every bash block of the pages (continuations joined,
    comments dropped)."""
    found = []
    for page in PAGES:
        text = open(osp.join(REPO, page), encoding='utf-8').read()
        for block in re.findall(r'```(?:bash|sh)\n(.*?)```', text, re.S):
            for line in re.sub(r'\\\n\s*', ' ', block).split('\n'):
                line = '' if line.strip().startswith('#') else line.split(' #')[0].strip()
                if line:
                    found.append((page, line))
    return found


def _program(line):
    """``(kind, target)``: ``('script', path)``, ``('module', name)``, ``('shell', path)``,
    ``('mim', config)`` or ``('external', name)``."""
    words = line.split()
    if words[0] == 'python' and words[1] == '-m':
        return 'module', words[2]
    if words[0] == 'python':
        return 'script', words[1]
    if words[0] == 'bash':
        return 'shell', words[1]
    if words[0] == 'mim':
        return 'mim', words[3]
    return 'external', words[0].split('=')[-1] if '=' in words[0] else words[0]


def _flags(line):
    return sorted({m for m in re.findall(r'(?<![\w-])--[a-z0-9][a-z0-9-]*', line)})


def test_the_pages_show_commands():
    commands = shown_commands()
    assert len(commands) > 30
    kinds = {_program(line)[0] for _, line in commands}
    assert kinds >= {'script', 'module', 'shell', 'mim', 'external'}


def test_every_shown_command_exists_and_takes_its_options():
    by_program, problems = {}, []
    for page, line in shown_commands():
        kind, target = _program(line)
        if kind == 'external':
            if target not in EXTERNAL and not line.startswith('SOC='):
                problems.append(f'{page}: {line!r}: {target} is neither a project command nor '
                                'a listed external tool')
            continue
        if kind in ('script', 'shell') and not osp.isfile(osp.join(REPO, target)):
            problems.append(f'{page}: {line!r}: {target} does not exist')
            continue
        if kind == 'mim':
            if target.isupper() or not target.endswith('.py'):
                continue  # a placeholder (CONFIG)
            if not osp.isfile(osp.join(REPO, target)):
                problems.append(f'{page}: {line!r}: config {target} does not exist')
            continue
        if kind in ('script', 'module'):
            by_program.setdefault((kind, target), []).append((page, line))
    env = dict(os.environ, PYTHONPATH=REPO)
    helps = {}
    procs = {key: subprocess.Popen([sys.executable, *(['-m', key[1]] if key[0] == 'module'
                                                      else [key[1]]), '--help'],
                                   cwd=REPO, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
             for key in by_program}
    for key, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, f'{key[1]} --help: exit {proc.returncode}\n{err[-2000:]}'
        helps[key] = out
    for key, uses in by_program.items():
        for page, line in uses:
            unknown = [f for f in _flags(line) if f not in helps[key]]
            if unknown:
                problems.append(f'{page}: {line!r}: {key[1]} takes no {unknown}')
    assert problems == []


def test_the_check_catches_a_wrong_option():
    """The check above would see a documented option the program does not take."""
    assert _flags('python converters/to_onnx.py C K --out-dir D [--input-size H W]') == [
        '--input-size', '--out-dir']
    assert _program('SOC=Ascend310P3 bash DIR/atc.sh') == ('external', 'Ascend310P3')
    assert _program('mim train mmseg configs/x.py --resume') == ('mim', 'configs/x.py')


def test_the_site_builds_with_warnings_as_errors(tmp_path):
    mkdocs = osp.join(osp.dirname(sys.executable), 'mkdocs')
    assert osp.isfile(mkdocs), 'mkdocs is not installed: bash tools/setup_env.sh installs it'
    proc = subprocess.run([mkdocs, 'build', '--strict', '-d', str(tmp_path / 'site')], cwd=REPO,
                          capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, NO_MKDOCS_2_WARNING='1'))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for page in ('index', 'get_started', 'converters', 'deploy_ascend', 'architecture'):
        assert (tmp_path / 'site' / page / 'index.html').is_file() or page == 'index'
    assert (tmp_path / 'site' / 'index.html').is_file()


@pytest.mark.parametrize('page', PAGES)
def test_no_page_links_to_a_missing_file(page):
    text = open(osp.join(REPO, page), encoding='utf-8').read()
    for target in re.findall(r'\]\(([^)#\s]+)', text):
        if '://' in target:
            continue
        assert osp.exists(osp.normpath(osp.join(REPO, osp.dirname(page), target))), target
