"""A Flask app whose workers fail on command: GET /work answers 500 in the workers
whose pid is listed in the file named by FAULTY_PIDS_FILE ("all": every worker).

Lets a test make one gunicorn worker recover while another keeps failing.
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask, Response

app = Flask(__name__)


@app.get("/work")
def work() -> Response:
    pid = str(os.getpid())
    failing = Path(os.environ["FAULTY_PIDS_FILE"]).read_text().split()
    status = 500 if pid in failing or "all" in failing else 200
    return Response(pid, status=status, headers={"X-Pid": pid})
