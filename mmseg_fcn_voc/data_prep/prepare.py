# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""The library behind ``tools/dataset_converters/prepare_voc.py``: VOC 2012 + SBD into mmseg's layout.

Output (``out_dir``, by convention ``data/VOCdevkit``, the ``data_root`` of the dataset configs)::

    VOC2012/JPEGImages/<id>.jpg                 every image any list below names
    VOC2012/SegmentationClass/<id>.png          VOC 2012 labels (palette PNGs, 255 borders)
    VOC2012/SegmentationClassSBD/<id>.png       every SBD label (train + val), converted from .mat
    VOC2012/SegmentationClassAug/<id>.png       train_aug labels: VOC's if VOC has one, else SBD's
    VOC2012/ImageSets/Segmentation/
        train.txt, val.txt, trainval.txt        VOC 2012 (1,464 / 1,449 / 2,913)
        aug.txt                                 (SBD train + val) - (VOC train + val) (9,118)
        trainaug.txt                            (VOC train + SBD train + val) - VOC val (10,582)
        sbd_train.txt, sbd_val.txt              SBD's own splits (8,498 / 2,857)
        seg11valid.txt                          VOC 2011 seg val - SBD train (736), with --voc2011
    SBD/                                        the SBD dataset folder (extracted here from
                                                benchmark.tgz, or a link to the given folder):
                                                cls/<id>.mat for configs that read .mat directly
    downloads/                                  archives fetched by --download
    prepare_voc_report.txt                      the report printed at the end

:data:`PREPARED_LISTS` says which label folder goes with each list. The run is idempotent and
resumable: every file is written under a temporary name and renamed when complete; files already in
place (same file, or a newer copy of the same size) are skipped; archives already extracted are not
read again. The counts are compared with the official ones (:data:`OFFICIAL_COUNTS`); a mismatch is
reported (expected on the demo data or a subset) and fails the run only with ``strict_counts``.
"""
import contextlib
import os
import os.path as osp
import shutil
import tarfile
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from fcn_voc_core.fileio import atomic_output, remove_stale_temporaries
from fcn_voc_core.imageio import FileFormatError
from fcn_voc_core.output_guard import check_outputs_apart

from ..datasets.voc_format import read_sbd_mat, read_split, write_split, write_voc_label
from .check import Sample, check_samples, missing_files, run_tasks
from .download import OFFICIAL_RESOURCES, download
from .sources import (
    SBD,
    VOC2011,
    VOC2012,
    SourceError,
    SourceKind,
    extract_archive,
    locate_folder,
    looks_like_archive,
)

VOC_DIR = 'VOC2012'
IMAGE_DIR = 'JPEGImages'
VOC_LABEL_DIR = 'SegmentationClass'
SBD_LABEL_DIR = 'SegmentationClassSBD'
AUG_LABEL_DIR = 'SegmentationClassAug'
SPLIT_DIR = osp.join('ImageSets', 'Segmentation')
SBD_LINK = 'SBD'

#: Every list prepare_voc writes under ``VOC2012/ImageSets/Segmentation`` -> its label folder.
PREPARED_LISTS: Dict[str, str] = OrderedDict([
    ('train.txt', VOC_LABEL_DIR),
    ('val.txt', VOC_LABEL_DIR),
    ('trainval.txt', VOC_LABEL_DIR),
    ('aug.txt', AUG_LABEL_DIR),
    ('trainaug.txt', AUG_LABEL_DIR),
    ('sbd_train.txt', SBD_LABEL_DIR),
    ('sbd_val.txt', SBD_LABEL_DIR),
    ('seg11valid.txt', VOC_LABEL_DIR),
])

#: The counts on the official data, by list name (without ``.txt``).
OFFICIAL_COUNTS: Dict[str, int] = OrderedDict([
    ('train', 1464),
    ('val', 1449),
    ('trainval', 2913),
    ('aug', 9118),
    ('trainaug', 10582),
    ('sbd_train', 8498),
    ('sbd_val', 2857),
    ('seg11valid', 736),
])

LINK_MODES = ('hardlink', 'copy', 'symlink')


class DataPreparationError(RuntimeError):
    """Problems that stop the preparation; ``problems`` lists every one (each names its file)."""

    def __init__(self, summary: str, problems: Sequence[str] = ()) -> None:
        self.summary = summary
        self.problems = list(problems)
        lines = [summary] + [f'  {p}' for p in self.problems]
        super().__init__('\n'.join(lines))


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
        strict_counts: fail when a count differs from :data:`OFFICIAL_COUNTS`.
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


@dataclass
class PrepareResult:
    """Outcome of :func:`prepare_voc`: counts per list, count mismatches and the report lines."""

    out_dir: str
    counts: Dict[str, int]
    mismatches: List[str]
    report: List[str]
    problems: List[str] = field(default_factory=list)


Log = Callable[[str], None]


# --------------------------------------------------------------------------------------------------
# progress and file placement
# --------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _byte_progress(description: str) -> Iterator[Callable[[int, Optional[int]], None]]:
    """A rich progress bar over bytes; yields ``update(done, total)``."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )
    with Progress(
            TextColumn('{task.description}'), BarColumn(), DownloadColumn(),
            TransferSpeedColumn(), TimeRemainingColumn()) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: Optional[int]) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _up_to_date(source: str, dest: str) -> bool:
    """``dest`` is ``source`` itself, or was made from it after its last change."""
    if not osp.exists(dest):
        return False
    if osp.samefile(source, dest):
        return True
    return os.stat(dest).st_mtime_ns >= os.stat(source).st_mtime_ns


