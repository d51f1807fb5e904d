# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""The library behind ``tools/dataset_converters/prepare_voc.py``: VOC 2012 + SBD into mmseg's layout
(:mod:`.layout`), as a pipeline of steps that own their state.

:class:`VOCPreparation` runs: clean temporaries -> locate the sources (:mod:`.sources`: extract,
or download with :mod:`.download`) -> read and validate them (:mod:`.splits`, :mod:`.check`) ->
place images and labels (:mod:`.placement`) -> convert SBD's labels -> place the train_aug labels
-> write the lists -> link SBD -> report. Each step returns what the next ones need (the located
:class:`Sources`), so no step reads state another step was supposed to have set.

The run is idempotent and resumable: every file is written under a temporary name and renamed when
complete; files already in place (same file, or a newer copy of the same size) are skipped;
archives already extracted are not read again. The counts are compared with the official ones
(:data:`~.layout.OFFICIAL_COUNTS`); a mismatch is reported (expected on the demo data or a subset)
and fails the run only with ``strict_counts``.
"""
import logging
import os
import os.path as osp
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

from fcn_voc_core.console import track_tasks
from fcn_voc_core.fileio import remove_stale_temporaries
from fcn_voc_core.output_guard import check_outputs_apart

from ..datasets.voc_format import read_split, write_split
from .check import Sample, check_samples, missing_files
from .errors import DataPreparationError
from .layout import (
    AUG_LABEL_DIR,
    DOWNLOAD_DIR,
    IMAGE_DIR,
    LINK_MODES,
    PREPARED_LISTS,
    REPORT_FILE,
    SBD_LABEL_DIR,
    SPLIT_DIR,
    VOC_DIR,
    VOC_LABEL_DIR,
)
from .placement import convert_sbd_label, link_sbd, place_file, up_to_date
from .sources import SBD, VOC2011, VOC2012, SourceError, materialise_source
from .splits import (
    SourceSplits,
    compare_counts,
    counts_table,
    derive_lists,
    read_source_splits,
    source_samples,
)

logger = logging.getLogger(__name__)


@dataclass
class PrepareOptions:
    """What :func:`prepare_voc` does.

    Attributes:
        out_dir: output directory (``data_root`` of the configs).
        voc: VOC 2012 trainval archive or folder (None: check-only, or download with ``download``).
        sbd: SBD ``benchmark.tgz`` or its folder.
        voc2011: VOC 2011 trainval archive or folder, for seg11valid. ``''`` with ``download``
            fetches it into the download folder.
        download: fetch the official archive of every source that is not given or does not exist.
        download_dir: where fetched archives go (default ``out_dir/downloads``).
        mirror: base URL replacing the official locations (the archive's file name is appended).
        check: fully decode and validate every listed sample (see :mod:`.check`), reporting all
            problems at once; without sources, check an already prepared ``out_dir``.
        strict_counts: fail when a count differs from :data:`~.layout.OFFICIAL_COUNTS`.
        nproc: worker processes for conversion and checking.
        link: how files are placed into ``out_dir``: ``hardlink`` (falls back to a copy across
            file systems), ``copy`` or ``symlink``.
    """

    out_dir: str
    voc: Optional[str] = None
    sbd: Optional[str] = None
    voc2011: Optional[str] = None
    download: bool = False
    download_dir: Optional[str] = None
    mirror: Optional[str] = None
    check: bool = False
    strict_counts: bool = False
    nproc: int = field(default_factory=lambda: os.cpu_count() or 1)
    link: str = 'hardlink'

    @property
    def downloads(self) -> str:
        return self.download_dir or osp.join(self.out_dir, DOWNLOAD_DIR)


@dataclass
class PrepareResult:
    """Outcome of :func:`prepare_voc`: counts per list, count mismatches and the report lines."""

    out_dir: str
    counts: Dict[str, int]
    mismatches: List[str]
    report: List[str]
    problems: List[str] = field(default_factory=list)


@dataclass
class Sources:
    """The located sources: data roots, their split lists, the listed samples and where each image
    comes from (what the placement steps read)."""

    voc_root: str
    sbd_root: str
    voc2011_root: Optional[str]
    splits: SourceSplits
    samples: List[Sample]
    image_source: Dict[str, str]


def prepare_voc(options: PrepareOptions) -> PrepareResult:
    """Prepare VOC 2012 + SBD (+ VOC 2011) in mmseg's layout (:mod:`.layout`), as the steps of
    :class:`VOCPreparation`, or check an already prepared ``out_dir`` (``check`` without
    sources).

    Raises:
        SourceError: a source is missing or not what it should be.
        OutputOverInputError: ``out_dir`` is, contains or lies inside a given source.
        DataPreparationError: listed files missing, undecodable or invalid (all of them listed),
            conversion failures, or (with ``strict_counts``) counts differing from the official
            ones.
    """
    if options.link not in LINK_MODES:
        raise ValueError(f'link must be one of {LINK_MODES}, got {options.link!r}')
    if options.voc is None and options.sbd is None and not options.download:
        if options.check:
            return check_prepared(options)
        raise SourceError('give --voc and --sbd (archives or folders), or --download')
    check_sources_apart(options)
    return VOCPreparation(options).run()


def check_sources_apart(options: PrepareOptions) -> None:
    """Refuse an output folder that is, contains or lies inside a given source (the folder of an
    extracted dataset, or an archive), before anything is read or written: placing files and
    writing lists there would rewrite the user's dataset. Archives in the download folder are the
    command's own (``--download`` put them there) and may lie inside ``out_dir``."""
    download_dir = osp.realpath(options.downloads)
    sources = {}
    for flag, path in (('--voc', options.voc), ('--sbd', options.sbd),
                       ('--voc2011', options.voc2011)):
        if not path or not osp.exists(path):
            continue  # not given, or a download destination
        if osp.isfile(path) and osp.dirname(osp.realpath(path)) == download_dir:
            continue
        sources[flag] = path
    check_outputs_apart({'--out-dir': options.out_dir, '--download-dir': options.download_dir},
                        sources)


def finish(options: PrepareOptions, counts: Dict[str, int], report: List[str],
           problems: Sequence[str] = ()) -> PrepareResult:
    """Compare the counts, log and write the report, and give the verdict."""
    rows, mismatches = compare_counts(counts)
    report += ['counts:', counts_table(rows)]
    if mismatches:
        report.append(f'WARNING: {len(mismatches)} count(s) differ from the official data '
                      '(expected on the demo data or a subset)' +
                      ('' if options.strict_counts else '; --strict-counts makes this an error'))
    for line in report:
        logger.info(line)
    os.makedirs(options.out_dir, exist_ok=True)
    write_split(osp.join(options.out_dir, REPORT_FILE), report)
    result = PrepareResult(options.out_dir, counts, mismatches, report, list(problems))
    if problems:
        raise DataPreparationError(f'{len(problems)} problem(s) found:', problems)
    if mismatches and options.strict_counts:
        raise DataPreparationError('counts differ from the official data (--strict-counts):',
                                   mismatches)
    return result


def check_prepared(options: PrepareOptions) -> PrepareResult:
    """Validate an already prepared ``out_dir`` (every list of :data:`PREPARED_LISTS` found)."""
    voc_out = osp.join(options.out_dir, VOC_DIR)
    samples, counts = [], OrderedDict()
    for name, label_dir in PREPARED_LISTS.items():
        split_file = osp.join(voc_out, SPLIT_DIR, name)
        if not osp.isfile(split_file):
            continue
        ids = read_split(split_file)
        counts[name[:-4]] = len(ids)
        samples += [
            Sample(split_file, i, osp.join(voc_out, IMAGE_DIR, f'{i}.jpg'),
                   osp.join(voc_out, label_dir, f'{i}.png')) for i in ids
        ]
    if not counts:
        raise DataPreparationError(f'{options.out_dir}: nothing prepared here (no lists under '
                                   f'{osp.join(voc_out, SPLIT_DIR)}); give --voc and --sbd')
    logger.info(f'checking {len(samples)} listed samples of {options.out_dir}')
    problems = check_samples(samples, nproc=options.nproc)
    report = [f'checked {options.out_dir}: {len(problems)} problem(s)']
    return finish(options, counts, report, problems)


class VOCPreparation:
    """The steps of :func:`prepare_voc` from sources; each returns the report line(s) of what it
    did, and nothing is written before :meth:`validate_sources` passed."""

    def __init__(self, options: PrepareOptions):
        self.options = options
        self.voc_out = osp.join(options.out_dir, VOC_DIR)

    def run(self) -> PrepareResult:
        report = [self.clean_temporaries()]
        sources = self.locate_sources()
        report += [f'VOC 2012: {sources.voc_root}', f'SBD: {sources.sbd_root}',
                   f'VOC 2011: {sources.voc2011_root}' if sources.voc2011_root else
                   'VOC 2011: not given, so seg11valid.txt is not written (pass --voc2011)']
        report.append(self.validate_sources(sources))
        report += self.place_images_and_labels(sources)
        report.append(self.convert_sbd_labels(sources))
        lists = derive_lists(sources.splits)
        report.append(self.place_aug_labels(sources, lists))
        report.append(self.write_lists(lists))
        report.append(link_sbd(sources.sbd_root, self.options.out_dir))
        counts = OrderedDict((name, len(ids)) for name, ids in lists.items())
        return finish(self.options, counts, report)

    def clean_temporaries(self) -> str:
        """Remove what an interrupted run left under temporary names (creates nothing: a run
        whose sources are missing leaves no output folder behind)."""
        out_dir = self.options.out_dir
        removed = sum(remove_stale_temporaries(osp.join(self.voc_out, sub))
                      for sub in (IMAGE_DIR, VOC_LABEL_DIR, SBD_LABEL_DIR, AUG_LABEL_DIR,
                                  SPLIT_DIR))
        removed += sum(remove_stale_temporaries(osp.join(out_dir, sub))
                       for sub in ('SBD/cls', 'SBD/img', 'SBD', osp.join('VOC2011', SPLIT_DIR),
                                   DOWNLOAD_DIR))
        return f'temporaries of an interrupted run removed: {removed}'

    def locate_sources(self) -> Sources:
        """Extract (or download) the sources and read their split lists."""
        o = self.options
        roots = [materialise_source(kind, path, o.out_dir, o.download, o.downloads, o.mirror)
                 for kind, path in ((VOC2012, o.voc), (SBD, o.sbd), (VOC2011, o.voc2011))]
        voc_root, sbd_root, voc2011_root = roots
        if voc_root is None or sbd_root is None:
            raise SourceError('both --voc and --sbd are needed (or --download)')
        splits = read_source_splits(voc_root, sbd_root, voc2011_root)
        samples, image_source = source_samples(voc_root, sbd_root, voc2011_root, splits)
        return Sources(voc_root, sbd_root, voc2011_root, splits, samples, image_source)

    def validate_sources(self, sources: Sources) -> str:
        """Every listed file exists (with ``check``: decodes and is valid); all problems at once."""
        if self.options.check:
            logger.info(f'checking {len(sources.samples)} listed samples of the sources')
            problems = check_samples(sources.samples, nproc=self.options.nproc)
        else:
            problems = missing_files(sources.samples)
        if problems:
            raise DataPreparationError(
                f'{len(problems)} problem(s) in the sources; nothing was written:', problems)
        return (f'{len(sources.samples)} listed samples '
                f'{"decoded and valid" if self.options.check else "present"}')

    def place_images_and_labels(self, sources: Sources) -> List[str]:
        """``JPEGImages`` and VOC's ``SegmentationClass``, linked or copied."""
        link = self.options.link
        placed = sum(
            place_file(src, osp.join(self.voc_out, IMAGE_DIR, f'{i}.jpg'), link)
            for i, src in sorted(sources.image_source.items()))
        lines = [f'{IMAGE_DIR}: {placed} placed, '
                 f'{len(sources.image_source) - placed} already there']
        voc_ids = sorted(set(sources.splits.voc_train) | set(sources.splits.voc_val))
        placed = sum(
            place_file(osp.join(sources.voc_root, VOC_LABEL_DIR, f'{i}.png'),
                       osp.join(self.voc_out, VOC_LABEL_DIR, f'{i}.png'), link) for i in voc_ids)
        lines.append(f'{VOC_LABEL_DIR}: {placed} placed, {len(voc_ids) - placed} already there')
        return lines

    def convert_sbd_labels(self, sources: Sources) -> str:
        """SBD's ``cls/*.mat`` -> palette PNGs, in parallel; up-to-date ones are kept."""
        nproc = self.options.nproc
        sbd_ids = sorted(set(sources.splits.sbd_train) | set(sources.splits.sbd_val))
        tasks = []
        for i in sbd_ids:
            mat = osp.join(sources.sbd_root, 'cls', f'{i}.mat')
            png = osp.join(self.voc_out, SBD_LABEL_DIR, f'{i}.png')
            if not up_to_date(mat, png):
                tasks.append((mat, png))
        if tasks:
            logger.info(f'converting {len(tasks)} SBD .mat labels to {SBD_LABEL_DIR} '
                        f'({nproc} procs)')
        failures = [p for p in track_tasks(convert_sbd_label, tasks, nproc, 'SBD labels') if p]
        if failures:
            raise DataPreparationError(f'{len(failures)} SBD label(s) could not be converted:',
                                       failures)
        return (f'{SBD_LABEL_DIR}: {len(tasks)} converted, {len(sbd_ids) - len(tasks)} '
                'already up to date')

    def place_aug_labels(self, sources: Sources, lists: Dict[str, List[str]]) -> str:
        """train_aug labels: VOC's own where VOC has one (finer, with void borders), else SBD's."""
        voc_train = set(sources.splits.voc_train)
        placed = 0
        for i in lists['trainaug']:
            src = (osp.join(self.voc_out, VOC_LABEL_DIR, f'{i}.png')
                   if i in voc_train else osp.join(self.voc_out, SBD_LABEL_DIR, f'{i}.png'))
            placed += place_file(src, osp.join(self.voc_out, AUG_LABEL_DIR, f'{i}.png'),
                                 self.options.link)
        return (f'{AUG_LABEL_DIR}: {placed} placed, {len(lists["trainaug"]) - placed} '
                'already there')

    def write_lists(self, lists: Dict[str, List[str]]) -> str:
        for name, ids in lists.items():
            write_split(osp.join(self.voc_out, SPLIT_DIR, f'{name}.txt'), ids)
        return (f'lists written to {osp.join(self.voc_out, SPLIT_DIR)}: '
                + ', '.join(f'{n}.txt' for n in lists))
