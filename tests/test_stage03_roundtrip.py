"""The reference migration chain keeps every row of a 10,000-row table through a round trip."""

import time

from checks.engine.subject import Subject
from checks.registry import REPO_ROOT, find_stage
from checks.stage03.conftest import Migrations, insert, sample_rows, stored

STAGE = REPO_ROOT / "solutions" / "03_alembic"


def test_reference_chain_round_trips_10000_rows(database):
    subject = Subject(STAGE, database.url, find_stage("03").modules).start()
    try:
        migrations = Migrations(subject.fork(timeout=300), database.url)
        migrations.upgrade(1)
        insert(migrations, sample_rows(10_000))
        original = stored(migrations)
        assert len(original) == 10_001

        start = time.perf_counter()
        migrations.upgrade()
        assert stored(migrations) == original
        assert migrations.execute("SELECT count(*) FROM users WHERE created_at IS NULL OR NOT is_active")[0][0] == 0
        migrations.downgrade(1)
        assert stored(migrations) == original
        migrations.upgrade()
        print(f"\nupgrade, downgrade to baseline, upgrade again on {len(original)} rows: {time.perf_counter() - start:.2f} s")

        assert stored(migrations) == original
        assert migrations.drift() == []
        migrations.engine.dispose()
    finally:
        subject.close()
