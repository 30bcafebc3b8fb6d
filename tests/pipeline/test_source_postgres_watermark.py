"""The settled watermark of the PostgreSQL source ingest as a pure function (pipeline.source_ingest.settle)."""

from __future__ import annotations

from pipeline.source_ingest import MAX_PENDING, Pending, Probe, Watermark, settle


def test_a_probe_with_no_open_transaction_settles_at_once():
    assert settle(Watermark(), Probe(7)) == Watermark(7)


def test_a_probe_waits_until_every_transaction_it_saw_open_is_gone():
    mark = settle(Watermark(3), Probe(9, frozenset({"vxid:4/10", "vxid:5/2"})))
    assert mark == Watermark(3, (Pending(9, ("vxid:4/10", "vxid:5/2")),))
    still = settle(mark, Probe(12, frozenset({"vxid:5/2", "vxid:6/1"})))
    assert still.settled == 3  # 5/2 is still open
    done = settle(still, Probe(12, frozenset({"vxid:6/1"})))
    assert done == Watermark(9, (Pending(12, ("vxid:6/1",)),))  # the same reach, fewer to wait for
    assert settle(done, Probe(12)) == Watermark(12)


def test_an_empty_table_settles_nothing_and_the_watermark_never_goes_down():
    assert settle(Watermark(), Probe(None, frozenset({"vxid:1/1"}))) == Watermark()
    assert settle(Watermark(20), Probe(15)) == Watermark(20)


def test_a_long_open_transaction_keeps_the_oldest_and_the_newest_probes():
    mark = Watermark()
    for key in range(1, 3 * MAX_PENDING):
        mark = settle(mark, Probe(key, frozenset({"vxid:3/7", f"vxid:9/{key}"})))
    assert len(mark.pending) == MAX_PENDING
    assert mark.pending[0].max_key == 1 and mark.pending[-1].max_key == 3 * MAX_PENDING - 1
    assert settle(mark, Probe(100, frozenset({"vxid:3/7"}))).settled is None  # every probe saw 3/7 open
    assert settle(mark, Probe(100)).settled == 100


def test_the_watermark_reads_back_from_its_json():
    mark = Watermark(5, (Pending(9, ("prepared:a b", "vxid:4/10")),))
    assert Watermark.from_json(mark.to_json()) == mark
