"""myqasr.fileio: complete files or none, pairs replaced together (a failed vocabulary write never costs the user the
model they had), outputs with the user's umask, early one-line checks of output paths."""
import errno
import os
import stat

import pytest

from myqasr import fileio
from myqasr.errors import MyqasrError
from myqasr.fileio import check_output_path, replace_group, write_atomic, write_atomic_group


def listing(d):
    return sorted(p.name for p in d.iterdir())


def disk_full(f):
    f.write(b"partial")
    raise OSError(errno.ENOSPC, "No space left on device")


def fail_rename_to(monkeypatch, name):
    """os.replace fails when its target is `name` (as on a full or read-only file system); other renames work."""
    real = os.replace

    def replace(src, dst):
        if os.path.basename(str(dst)) == name:
            raise OSError(errno.EIO, "Input/output error")
        return real(src, dst)
    monkeypatch.setattr(fileio.os, "replace", replace)


def test_write_atomic_bytes_and_streamed_content(tmp_path):
    p = write_atomic(tmp_path / "a.bin", b"first")
    assert p.read_bytes() == b"first"
    write_atomic(p, lambda f: f.write(b"second"))
    assert p.read_bytes() == b"second" and listing(tmp_path) == ["a.bin"]


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    p = tmp_path / "a.bin"
    p.write_bytes(b"old")
    with pytest.raises(MyqasrError) as e:
        write_atomic(p, disk_full)
    assert "a.bin" in str(e.value) and "No space left" in str(e.value) and "\n" not in str(e.value)
    assert p.read_bytes() == b"old" and listing(tmp_path) == ["a.bin"]
    with pytest.raises(KeyboardInterrupt):                      # Ctrl-C while writing: same, and not swallowed
        write_atomic(p, lambda f: (_ for _ in ()).throw(KeyboardInterrupt()))
    assert p.read_bytes() == b"old" and listing(tmp_path) == ["a.bin"]


def test_outputs_keep_the_users_umask(tmp_path):
    old = os.umask(0o027)
    try:
        p = write_atomic(tmp_path / "a.bin", b"x")
        q, r = write_atomic_group({tmp_path / "b.pte": b"y", tmp_path / "b.vocab.json": b"z"})
    finally:
        os.umask(old)
    for f in (p, q, r):
        assert stat.S_IMODE(f.stat().st_mode) == 0o640, oct(f.stat().st_mode)


def test_pair_second_write_fails_nothing_changes(tmp_path):
    pte, vocab = tmp_path / "m.pte", tmp_path / "m.vocab.json"
    pte.write_bytes(b"old model")
    vocab.write_bytes(b"old vocab")
    with pytest.raises(MyqasrError, match="m.vocab.json"):
        write_atomic_group({pte: b"new model", vocab: disk_full})
    assert pte.read_bytes() == b"old model" and vocab.read_bytes() == b"old vocab"
    assert listing(tmp_path) == ["m.pte", "m.vocab.json"]


def test_pair_rename_fails_after_the_pte_was_replaced_old_pair_restored(tmp_path, monkeypatch):
    """The failure issue 16 describes: the .pte is already renamed into place when the vocabulary rename fails.
    The user keeps the old, working pair."""
    pte, vocab = tmp_path / "m.pte", tmp_path / "m.vocab.json"
    pte.write_bytes(b"old model")
    vocab.write_bytes(b"old vocab")
    fail_rename_to(monkeypatch, "m.vocab.json")
    with pytest.raises(MyqasrError) as e:
        write_atomic_group({pte: b"new model", vocab: b"new vocab"})
    assert "m.vocab.json" in str(e.value) and "cannot write output" in str(e.value)
    assert pte.read_bytes() == b"old model" and vocab.read_bytes() == b"old vocab"
    assert listing(tmp_path) == ["m.pte", "m.vocab.json"]


def test_pair_rename_fails_for_a_new_pair_nothing_is_left(tmp_path, monkeypatch):
    fail_rename_to(monkeypatch, "m.vocab.json")
    with pytest.raises(MyqasrError):
        write_atomic_group({tmp_path / "m.pte": b"new model", tmp_path / "m.vocab.json": b"new vocab"})
    assert listing(tmp_path) == []


def test_replace_group_moves_all_or_restores(tmp_path, monkeypatch):
    """personalize renames the verified candidate pair into place with replace_group."""
    src_pte, src_vocab = tmp_path / ".m.unverified.pte", tmp_path / ".m.unverified.vocab.json"
    pte, vocab = tmp_path / "m.pte", tmp_path / "m.vocab.json"
    for p, text in ((src_pte, b"new model"), (src_vocab, b"new vocab"), (pte, b"old model"), (vocab, b"old vocab")):
        p.write_bytes(text)
    fail_rename_to(monkeypatch, "m.vocab.json")
    with pytest.raises(MyqasrError, match="m.vocab.json"):
        replace_group([(src_pte, pte), (src_vocab, vocab)])
    assert pte.read_bytes() == b"old model" and vocab.read_bytes() == b"old vocab"
    assert listing(tmp_path) == ["m.pte", "m.vocab.json"]              # the candidate is gone too
    monkeypatch.undo()
    src_pte.write_bytes(b"new model")
    src_vocab.write_bytes(b"new vocab")
    replace_group([(src_pte, pte), (src_vocab, vocab)])
    assert pte.read_bytes() == b"new model" and vocab.read_bytes() == b"new vocab"
    assert listing(tmp_path) == ["m.pte", "m.vocab.json"]


def test_check_output_path(tmp_path):
    assert check_output_path(tmp_path / "m.pte", ".pte") == tmp_path / "m.pte"
    cases = [(tmp_path / "m.bin", ".pte", "must be a .pte file"),
             (tmp_path / "nope" / "m.pte", ".pte", "does not exist"),
             (tmp_path, None, "is a directory"),
             ("/proc/m.pte", ".pte", "cannot write")]
    for path, suffix, words in cases:
        with pytest.raises(MyqasrError) as e:
            check_output_path(path, suffix)
        assert words in str(e.value) and "\n" not in str(e.value)
    assert listing(tmp_path) == []                                   # the probe file is gone
