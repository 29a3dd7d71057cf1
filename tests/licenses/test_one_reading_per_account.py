"""One document read at a time per account: the lease held in the database (webapp.licenses.reading)
and with_text(), which takes it around the reading and raises ReadingBusy while another holds it."""
import threading
from datetime import datetime, timedelta

import pytest

from webapp.cli.demo import demo_pdf
from webapp.extensions import db
from webapp.licenses import reading
from webapp.licenses.document_text import READ, Limits
from webapp.licenses.models import DocumentReading
from webapp.licenses.proofs import ReadingBusy, Upload, with_text

LIMITS = Limits(pages=10, chars=100_000, seconds=30, memory_bytes=512 * 1024 * 1024)
T0 = datetime(2030, 1, 1, 12, 0, 0)
LEASE = timedelta(seconds=7)


def leases():
    return list(DocumentReading.select(DocumentReading.account, DocumentReading.holder).tuples())


def test_a_second_reading_of_the_same_account_is_refused_and_another_account_goes_ahead(app, make_account):
    first, second = make_account("Northwind"), make_account("Contoso")
    with db.database.connection_context():
        holder = reading.take(first.id, LEASE, now=T0)
        with pytest.raises(ReadingBusy) as busy:
            reading.take(first.id, LEASE, now=T0 + timedelta(seconds=2))
        assert busy.value.wait == timedelta(seconds=5)
        other = reading.take(second.id, LEASE, now=T0 + timedelta(seconds=2))
        # The refused try changed nothing: the first reading still holds its lease.
        assert sorted(leases()) == sorted([(first.id, holder), (second.id, other)])


def test_a_released_lease_can_be_taken_again_and_only_its_holder_releases_it(app, account):
    with db.database.connection_context():
        holder = reading.take(account.id, LEASE, now=T0)
        reading.release(account.id, "not-the-holder")
        assert leases() == [(account.id, holder)]
        reading.release(account.id, holder)
        assert leases() == []
        reading.take(account.id, LEASE, now=T0 + timedelta(seconds=1))


def test_the_lease_of_a_killed_worker_runs_out_on_its_own(app, account):
    # Taken, never released (the worker holding it was killed): refused until it runs out, then taken over.
    with db.database.connection_context():
        reading.take(account.id, LEASE, now=T0)
        with pytest.raises(ReadingBusy):
            reading.take(account.id, LEASE, now=T0 + LEASE - timedelta(microseconds=1))
        taken_over = reading.take(account.id, LEASE, now=T0 + LEASE)
        assert leases() == [(account.id, taken_over)]
        # The killed worker's late release (if it ever came) no longer frees the new reading's lease.


def test_the_lease_lasts_the_reading_time_limit_and_a_little_more():
    assert reading.lease_length(2) == timedelta(seconds=2) + reading.LEASE_SLACK
    assert reading.LEASE_SLACK <= timedelta(seconds=10)


def test_of_many_readings_started_at_once_exactly_one_takes_the_lease(app, account):
    tries = 8
    start, outcomes = threading.Barrier(tries), []

    def try_to_take():
        with db.database.connection_context():
            start.wait()
            try:
                outcomes.append(reading.take(account.id, LEASE))
            except ReadingBusy:
                outcomes.append(None)

    threads = [threading.Thread(target=try_to_take) for _ in range(tries)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    taken = [holder for holder in outcomes if holder is not None]
    assert len(outcomes) == tries and len(taken) == 1
    with db.database.connection_context():
        assert leases() == [(account.id, taken[0])]


def test_with_text_refuses_while_another_document_of_the_account_is_read(app, make_account):
    busy_account, other_account = make_account("Northwind"), make_account("Contoso")
    upload = Upload(demo_pdf("Office 365 E3"), "application/pdf", "proof.pdf")
    with db.database.connection_context():
        with reading.one_at_a_time(busy_account.id, LIMITS.seconds):
            with pytest.raises(ReadingBusy):
                with_text(upload, LIMITS, busy_account.id)
            # Another account's upload is read meanwhile.
            assert with_text(upload, LIMITS, other_account.id).text.status == READ
        assert leases() == []
        # Once the other reading ended, the account's upload is read, and its lease is gone after.
        assert with_text(upload, LIMITS, busy_account.id).text.status == READ
        assert leases() == []


def test_a_reading_that_fails_still_releases_the_lease(app, account):
    upload = Upload(b"%PDF-1.7\nnot really", "application/pdf", "proof.pdf")
    with db.database.connection_context():
        assert with_text(upload, LIMITS, account.id).text.status != READ
        assert leases() == []
        with pytest.raises(RuntimeError):
            with reading.one_at_a_time(account.id, LIMITS.seconds):
                raise RuntimeError("the worker's request failed mid-reading")
        assert leases() == []
