"""jobs.collection_run.engine_options: the console's settings as the engine's Options."""

from __future__ import annotations

from jobs.collection_run import engine_options


def test_it_reads_and_writes_one_batch_at_a_time_by_default():
    options = engine_options(load_after=False)
    assert (options.writers, options.readers) == (1, 1)


def test_it_passes_the_writers_setting_to_the_engine(settings):
    settings.MIGRATION_WRITERS = 3
    assert engine_options(load_after=True).writers == 3


def test_it_passes_the_readers_setting_to_the_engine(settings):
    settings.MIGRATION_READERS = 4
    assert engine_options(load_after=True).readers == 4
