"""The workspace's store of generated captions: what it keeps, what it keys by, and that it never breaks an answer."""

from __future__ import annotations

from pathlib import Path

from sleeplm.index.caption_store import STORE_NAME, CaptionStore

KEY = ("model-sha", "file-sha", 12, "cardiac", 64)


def test_a_saved_caption_is_found_by_its_key(tmp_path: Path) -> None:
    store = CaptionStore.in_workspace(tmp_path)
    assert store.put_many({KEY: "heart rate of 61 bpm"})
    assert (tmp_path / STORE_NAME).is_file()
    assert CaptionStore.in_workspace(tmp_path).get_many([KEY]) == {KEY: "heart rate of 61 bpm"}


def test_another_file_digest_weights_epoch_track_or_length_is_another_caption(tmp_path: Path) -> None:
    store = CaptionStore.in_workspace(tmp_path)
    store.put_many({KEY: "heart rate of 61 bpm"})
    others = [("other-model", *KEY[1:]), (KEY[0], "changed-file", *KEY[2:]), (*KEY[:2], 13, *KEY[3:]),
              (*KEY[:3], "brain", KEY[4]), (*KEY[:4], 32)]
    assert store.get_many(others) == {}


def test_a_key_already_stored_keeps_its_first_text(tmp_path: Path) -> None:
    store = CaptionStore.in_workspace(tmp_path)
    store.put_many({KEY: "first"})
    store.put_many({KEY: "second"})
    assert store.get_many([KEY]) == {KEY: "first"} and store.count() == 1


def test_no_store_yet_reads_as_empty(tmp_path: Path) -> None:
    store = CaptionStore.in_workspace(tmp_path)
    assert store.get_many([KEY]) == {} and store.count() == 0
    assert not (tmp_path / STORE_NAME).exists()  # reading creates nothing


def test_a_workspace_that_cannot_be_written_loses_the_saving_not_the_answer(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the workspace folder should be")  # unwritable even for root
    store = CaptionStore.in_workspace(blocked)
    assert store.put_many({KEY: "x"}) is False
    assert store.get_many([KEY]) == {}


def test_a_damaged_store_file_loses_the_saving_not_the_answer(tmp_path: Path) -> None:
    (tmp_path / STORE_NAME).write_bytes(b"this is not a database" * 100)
    store = CaptionStore.in_workspace(tmp_path)
    assert store.get_many([KEY]) == {}
    assert store.put_many({KEY: "x"}) is False
