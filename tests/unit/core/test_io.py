"""The file helpers every stage reads and writes through: outputs get a new file's usual mode, and bytes
that are not UTF-8 are an error naming the file and line."""

import gzip
import os
import stat

import pytest

from tft_utils.core.io import DataError, numbered_jsonl, read_json, write_json, write_jsonl


def test_outputs_are_readable_by_others_as_a_new_file_would_be(tmp_path):
    old = os.umask(0o022)
    try:
        for path in (
            write_json(tmp_path / "a.json", {"a": 1}),
            write_jsonl(tmp_path / "b.jsonl", [{"b": 2}]),
        ):
            assert stat.S_IMODE(path.stat().st_mode) == 0o644, path  # mkstemp alone gives 0600
    finally:
        os.umask(old)


def test_bytes_that_are_not_utf8_name_the_file_and_line(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"a": 1}\n\n{"b": "caf\xe9"}\n')
    with pytest.raises(DataError, match=r"rows\.jsonl:3: not UTF-8 text \(byte 10 of the line"):
        list(numbered_jsonl(path))
    gz = tmp_path / "rows.jsonl.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    with pytest.raises(DataError, match=r"rows\.jsonl\.gz:3: not UTF-8 text"):
        list(numbered_jsonl(gz))
    js = tmp_path / "tools.json"
    js.write_bytes(b'["caf\xe9"]')
    with pytest.raises(DataError, match=r"tools\.json: not UTF-8 text \(byte 5"):
        read_json(js)
    path.write_bytes('{"a": "café"}\r\n'.encode())  # UTF-8 and a Windows line ending: read as it is
    assert [r for _, r in numbered_jsonl(path)] == [{"a": "café"}]
