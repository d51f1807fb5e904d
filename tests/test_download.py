# Tests of the resumable, md5-checked download against a local HTTP server (Range requests,
# dropped connections, servers that ignore Range), and of prepare_voc --download end to end.
import hashlib
import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mmseg_fcn_voc.data_prep import download as dl
from mmseg_fcn_voc.data_prep.pipeline import PrepareOptions, prepare_voc
from mmseg_fcn_voc.testing.demo_voc import make_demo_voc


class FileServer:
    """A local HTTP server for ``files`` (name -> bytes), honouring ``Range: bytes=N-``.

    ``cut_after[name] = k`` makes the next response for ``name`` stop after k body bytes (the
    connection drops while Content-Length promised more); ``ignore_range`` answers 200 always.
    Every request's path and Range header is recorded.
    """

    def __init__(self, files):
        self.files = dict(files)
        self.cut_after = {}
        self.ignore_range = False
        self.requests = []
        server = self

        class Handler(BaseHTTPRequestHandler):

            def log_message(self, *args):
                pass

            def do_GET(self):
                name = self.path.lstrip('/')
                server.requests.append((name, self.headers.get('Range')))
                if name not in server.files:
                    self.send_error(404)
                    return
                body = server.files[name]
                start = 0
                match = re.match(r'bytes=(\d+)-$', self.headers.get('Range') or '')
                if match and not server.ignore_range:
                    start = int(match.group(1))
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header('Content-Range', f'bytes */{len(body)}')
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header('Content-Range', f'bytes {start}-{len(body) - 1}/{len(body)}')
                else:
                    self.send_response(200)
                self.send_header('Content-Length', str(len(body) - start))
                self.end_headers()
                payload = body[start:]
                cut = server.cut_after.pop(name, None)
                if cut is not None:
                    self.wfile.write(payload[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f'http://127.0.0.1:{self.httpd.server_address[1]}'

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


PAYLOAD = os.urandom(300_000)
MD5 = hashlib.md5(PAYLOAD).hexdigest()


@pytest.fixture
def server():
    srv = FileServer({'archive.tar': PAYLOAD})
    yield srv
    srv.close()


def test_fresh_download(server, tmp_path):
    dest = tmp_path / 'sub' / 'archive.tar'
    seen = []
    dl.download(f'{server.url}/archive.tar', str(dest), MD5,
                progress=lambda done, total: seen.append((done, total)))
    assert dest.read_bytes() == PAYLOAD and not (tmp_path / 'sub' / 'archive.tar.part').exists()
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert dl.file_md5(str(dest)) == MD5


def test_dropped_connection_is_resumed_with_a_range_request(server, tmp_path):
    server.cut_after['archive.tar'] = 100_000
    dest = tmp_path / 'archive.tar'
    dl.download(f'{server.url}/archive.tar', str(dest), MD5, backoff=0)
    assert dest.read_bytes() == PAYLOAD
    assert server.requests == [('archive.tar', None), ('archive.tar', 'bytes=100000-')]


def test_partial_file_of_an_earlier_run_is_resumed(server, tmp_path):
    dest = tmp_path / 'archive.tar'
    (tmp_path / 'archive.tar.part').write_bytes(PAYLOAD[:123_456])
    dl.download(f'{server.url}/archive.tar', str(dest), MD5)
    assert dest.read_bytes() == PAYLOAD
    assert server.requests == [('archive.tar', 'bytes=123456-')]


def test_complete_partial_file(server, tmp_path):
    (tmp_path / 'archive.tar.part').write_bytes(PAYLOAD)  # killed just before the rename
    dl.download(f'{server.url}/archive.tar', str(tmp_path / 'archive.tar'), MD5)
    assert (tmp_path / 'archive.tar').read_bytes() == PAYLOAD  # answered 416: already complete


def test_server_ignoring_range_restarts_from_zero(server, tmp_path):
    server.ignore_range = True
    (tmp_path / 'archive.tar.part').write_bytes(b'x' * 5000)  # garbage that must not be kept
    dl.download(f'{server.url}/archive.tar', str(tmp_path / 'archive.tar'), MD5)
    assert (tmp_path / 'archive.tar').read_bytes() == PAYLOAD


def test_existing_verified_file_is_not_fetched(server, tmp_path):
    (tmp_path / 'archive.tar').write_bytes(PAYLOAD)
    dl.download(f'{server.url}/archive.tar', str(tmp_path / 'archive.tar'), MD5)
    assert server.requests == []


def test_md5_mismatch_deletes_the_download(server, tmp_path):
    dest = tmp_path / 'archive.tar'
    with pytest.raises(dl.DownloadError, match=f'md5 mismatch \\(expected {"0" * 32}, got {MD5}'):
        dl.download(f'{server.url}/archive.tar', str(dest), '0' * 32)
    assert not dest.exists() and not (tmp_path / 'archive.tar.part').exists()


def test_http_errors_and_exhausted_retries(server, tmp_path):
    with pytest.raises(dl.DownloadError, match='HTTP 404'):
        dl.download(f'{server.url}/missing.tar', str(tmp_path / 'm.tar'), MD5, backoff=0)
    assert len(server.requests) == 1  # a 404 is not retried
    server.cut_after['archive.tar'] = 10
    with pytest.raises(dl.DownloadError, match='after 0 retries.*kept and a re-run resumes'):
        dl.download(f'{server.url}/archive.tar', str(tmp_path / 'a.tar'), MD5, retries=0)
    assert (tmp_path / 'a.tar.part').stat().st_size == 10


def test_official_resources_are_complete():
    for key, resource in dl.OFFICIAL_RESOURCES.items():
        assert resource.url.endswith('/' + resource.filename), key
        assert re.fullmatch(r'[0-9a-f]{32}', resource.md5), key
    assert dl.OFFICIAL_RESOURCES['voc2012'].filename == 'VOCtrainval_11-May-2012.tar'
    assert dl.OFFICIAL_RESOURCES['sbd'].filename == 'benchmark.tgz'
    assert dl.OFFICIAL_RESOURCES['voc2011'].filename == 'VOCtrainval_25-May-2011.tar'


@pytest.mark.slow
def test_prepare_voc_downloads_verifies_and_prepares(tmp_path, monkeypatch):
    """--download --mirror on a server holding demo archives under the official names (with the
    official md5s swapped for theirs); a dropped connection on the way is resumed."""
    raw = tmp_path / 'raw'
    splits = make_demo_voc(str(raw), num_images=12, seed=2, archives=True)
    files = {name: (raw / name).read_bytes() for name in
             ('VOCtrainval_11-May-2012.tar', 'benchmark.tgz', 'VOCtrainval_25-May-2011.tar')}
    srv = FileServer(files)
    srv.cut_after['benchmark.tgz'] = 5000
    monkeypatch.setattr(dl, 'OFFICIAL_RESOURCES', {
        key: dl.Resource(r.filename, r.url, hashlib.md5(files[r.filename]).hexdigest())
        for key, r in dl.OFFICIAL_RESOURCES.items()
    })
    monkeypatch.setattr(dl.time, 'sleep', lambda seconds: None)
    out = tmp_path / 'VOCdevkit'
    try:
        result = prepare_voc(
            PrepareOptions(out_dir=str(out), voc2011='', download=True, mirror=srv.url + '/',
                           nproc=1))
    finally:
        srv.close()
    for name, body in files.items():
        assert (out / 'downloads' / name).read_bytes() == body
    assert ('benchmark.tgz', 'bytes=5000-') in srv.requests
    assert result.counts['seg11valid'] == splits.expected_counts()['seg11valid']
    assert result.counts['trainaug'] == splits.expected_counts()['train_aug']
