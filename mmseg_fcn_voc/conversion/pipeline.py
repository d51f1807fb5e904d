# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""The exporters as one short pipeline: a backend writes its files, the checks measure them, the
reports are written.

    report = run_export(OnnxBackend(options))        # or MindSporeBackend(options)

1. before any work: the output folder lies apart from every input
   (:mod:`fcn_voc_core.output_guard`) and each check that applies validates its own inputs;
2. :func:`prepare`: remove the previous report and ``deploy.json`` (a refused conversion must not
   leave an old "passed" report behind), build the config's model, load the checkpoint strictly
   (:mod:`.checkpoint`), trace it once (:mod:`.network.trace`: unsupported networks are refused)
   and check the parity sizes;
3. the backend's :meth:`~.context.ExportBackend.export` writes its files;
4. every check of :data:`~.checks.CHECKS` that applies to the options runs, in order (parity, gear
   agreement, the NPU precision plan, int8), each returning its report sections;
5. ``deploy.json`` (:mod:`.deploy_info`; none when nothing deployable was written) and the parity
   report, both atomically. ``report['passed']`` is False when a section failed.
"""
import logging
import os
import os.path as osp
from typing import Dict, Optional

from fcn_voc_core.errors import InputError
from fcn_voc_core.fileio import file_sha256, write_json
from fcn_voc_core.output_guard import check_outputs_apart
from fcn_voc_runtime.deploy import DEPLOY_FILE, file_entry

from .checkpoint import build_and_load
from .checks import CHECKS
from .context import ExportBackend, ExportContext, Exported
from .deploy_info import check_argmax_applies, describe_deployment
from .network.segmentor import input_size_problem
from .network.trace import trace_network

logger = logging.getLogger(__name__)


def run_export(backend: ExportBackend) -> Dict:
    """Steps 1-5 of the module docstring; returns the report.

    Raises:
        InputError: the checkpoint, config, images or sizes cannot be converted exactly, or an
            output would land over an input (nothing half-written is reported as a success).
    """
    o = backend.options
    check_outputs_apart({'--out-dir': o.out_dir}, o.input_paths())
    checks = [check for check in CHECKS if check.applies(o)]
    for check in checks:
        check.validate(o)
    context = prepare(backend)
    with context.timings('export'):
        exported = backend.export(context)
    sections = {}
    for check in checks:
        with context.timings(check.name):
            sections.update(check.run(context, backend, exported))
    checkpoint_sha256 = file_sha256(o.checkpoint)
    versions = backend.versions()
    deploy_file = write_deploy(context, backend, exported, checkpoint_sha256, versions)
    report = {
        'config': o.config, 'checkpoint': o.checkpoint, 'checkpoint_sha256': checkpoint_sha256,
        'backend': backend.name, 'model_file': exported.model_file,
        'input_shape': exported.input_shape, 'dynamic': o.dynamic,
        'parity_sizes': [list(s) for s in context.sizes], 'seed': o.seed, **exported.facts,
        **sections, 'deploy': deploy_file, 'timings_s': dict(context.timings),
        'versions': versions, 'passed': bool(all(s['passed'] for s in sections.values()))}
    write_json(backend.report_path, report)
    return report


def prepare(backend: ExportBackend) -> ExportContext:
    """Clear stale reports, load the checkpoint into the config's model, trace it, and check that
    it takes the parity sizes."""
    o = backend.options
    os.makedirs(o.out_dir, exist_ok=True)
    for stale in (backend.report_path, osp.join(o.out_dir, DEPLOY_FILE)):
        if osp.exists(stale):
            os.remove(stale)
            logger.info(f'removed the previous {stale}')
    context = ExportContext(o, None, None, [])
    with context.timings('load_torch'):
        context.model = build_and_load(o.config, o.checkpoint)
        context.net = trace_network(context.model, o.config)
    if o.with_argmax:
        check_argmax_applies(context.model, o.config)
    context.sizes = backend.parity_sizes(context.model, context.net)
    for size in context.sizes:
        problem = input_size_problem(context.model, size)
        if problem:
            raise InputError(f'{o.config}: {problem}')
    logger.info(f'loaded {o.checkpoint} into {o.config} ({context.net.summary}); parity sizes '
                f'{context.sizes}')
    return context


def write_deploy(context: ExportContext, backend: ExportBackend, exported: Exported,
                 checkpoint_sha256: str, versions: Dict[str, str]) -> Optional[str]:
    """``deploy.json`` for the model file (none when nothing deployable was written)."""
    if exported.model_file is None:
        logger.info('no deployable model written, so no deploy.json')
        return None
    o = context.options
    deploy = describe_deployment(
        context.model, context.net, o.config, o.checkpoint, checkpoint_sha256, backend.name,
        o.out_dir, exported.model_file, exported.input_shape, exported.other_files, versions,
        exported.deploy.get('precision'), class_map=o.with_argmax)
    if 'aipp' in exported.deploy:
        deploy['aipp'] = exported.deploy['aipp']
    if exported.gears:
        deploy['gears'] = [{'size': list(size), **file_entry(o.out_dir, path)}
                           for size, path in exported.gears]
        deploy['gears_measured'] = exported.deploy.get('gears_measured') or {
            'note': 'not measured: run the converter with --images (native-size torch against '
                    'the geared model on real images)'}
    path = write_json(osp.join(o.out_dir, DEPLOY_FILE), deploy)
    logger.info(f'wrote {path}')
    return path
