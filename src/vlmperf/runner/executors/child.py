"""A `process` executor child: `python -m vlmperf.runner.executors.child JOB_FILE FD`.

A fresh interpreter started as a module, not through multiprocessing's spawn, so the caller's
`__main__` is never imported again (a script or notebook that calls `vlmperf.api.run` needs no
`if __name__ == "__main__"` guard). It reads its job from the pickle file the parent wrote,
deletes it, and sends every message through the pipe end it inherited as FD.
"""

from __future__ import annotations

import multiprocessing.connection
import pickle
import sys
from pathlib import Path

from vlmperf.runner.executors.messages import run_job


def main(argv: list[str]) -> None:
    job_file, descriptor = Path(argv[1]), int(argv[2])
    connection = multiprocessing.connection.Connection(descriptor, readable=False)
    try:
        job = pickle.loads(job_file.read_bytes())
        job_file.unlink()
        run_job(job, connection.send)
    finally:
        connection.close()


if __name__ == "__main__":
    main(sys.argv)
