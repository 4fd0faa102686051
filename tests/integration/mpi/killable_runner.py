"""A batch runner in its own process, for the test that kills one with SIGKILL.

Run as `python -m tests.integration.mpi.killable_runner TENANT JOB CHUNK_PATIENTS MARKER`
with DATABASE_URL naming the test database. It runs the job like a Celery worker's task
would, except that inside the transaction of its second chunk (after that chunk's writes) it
creates MARKER and then waits to be killed.
"""

import os
import sys
import time
from pathlib import Path
from uuid import UUID


def main() -> None:
    """Run the job; hang in the second chunk's transaction."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from mpi.models import BatchJob
    from mpi.services.batch import batch_job_run

    tenant_id, job_id, chunk_patients, marker = sys.argv[1:5]

    def hang_in_second_chunk(job: BatchJob) -> None:
        if job.chunks == 2:
            Path(marker).write_text(str(os.getpid()), encoding="utf-8")
            time.sleep(300)

    batch_job_run(
        tenant_id=UUID(tenant_id),
        job_id=UUID(job_id),
        chunk_patients=int(chunk_patients),
        after_chunk=hang_in_second_chunk,
    )


if __name__ == "__main__":
    main()