def place_file(source: str, dest: str, mode: str = 'hardlink') -> bool:
    """Put ``source`` at ``dest`` (hard link, copy or symlink), atomically; skip if up to date.

    Returns:
        True if ``dest`` was (re)written.
    """
    if mode not in LINK_MODES:
        raise ValueError(f'link mode must be one of {LINK_MODES}, got {mode!r}')
    if _up_to_date(source, dest) and osp.getsize(source) == osp.getsize(dest):
        return False
    with atomic_output(dest) as tmp:
        if mode == 'symlink':
            os.symlink(osp.abspath(source), tmp)
        elif mode == 'hardlink':
            try:
                os.link(source, tmp)
            except OSError:  # another file system, or links not supported: copy
                shutil.copy2(source, tmp)
        else:
            shutil.copy2(source, tmp)
    return True


def _convert_task(task: Tuple[str, str]) -> Optional[str]:
    """Convert one SBD ``.mat`` label to a palette PNG; return the problem, or None."""
    mat, png = task
    try:
        write_voc_label(png, read_sbd_mat(mat))
    except FileFormatError as e:
        return str(e)
    except OSError as e:
        return f'{png}: cannot write: {e}'
    return None


# --------------------------------------------------------------------------------------------------
# sources
# --------------------------------------------------------------------------------------------------
def _fetch(kind: SourceKind, path: Optional[str], options: PrepareOptions, log: Log) -> str:
    """Download the official archive of ``kind``; return its local path."""
    resource = OFFICIAL_RESOURCES[kind.name]
    if path and looks_like_archive(path):
        dest = path
    elif path:
        dest = osp.join(path, resource.filename)
    else:
        dest = osp.join(options.download_dir or osp.join(options.out_dir, 'downloads'),
                        resource.filename)
    url = (options.mirror.rstrip('/') + '/' + resource.filename) if options.mirror else resource.url
    log(f'downloading {url} -> {dest} (md5 {resource.md5})')
    with _byte_progress(resource.filename) as update:
        download(url, dest, md5=resource.md5, progress=update)
    return dest


def _materialise(kind: SourceKind, path: Optional[str], options: PrepareOptions,
                 log: Log) -> Optional[str]:
    """Turn a source argument into a data root folder (downloading / extracting as needed)."""
    wanted = path is not None
    if path == '' and not options.download:
        raise SourceError(f'{kind.title}: no path given; pass one, or --download to fetch it')
    if options.download and (not path or not osp.exists(path)) and (wanted or kind is not VOC2011):
        path = _fetch(kind, path, options, log)
    if not path:
        return None
    if osp.isfile(path):
        if not tarfile.is_tarfile(path):
            raise SourceError(f'{path}: not a tar archive (expected {kind.title} or its folder)')
        with _byte_progress(f'extracting {osp.basename(path)}') as update:
            root, written, skipped = extract_archive(kind, path, options.out_dir, update)
        state = (f'{written} files extracted, {skipped} already there'
                 if written or skipped else 'already extracted')
        log(f'{kind.title}: {path} -> {root} ({state})')
        return root
    if osp.isdir(path):
        root = locate_folder(kind, path)
        log(f'{kind.title}: folder {root}')
        return root
    hint = '' if options.download else ' (or pass --download to fetch it)'
    raise SourceError(f'{path}: not found; give {kind.title} or the folder it extracts to{hint}')


# --------------------------------------------------------------------------------------------------
# the preparation
# --------------------------------------------------------------------------------------------------
@dataclass
class SourceSplits:
    """The split files of the sources (``voc2011_val`` is None without VOC 2011)."""

    voc_train: List[str]
    voc_val: List[str]
    sbd_train: List[str]
    sbd_val: List[str]
    voc2011_val: Optional[List[str]] = None


