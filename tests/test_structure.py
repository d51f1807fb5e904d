"""The shape of the code, checked: no import cycles anywhere in the three packages (imports
inside functions included), no function over 60 lines, and the conversion's single description
of a network (no ``Union`` of descriptions, no ``isinstance`` on one)."""
import ast
import os
import os.path as osp

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
PACKAGES = ('mmseg_fcn_voc', 'fcn_voc_core', 'fcn_voc_runtime')
MAX_FUNCTION_LINES = 60


def _modules():
    """``{dotted name: path}`` of every module of the three packages."""
    found = {}
    for package in PACKAGES:
        for folder, _, files in os.walk(osp.join(REPO, package)):
            for name in files:
                if name.endswith('.py'):
                    path = osp.join(folder, name)
                    dotted = osp.relpath(path, REPO)[:-3].replace(os.sep, '.')
                    found[dotted[:-len('.__init__')] if dotted.endswith('.__init__')
                          else dotted] = path
    return found


def _imports(module, path, modules):
    """The project modules ``module`` imports, at any level of its code."""
    is_package = path.endswith('__init__.py')
    targets = set()
    for node in ast.walk(ast.parse(open(path, encoding='utf-8').read())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                parts = module.split('.')[:None if is_package else -1]
                parts = parts[:len(parts) - (node.level - 1)]
                base = '.'.join(parts + ([node.module] if node.module else []))
            names = [f'{base}.{a.name}' if f'{base}.{a.name}' in modules else base
                     for a in node.names]
        for name in names:
            while name and name not in modules:  # a name inside a module: the module
                name = name.rpartition('.')[0]
            if name and name != module:
                targets.add(name)
    return targets


def _cycles(graph):
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_finds_a_cycle():
    assert _cycles({'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}) == [['a', 'b', 'c']]
    assert _cycles({'a': {'b'}, 'b': set()}) == []


def test_no_import_cycles():
    modules = _modules()
    assert 'mmseg_fcn_voc.conversion.pipeline' in modules and len(modules) > 80
    graph = {m: _imports(m, p, modules) for m, p in modules.items()}
    assert 'mmseg_fcn_voc.conversion.network.trace' in graph['mmseg_fcn_voc.conversion.pipeline']
    assert _cycles(graph) == []


def test_no_function_is_longer_than_60_lines():
    long = []
    for module, path in _modules().items():
        for node in ast.walk(ast.parse(open(path, encoding='utf-8').read())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f'{module}.{node.name}: {lines} lines')
    assert long == []


@pytest.mark.parametrize('word', ['FCNSpec', 'NetworkSpec', 'describe_fcn', 'describe_network'])
def test_one_description_of_a_network(word):
    """The traced graph is the only description: the former second one is gone by name."""
    users = [module for module, path in _modules().items()
             if word in open(path, encoding='utf-8').read()]
    assert users == []