def derive_lists(splits: SourceSplits) -> Dict[str, List[str]]:
    """Every list prepare_voc writes, by name (without ``.txt``), from the source splits.

    ``train``/``val``/``sbd_train``/``sbd_val`` are the sources' lists; ``trainval`` their VOC
    union; ``aug`` = (SBD train + SBD val) - (VOC train + VOC val); ``trainaug`` = (VOC train + SBD
    train + SBD val) - VOC val; ``seg11valid`` = VOC 2011 val - SBD train (in VOC 2011's order),
    only with VOC 2011. Derived lists are sorted.
    """
    voc_train, voc_val = set(splits.voc_train), set(splits.voc_val)
    sbd_all = set(splits.sbd_train) | set(splits.sbd_val)
    lists = OrderedDict([
        ('train', list(splits.voc_train)),
        ('val', list(splits.voc_val)),
        ('trainval', sorted(voc_train | voc_val)),
        ('aug', sorted(sbd_all - voc_train - voc_val)),
        ('trainaug', sorted((voc_train | sbd_all) - voc_val)),
        ('sbd_train', list(splits.sbd_train)),
        ('sbd_val', list(splits.sbd_val)),
    ])
    if splits.voc2011_val is not None:
        sbd_train = set(splits.sbd_train)
        lists['seg11valid'] = [i for i in splits.voc2011_val if i not in sbd_train]
    return lists


def _read_splits(voc_root: str, sbd_root: str, voc2011_root: Optional[str]) -> SourceSplits:
    problems = []

    def read(path: str) -> List[str]:
        try:
            return read_split(path)
        except FileFormatError as e:
            problems.append(str(e))
            return []

    splits = SourceSplits(
        voc_train=read(osp.join(voc_root, SPLIT_DIR, 'train.txt')),
        voc_val=read(osp.join(voc_root, SPLIT_DIR, 'val.txt')),
        sbd_train=read(osp.join(sbd_root, 'train.txt')),
        sbd_val=read(osp.join(sbd_root, 'val.txt')),
        voc2011_val=read(osp.join(voc2011_root, SPLIT_DIR, 'val.txt')) if voc2011_root else None)
    if problems:
        raise DataPreparationError('cannot read the split files:', problems)
    return splits


def _source_samples(voc_root: str, sbd_root: str, voc2011_root: Optional[str],
                    splits: SourceSplits) -> Tuple[List[Sample], Dict[str, str]]:
    """Every listed sample of the sources, and where each image comes from."""
    image_source: Dict[str, str] = {}

    def image_of(image_id: str) -> str:
        if image_id not in image_source:
            voc_image = osp.join(voc_root, IMAGE_DIR, f'{image_id}.jpg')
            sbd_image = osp.join(sbd_root, 'img', f'{image_id}.jpg')
            image_source[image_id] = (
                voc_image if osp.isfile(voc_image) or not osp.isfile(sbd_image) else sbd_image)
        return image_source[image_id]

    samples = []
    for name, ids in (('train.txt', splits.voc_train), ('val.txt', splits.voc_val)):
        split_file = osp.join(voc_root, SPLIT_DIR, name)
        samples += [
            Sample(split_file, i, image_of(i), osp.join(voc_root, VOC_LABEL_DIR, f'{i}.png'))
            for i in ids
        ]
    for name, ids in (('train.txt', splits.sbd_train), ('val.txt', splits.sbd_val)):
        split_file = osp.join(sbd_root, name)
        samples += [
            Sample(split_file, i, image_of(i), osp.join(sbd_root, 'cls', f'{i}.mat')) for i in ids
        ]
    if voc2011_root is not None:
        # seg11valid is scored against the VOC 2012 copies of the VOC 2011 val labels
        split_file = osp.join(voc2011_root, SPLIT_DIR, 'val.txt')
        sbd_train = set(splits.sbd_train)
        samples += [
            Sample(split_file, i, image_of(i), osp.join(voc_root, VOC_LABEL_DIR, f'{i}.png'))
            for i in splits.voc2011_val if i not in sbd_train
        ]
    return samples, image_source


def compare_counts(counts: Dict[str, int]) -> Tuple[List[str], List[str]]:
    """Compare list sizes with :data:`OFFICIAL_COUNTS`; return the table lines and mismatches."""
    lines = [f'  {"list":<16}{"count":>8}{"official":>10}']
    mismatches = []
    for name, count in counts.items():
        official = OFFICIAL_COUNTS.get(name)
        status = 'ok' if count == official else 'MISMATCH'
        lines.append(f'  {name + ".txt":<16}{count:>8}{official:>10}  {status}')
        if count != official:
            mismatches.append(f'{name}.txt has {count} ids, the official data has {official}')
    return lines, mismatches


def _finish(options: PrepareOptions, counts: Dict[str, int], report: List[str], log: Log,
            problems: Sequence[str] = ()) -> PrepareResult:
    count_table, mismatches = compare_counts(counts)
    report += ['counts:'] + count_table
    if mismatches:
        report.append(f'WARNING: {len(mismatches)} count(s) differ from the official data '
                      '(expected on the demo data or a subset)' +
                      ('' if options.strict_counts else '; --strict-counts makes this an error'))
    for line in report:
        log(line)
    os.makedirs(options.out_dir, exist_ok=True)
    write_split(osp.join(options.out_dir, 'prepare_voc_report.txt'), report)
    result = PrepareResult(options.out_dir, counts, mismatches, report, list(problems))
    if problems:
        raise DataPreparationError(f'{len(problems)} problem(s) found:', problems)
    if mismatches and options.strict_counts:
        raise DataPreparationError('counts differ from the official data (--strict-counts):',
                                   mismatches)
    return result


def check_prepared(options: PrepareOptions, log: Log = print) -> PrepareResult:
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
    log(f'checking {len(samples)} listed samples of {options.out_dir}')
    problems = check_samples(samples, nproc=options.nproc)
    report = [f'checked {options.out_dir}: {len(problems)} problem(s)']
    return _finish(options, counts, report, log, problems)


def prepare_voc(options: PrepareOptions, log: Log = print) -> PrepareResult:
    """Prepare VOC 2012 + SBD (+ VOC 2011) in mmseg's layout (see the module docstring), as the
    named steps of :class:`VOCPreparation`.

    Raises:
        SourceError: a source is missing or not what it should be.
        DataPreparationError: listed files missing, undecodable or invalid (all of them listed),
            conversion failures, or (with ``strict_counts``) counts differing from the official
            ones.
    """
    if options.link not in LINK_MODES:
        raise ValueError(f'link must be one of {LINK_MODES}, got {options.link!r}')
    if options.voc is None and options.sbd is None and not options.download:
        if options.check:
            return check_prepared(options, log)
        raise SourceError('give --voc and --sbd (archives or folders), or --download')
    check_sources_apart(options)
    return VOCPreparation(options, log).run()


def check_sources_apart(options: PrepareOptions) -> None:
    """Refuse an output folder that is, contains or lies inside a given source (the folder of an
    extracted dataset, or an archive), before anything is read or written: placing files and
    writing lists there would rewrite the user's dataset. Archives in the download folder are the
    command's own (``--download`` put them there) and may lie inside ``out_dir``."""
    download_dir = osp.realpath(options.download_dir or osp.join(options.out_dir, 'downloads'))
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


class VOCPreparation:
    """The steps of :func:`prepare_voc` from sources; each returns the report line(s) of what it
    did, and nothing is written before :meth:`validate_sources` passed."""

    def __init__(self, options: PrepareOptions, log: Log = print):
        self.options, self.log = options, log
        self.voc_out = osp.join(options.out_dir, VOC_DIR)

    def run(self) -> PrepareResult:
        report = [self.clean_temporaries()]
        report += self.locate_sources()
        report.append(self.validate_sources())
        report += self.place_images_and_labels()
        report.append(self.convert_sbd_labels())
        lists = derive_lists(self.splits)
        report.append(self.place_aug_labels(lists))
        report.append(self.write_lists(lists))
        report.append(_link_sbd(self.sbd_root, self.options.out_dir))
        counts = OrderedDict((name, len(ids)) for name, ids in lists.items())
        return _finish(self.options, counts, report, self.log)

    def clean_temporaries(self) -> str:
        """Remove what an interrupted run left under temporary names (creates nothing: a run
        whose sources are missing leaves no output folder behind)."""
        out_dir = self.options.out_dir
        removed = sum(remove_stale_temporaries(osp.join(self.voc_out, sub))
                      for sub in (IMAGE_DIR, VOC_LABEL_DIR, SBD_LABEL_DIR, AUG_LABEL_DIR,
                                  SPLIT_DIR))
        removed += sum(remove_stale_temporaries(osp.join(out_dir, sub))
                       for sub in ('SBD/cls', 'SBD/img', 'SBD', osp.join('VOC2011', SPLIT_DIR),
                                   'downloads'))
        return f'temporaries of an interrupted run removed: {removed}'

    def locate_sources(self) -> List[str]:
        """Extract (or download) the sources and read their split lists."""
        o = self.options
        self.voc_root = _materialise(VOC2012, o.voc, o, self.log)
        self.sbd_root = _materialise(SBD, o.sbd, o, self.log)
        self.voc2011_root = _materialise(VOC2011, o.voc2011, o, self.log)
        if self.voc_root is None or self.sbd_root is None:
            raise SourceError('both --voc and --sbd are needed (or --download)')
        self.splits = _read_splits(self.voc_root, self.sbd_root, self.voc2011_root)
        self.samples, self.image_source = _source_samples(self.voc_root, self.sbd_root,
                                                          self.voc2011_root, self.splits)
        return [f'VOC 2012: {self.voc_root}', f'SBD: {self.sbd_root}',
                f'VOC 2011: {self.voc2011_root}' if self.voc2011_root else
                'VOC 2011: not given, so seg11valid.txt is not written (pass --voc2011)']

    def validate_sources(self) -> str:
        """Every listed file exists (with ``check``: decodes and is valid); all problems at once."""
        if self.options.check:
            self.log(f'checking {len(self.samples)} listed samples of the sources')
            problems = check_samples(self.samples, nproc=self.options.nproc)
        else:
            problems = missing_files(self.samples)
        if problems:
            raise DataPreparationError(
                f'{len(problems)} problem(s) in the sources; nothing was written:', problems)
        return (f'{len(self.samples)} listed samples '
                f'{"decoded and valid" if self.options.check else "present"}')

    def place_images_and_labels(self) -> List[str]:
        """``JPEGImages`` and VOC's ``SegmentationClass``, linked or copied."""
        link = self.options.link
        placed = sum(
            place_file(src, osp.join(self.voc_out, IMAGE_DIR, f'{i}.jpg'), link)
            for i, src in sorted(self.image_source.items()))
        lines = [f'{IMAGE_DIR}: {placed} placed, {len(self.image_source) - placed} already there']
        voc_ids = sorted(set(self.splits.voc_train) | set(self.splits.voc_val))
        placed = sum(
            place_file(
                osp.join(self.voc_root, VOC_LABEL_DIR, f'{i}.png'),
                osp.join(self.voc_out, VOC_LABEL_DIR, f'{i}.png'), link) for i in voc_ids)
        lines.append(f'{VOC_LABEL_DIR}: {placed} placed, {len(voc_ids) - placed} already there')
        return lines

    def convert_sbd_labels(self) -> str:
        """SBD's ``cls/*.mat`` -> palette PNGs, in parallel; up-to-date ones are kept."""
        nproc = self.options.nproc
        sbd_ids = sorted(set(self.splits.sbd_train) | set(self.splits.sbd_val))
        tasks = []
        for i in sbd_ids:
            mat = osp.join(self.sbd_root, 'cls', f'{i}.mat')
            png = osp.join(self.voc_out, SBD_LABEL_DIR, f'{i}.png')
            if not _up_to_date(mat, png):
                tasks.append((mat, png))
        if tasks:
            self.log(f'converting {len(tasks)} SBD .mat labels to {SBD_LABEL_DIR} ({nproc} procs)')
        failures = [p for p in run_tasks(_convert_task, tasks, nproc) if p]
        if failures:
            raise DataPreparationError(f'{len(failures)} SBD label(s) could not be converted:',
                                       failures)
        return (f'{SBD_LABEL_DIR}: {len(tasks)} converted, {len(sbd_ids) - len(tasks)} '
                'already up to date')

    def place_aug_labels(self, lists: Dict[str, List[str]]) -> str:
        """train_aug labels: VOC's own where VOC has one (finer, with void borders), else SBD's."""
        voc_train = set(self.splits.voc_train)
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


def _link_sbd(sbd_root: str, out_dir: str) -> str:
    """Make ``out_dir/SBD`` the SBD dataset folder (for configs that read ``.mat`` directly)."""
    link = osp.join(out_dir, SBD_LINK)
    if osp.abspath(sbd_root) == osp.abspath(link):
        return f'{SBD_LINK}/: SBD extracted here (cls/*.mat for LoadSBDAnnotations configs)'
    if osp.exists(link) and not osp.islink(link):
        if osp.samefile(link, sbd_root):
            return f'{SBD_LINK}/: is the given SBD folder'
        return (f'WARNING: {link} is a folder, not a link to {sbd_root}; configs that read SBD '
                '.mat labels directly read that folder')
    with atomic_output(link) as tmp:
        os.symlink(osp.abspath(sbd_root), tmp)
    return f'{SBD_LINK} -> {osp.abspath(sbd_root)} (cls/*.mat for LoadSBDAnnotations configs)'
